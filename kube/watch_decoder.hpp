// Pure framing of a Kubernetes watch body: a stream of JSON objects
// {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}} separated by newlines.
// Framed by JSON, never by HTTP chunk: a chunk may hold several events and an event may span
// many chunks. No I/O; the HTTP layer feeds it whatever bytes arrive.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include <boost/json.hpp>

namespace kcr::kube {

enum class watch_event_type { added, modified, deleted, bookmark, error };

/// "ADDED", "MODIFIED", ...
std::string_view to_string(watch_event_type t);

struct watch_event {
  watch_event_type type = watch_event_type::added;
  /// The object (for ERROR: a Status object).
  boost::json::object object;

  /// metadata.resourceVersion of the object; empty if absent.
  std::string resource_version() const;
  /// A BOOKMARK annotated k8s.io/initial-events-end: "true" (end of the synthetic ADDED burst).
  bool initial_events_end() const;
  /// For ERROR events: the Status code (0 if absent), reason and message.
  int status_code() const;
  std::string status_reason() const;
  std::string status_message() const;
  /// ERROR with 410 / Expired / Gone: the resource version is too old, relist.
  bool is_expired() const;
};

class watch_decoder {
public:
  watch_decoder();
  using handler = std::function<void(watch_event&&)>;

  /// Feeds the next bytes of the body; calls `on_event` for every event completed by them, in
  /// order. Throws transport_error on malformed JSON or a malformed event (the stream is then
  /// unusable; call reset() before reusing the decoder on a new stream).
  void feed(std::string_view data, const handler& on_event);

  /// True while a started event has not been completed (a cut-off stream loses it).
  bool mid_event() const { return in_value_; }
  std::size_t events() const { return events_; }
  void reset();

private:
  boost::json::stream_parser parser_;
  bool in_value_ = false;
  std::size_t events_ = 0;
};

/// Converts one decoded JSON value into an event; throws transport_error if it is not one.
watch_event to_watch_event(boost::json::value&& v);

} // namespace kcr::kube
