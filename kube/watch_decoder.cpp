// Watch body framing on boost::json::stream_parser. See watch_decoder.hpp.
#include "kube/watch_decoder.hpp"

#include "kube/api_error.hpp"

namespace kcr::kube {

namespace json = boost::json;

std::string_view to_string(watch_event_type t) {
  switch (t) {
  case watch_event_type::added:
    return "ADDED";
  case watch_event_type::modified:
    return "MODIFIED";
  case watch_event_type::deleted:
    return "DELETED";
  case watch_event_type::bookmark:
    return "BOOKMARK";
  case watch_event_type::error:
    return "ERROR";
  }
  return "?";
}

namespace {

// Each event is parsed into its own arena: one allocation per block instead of one per key and
// string (a 5000-node ConfigMap is 30000 of each). The event's objects share ownership of the
// arena, so it lives exactly as long as they do.
json::storage_ptr event_arena() {
  return json::make_shared_resource<json::monotonic_resource>();
}

const json::object* sub(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_object() ? &it->value().get_object() : nullptr;
}

std::string str(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_string() ? std::string(it->value().get_string())
                                                  : std::string();
}

} // namespace

std::string watch_event::resource_version() const {
  auto md = sub(object, "metadata");
  return md ? str(*md, "resourceVersion") : std::string();
}

bool watch_event::initial_events_end() const {
  if (type != watch_event_type::bookmark)
    return false;
  auto md = sub(object, "metadata");
  auto ann = md ? sub(*md, "annotations") : nullptr;
  return ann && str(*ann, "k8s.io/initial-events-end") == "true";
}

int watch_event::status_code() const {
  auto it = object.find("code");
  if (it != object.end() && it->value().is_int64())
    return static_cast<int>(it->value().get_int64());
  return 0;
}

std::string watch_event::status_reason() const {
  return str(object, "reason");
}
std::string watch_event::status_message() const {
  return str(object, "message");
}

bool watch_event::is_expired() const {
  if (type != watch_event_type::error)
    return false;
  auto r = status_reason();
  return status_code() == 410 || r == "Expired" || r == "Gone";
}

watch_event to_watch_event(json::value&& v) {
  if (!v.is_object())
    throw transport_error("watch stream: an event is not a JSON object");
  auto& o = v.get_object();
  auto t = str(o, "type");
  auto it = o.find("object");
  if (it == o.end() || !it->value().is_object())
    throw transport_error("watch stream: " + (t.empty() ? std::string("an") : t) +
                          " event without an object");
  // Move-constructed, so the object keeps the arena it was parsed into (an assignment to a
  // default-constructed object would copy it element by element).
  watch_event ev{watch_event_type::added, json::object(std::move(it->value().get_object()))};
  if (t == "ADDED")
    ev.type = watch_event_type::added;
  else if (t == "MODIFIED")
    ev.type = watch_event_type::modified;
  else if (t == "DELETED")
    ev.type = watch_event_type::deleted;
  else if (t == "BOOKMARK")
    ev.type = watch_event_type::bookmark;
  else if (t == "ERROR")
    ev.type = watch_event_type::error;
  else
    throw transport_error("watch stream: unknown event type \"" + t + "\"");
  return ev;
}

watch_decoder::watch_decoder() {
  parser_.reset(event_arena());
}

void watch_decoder::feed(std::string_view data, const handler& on_event) {
  while (!data.empty()) {
    if (!in_value_) {
      // Events are separated by newlines; skip any whitespace between them.
      size_t i = 0;
      while (i < data.size() &&
             (data[i] == '\n' || data[i] == '\r' || data[i] == ' ' || data[i] == '\t'))
        ++i;
      data.remove_prefix(i);
      if (data.empty())
        return;
      // Only objects are events; refusing anything else early also means a bare number (whose
      // end the parser cannot see without more input) never stalls the stream.
      if (data.front() != '{')
        throw transport_error("watch stream: expected '{' at the start of an event, got '" +
                              std::string(1, data.front()) + "'");
      in_value_ = true;
    }
    boost::system::error_code ec;
    std::size_t used = parser_.write_some(data.data(), data.size(), ec);
    if (ec)
      throw transport_error("watch stream: invalid JSON: " + ec.message());
    data.remove_prefix(used);
    if (parser_.done()) {
      json::value v = parser_.release();
      parser_.reset(event_arena());
      in_value_ = false;
      ++events_;
      on_event(to_watch_event(std::move(v)));
    } else if (used == 0) {
      throw transport_error("watch stream: JSON parser made no progress");
    }
  }
}

void watch_decoder::reset() {
  parser_.reset(event_arena());
  in_value_ = false;
}

} // namespace kcr::kube
