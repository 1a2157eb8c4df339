// event_recorder: see event_recorder.hpp.
#include "actors/event_recorder.hpp"

#include <cstdio>

#include <spdlog/spdlog.h>

namespace kcr::actors {

namespace {

const char* type_of(bool warning) {
  return warning ? "Warning" : "Normal";
}

// FNV-1a: stable across runs and builds (std::hash is neither promised).
uint32_t fnv1a(std::string_view text) {
  uint32_t h = 2166136261u;
  for (unsigned char c : text)
    h = (h ^ c) * 16777619u;
  return h;
}

} // namespace

std::string event_name(std::string_view object, std::string_view suffix) {
  if (object.size() + 1 + suffix.size() <= event_name_limit)
    return std::string{object}.append(".").append(suffix);
  char hash[9];
  std::snprintf(hash, sizeof hash, "%08x", fnv1a(object));
  // "<prefix>-<8 hex>.<suffix>"; a label must not end in '-' or '.', so trim those off the cut.
  size_t tail = suffix.size() + 1 + 9; // "-<hash>.<suffix>"
  size_t keep = event_name_limit > tail ? event_name_limit - tail : 0;
  auto prefix = object.substr(0, std::min(keep, object.size()));
  while (!prefix.empty() && (prefix.back() == '-' || prefix.back() == '.'))
    prefix.remove_suffix(1);
  return std::string{prefix}.append("-").append(hash).append(".").append(suffix);
}

bool event_recorder_state::admit(time_point now) {
  if (refilled) {
    std::chrono::duration<double> elapsed = now - *refilled;
    tokens = std::min(event_burst, tokens + elapsed.count() * event_rate);
  }
  refilled = now;
  if (tokens < 1) {
    if (dropped++ % 1000 == 0)
      spdlog::info("event_recorder: rate limit reached ({} per second, bursts of {}); dropping "
                   "Events ({} so far)",
                   event_rate, event_burst, dropped);
    if (tel)
      tel->metrics.event_emitted("dropped");
    return false;
  }
  tokens -= 1;
  return true;
}

void event_recorder_state::record(const node_event& e, time_point now) {
  if (!admit(now))
    return;
  key_type key{e.node, e.reason, e.message};
  auto it = cache.find(key);
  if (it == cache.end() || now - it->second.last > event_dedup_window) {
    post(key, e, now);
    return;
  }
  auto& c = it->second;
  auto patch = c.event;
  patch.count = c.event.count + 1;
  patch.message = e.message;
  auto r = port->update_count(patch);
  if (r) {
    c.event = r.value();
    c.last = now;
    touch(c);
    if (tel)
      tel->metrics.event_emitted(type_of(e.warning));
    return;
  }
  if (r.error().is_not_found()) {
    // The server dropped the Event (TTL): start a new one.
    post(key, e, now);
    return;
  }
  spdlog::warn("event_recorder: updating Event {} for node {} failed, occurrence lost (not "
               "retried): {}",
               c.event.name, e.node, r.error().describe());
}

void event_recorder_state::post(const key_type& key, const node_event& e, time_point now) {
  event_record rec;
  rec.node = e.node;
  rec.uid = e.uid;
  rec.warning = e.warning;
  rec.reason = e.reason;
  rec.message = e.message;
  rec.count = 1;
  auto r = port->create(rec);
  if (!r) {
    spdlog::warn("event_recorder: posting {} Event {} for node {} failed, Event lost (not "
                 "retried): {}",
                 type_of(e.warning), e.reason, e.node, r.error().describe());
    return;
  }
  if (tel)
    tel->metrics.event_emitted(type_of(e.warning));
  auto it = cache.find(key);
  if (it != cache.end()) {
    it->second.event = r.value();
    it->second.last = now;
    touch(it->second);
    return;
  }
  lru.push_back(key);
  cache.emplace(key, cached{r.value(), now, std::prev(lru.end())});
  while (cache.size() > capacity && !lru.empty()) {
    cache.erase(lru.front());
    lru.pop_front();
  }
}

void event_recorder_state::touch(cached& c) {
  lru.splice(lru.end(), lru, c.lru);
}

event_recorder_actor::behavior_type
event_recorder(event_recorder_actor::stateful_pointer<event_recorder_state> self,
               std::shared_ptr<event_port> port, std::shared_ptr<telemetry> tel,
               size_t cache_capacity) {
  auto& st = self->state;
  st.port = std::move(port);
  st.tel = std::move(tel);
  st.capacity = cache_capacity == 0 ? 1 : cache_capacity;
  return {
      [=](const node_event& e) { self->state.record(e, self->clock().now()); },
  };
}

} // namespace kcr::actors
