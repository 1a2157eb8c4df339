// event_recorder: posts Kubernetes Events about Nodes through an event_port, deduplicated the way
// client-go's event correlator does it: the first occurrence of (node, reason, message) is a new
// Event; a repeat within the dedup window raises the count of that Event (PATCH) instead.
// Events are best effort: a failure is logged as a warning and dropped, never retried, so a
// broken API never holds up other work. Blocking port calls: production spawns it detached.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include <caf/actor_clock.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/interfaces.hpp"
#include "actors/ports.hpp"
#include "actors/telemetry.hpp"

namespace kcr::actors {

/// Default number of distinct (node, reason, message) keys remembered (client-go: 4096).
inline constexpr size_t event_cache_capacity = 4096;
/// A repeat later than this after the previous occurrence starts a new Event.
inline constexpr std::chrono::minutes event_dedup_window{10};
/// Events are best effort and must not crowd out the ConfigMap write: a cold start of 5000 nodes
/// would otherwise be 5000 POSTs. A token bucket allows bursts of this many, refilled at
/// event_rate per second; the rest are dropped (counted as events_total{type="dropped"}).
inline constexpr double event_burst = 50;
inline constexpr double event_rate = 10;

struct event_recorder_state {
  static inline const char* name = "event_recorder";
  using time_point = caf::actor_clock::time_point;
  using key_type = std::tuple<std::string, std::string, std::string>; // node, reason, message

  struct cached {
    event_record event; // as the server returned it (name, count)
    time_point last{};  // local time of the last occurrence
    std::list<key_type>::iterator lru;
  };

  std::shared_ptr<event_port> port;
  std::shared_ptr<telemetry> tel;
  size_t capacity = event_cache_capacity;

  std::map<key_type, cached> cache;
  std::list<key_type> lru; // least recently used first

  double tokens = event_burst;
  std::optional<time_point> refilled; // when the bucket was last topped up
  size_t dropped = 0;

  /// Takes a token; false when the rate limit says drop.
  bool admit(time_point now);

  void record(const node_event& e, time_point now);

private:
  void post(const key_type& key, const node_event& e, time_point now);
  void touch(cached& c);
};

/// Longest metadata.name the API server accepts (a DNS subdomain).
inline constexpr size_t event_name_limit = 253;

/// The Event name `<object>.<suffix>` (client-go's shape). When that passes event_name_limit (a
/// Node name of ~236+ characters), the object part is cut and a hash of the whole object name
/// appended, so two long names with a common prefix still get distinct Events; the result stays
/// a valid DNS subdomain. The Event's involvedObject keeps naming the full object.
std::string event_name(std::string_view object, std::string_view suffix);

/// Spawn: `sys.spawn(event_recorder, port, tel, event_cache_capacity)` (detached in production).
event_recorder_actor::behavior_type
event_recorder(event_recorder_actor::stateful_pointer<event_recorder_state> self,
               std::shared_ptr<event_port> port, std::shared_ptr<telemetry> tel,
               size_t cache_capacity);

} // namespace kcr::actors
