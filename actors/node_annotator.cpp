// The node annotator (see node_annotator.hpp).
#include "actors/node_annotator.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/text.hpp"

namespace kcr::actors {

namespace {

std::string shown(const std::optional<std::string>& v) {
  return v ? *v : std::string{"(none)"};
}

} // namespace

void node_annotator_state::setup(controller_settings s, std::shared_ptr<telemetry> t,
                                 std::shared_ptr<node_annotation_port> p) {
  settings = std::move(s);
  backoff = retry_backoff(settings);
  tel = std::move(t);
  port = std::move(p);
  if (tel)
    tel->health.expect("node_annotator", 3 * settings.config_sync_period + settings.backoff_max);
}

node_annotator_step node_annotator_state::on_desired(desired_entries msg) {
  if (msg.term < term)
    return {}; // computed during an earlier leadership
  if (msg.full) {
    std::map<std::string, net::ip_address> next;
    for (const auto& e : msg.upserted)
      next.emplace(e.name, e.overlay_ip);
    // Only nodes whose desired address changed need another look.
    for (const auto& [name, ip] : next)
      if (auto it = desired.find(name); it == desired.end() || it->second != ip)
        pending.insert(name);
    for (const auto& [name, _] : desired)
      if (!next.count(name))
        pending.insert(name);
    desired = std::move(next);
    desired_term = msg.term; // may be ahead of our leadership message; active() waits for it
    have_desired = true;
  } else {
    if (!have_desired || msg.term != desired_term)
      return {}; // a delta only makes sense on top of the full set of its own term
    for (const auto& e : msg.upserted) {
      desired.insert_or_assign(e.name, e.overlay_ip);
      pending.insert(e.name);
    }
    for (const auto& name : msg.removed) {
      desired.erase(name);
      pending.insert(name);
    }
  }
  return flush_soon();
}

node_annotator_step node_annotator_state::on_snapshot(const published_snapshot& snap) {
  std::map<std::string, net::ip_address> next;
  for (const auto& e : snap.state().entries)
    if (!e.name.empty()) // seed-format entries without Name- keys name no Node
      next.emplace(e.name, e.overlay_ip);
  for (const auto& [name, ip] : next)
    if (auto it = confirmed.find(name); it == confirmed.end() || it->second != ip)
      pending.insert(name);
  for (const auto& [name, _] : confirmed)
    if (!next.count(name))
      pending.insert(name);
  confirmed = std::move(next);
  have_snapshot = true;
  return flush_soon();
}

bool node_annotator_state::is_older(const seen_value& have, const std::string& rv) const {
  auto a = resource_version_number(have.resource_version);
  auto b = resource_version_number(rv);
  return a && b && *b < *a;
}

node_annotator_step node_annotator_state::on_seen(const node_annotation_seen& msg) {
  if (!msg.exists) {
    seen.erase(msg.node); // the annotation went with the Node
    pending.erase(msg.node);
    return {};
  }
  auto it = seen.find(msg.node);
  if (it != seen.end() && is_older(it->second, msg.resource_version))
    return {}; // trails a patch of ours that the watch has not delivered yet
  if (it != seen.end() && it->second.value == msg.value) {
    it->second.resource_version = msg.resource_version;
    return {};
  }
  if (it != seen.end() && active())
    spdlog::info("node_annotator: Node {} annotation {} changed to {} (not by us)", msg.node,
                 overlay_ip_annotation, shown(msg.value));
  seen.insert_or_assign(msg.node, seen_value{msg.value, msg.resource_version});
  pending.insert(msg.node);
  return flush_soon();
}

node_annotator_step node_annotator_state::on_leadership(bool now_leading, uint64_t new_term) {
  leading = now_leading;
  term = new_term;
  // The desired set belongs to one leadership; the observations (ConfigMap, Nodes) stay true.
  if (!leading) {
    have_desired = false;
    desired.clear();
    pending.clear();
    return {};
  }
  mark_all(); // once the allocator's full set of this term is in, every Node is checked
  return flush_soon();
}

node_annotator_step node_annotator_state::on_sync() {
  node_annotator_step step;
  if (active()) {
    mark_all();
    step = flush_soon();
  }
  if (tel && !retry_scheduled)
    tel->health.beat("node_annotator");
  if (tel && !retry_scheduled && active())
    tel->metrics.sync_succeeded("node_annotator"); // a follower's annotator has nothing to sync
  return step;
}

void node_annotator_state::mark_all() {
  for (const auto& [name, _] : seen)
    pending.insert(name);
}

std::optional<std::optional<std::string>>
node_annotator_state::target(const std::string& node) const {
  if (!seen.count(node))
    return std::nullopt; // not (yet) seen on the Node watch: nothing to compare with
  auto d = desired.find(node);
  auto c = confirmed.find(node);
  const bool in_d = d != desired.end();
  const bool in_c = c != confirmed.end();
  if (in_d && in_c && d->second == c->second)
    return std::optional<std::string>{c->second.to_string()};
  if (!in_d && !in_c)
    return std::optional<std::string>{}; // withdrawn and published as such: no address
  return std::nullopt;                   // the ConfigMap does not hold the allocator's value (yet)
}

node_annotator_step node_annotator_state::flush_soon() {
  if (flush_scheduled || retry_scheduled || !active() || pending.empty())
    return {};
  flush_scheduled = true;
  return {node_annotator_step::kind::flush};
}

void node_annotator_state::refill(clock::time_point now) {
  const double capacity = std::max(1.0, settings.annotation_qps);
  if (!bucket_started) {
    bucket_started = true;
    tokens = capacity;
  } else {
    std::chrono::duration<double> elapsed = now - refilled;
    tokens = std::min(capacity, tokens + elapsed.count() * settings.annotation_qps);
  }
  refilled = now;
}

std::vector<std::pair<std::string, std::optional<std::string>>> node_annotator_state::take_due() {
  // Removals first: an address leaves one Node before it can appear on another.
  std::vector<std::pair<std::string, std::optional<std::string>>> removals, sets;
  for (const auto& node : pending) {
    auto t = target(node);
    if (!t || *t == seen.at(node).value)
      continue; // undecided, or already right: looked at again when an input changes
    (t->has_value() ? sets : removals).emplace_back(node, std::move(*t));
  }
  pending.clear();
  removals.insert(removals.end(), std::make_move_iterator(sets.begin()),
                  std::make_move_iterator(sets.end()));
  return removals;
}

node_annotator_step node_annotator_state::on_flush(clock::time_point now) {
  flush_scheduled = false;
  if (!active() || retry_scheduled)
    return {};
  refill(now);
  auto due = take_due();
  size_t done = 0;
  for (size_t i = 0; i < due.size(); ++i) {
    const auto& [node, value] = due[i];
    if (tokens < 1 || !patch(node, value)) {
      const bool failed = tokens >= 1;
      for (size_t j = i; j < due.size(); ++j)
        pending.insert(due[j].first);
      if (failed) {
        retry_scheduled = true;
        return {node_annotator_step::kind::retry, backoff.next()};
      }
      break;
    }
    tokens -= 1;
    ++done;
  }
  backoff.reset();
  if (done > 1 || (done == 1 && !pending.empty()))
    spdlog::info("node_annotator: annotated {} Nodes, {} waiting for the rate limit ({}/s)", done,
                 pending.size(), settings.annotation_qps);
  if (pending.empty())
    return {};
  // The rest when the bucket holds a token again.
  auto wait = std::chrono::duration<double>((1 - tokens) / settings.annotation_qps);
  auto delay =
      std::max(std::chrono::microseconds{1000}, std::chrono::ceil<std::chrono::microseconds>(wait));
  flush_scheduled = true;
  return {node_annotator_step::kind::wait, delay};
}

node_annotator_step node_annotator_state::on_retry(clock::time_point now) {
  retry_scheduled = false;
  return on_flush(now);
}

bool node_annotator_state::patch(const std::string& node, const std::optional<std::string>& value) {
  auto r = port->patch(node, overlay_ip_annotation, value);
  if (r) {
    ++patches;
    spdlog::debug("node_annotator: Node {} {} = {}", node, overlay_ip_annotation, shown(value));
    seen.insert_or_assign(node, seen_value{value, r.value()});
    if (tel)
      tel->metrics.node_annotation_patch(value ? "set" : "removed");
    return true;
  }
  const auto& f = r.error();
  if (f.is_not_found()) {
    seen.erase(node); // deleted meanwhile; its DELETED event follows
    if (tel)
      tel->metrics.node_annotation_patch("gone");
    return true;
  }
  ++failures;
  if (tel)
    tel->metrics.node_annotation_patch("error");
  if (f.is_forbidden())
    spdlog::error("node_annotator: patching Node {} forbidden: {} — the service account needs "
                  "RBAC permission to patch nodes",
                  node, f.describe());
  else
    spdlog::warn("node_annotator: patching Node {} failed: {}; backing off", node, f.describe());
  return false;
}

node_annotator_status node_annotator_state::status() const {
  return {.leading = leading,
          .active = active(),
          .desired = desired.size(),
          .confirmed = confirmed.size(),
          .nodes = seen.size(),
          .pending = pending.size(),
          .patches = patches,
          .failures = failures};
}

node_annotator_actor::behavior_type
node_annotator(node_annotator_actor::stateful_pointer<node_annotator_state> self,
               controller_settings settings, std::shared_ptr<telemetry> tel,
               std::shared_ptr<node_annotation_port> port) {
  self->state.setup(std::move(settings), std::move(tel), std::move(port));
  // The one place that sends what the state decided.
  auto perform = [self](node_annotator_step step) {
    using kind = node_annotator_step::kind;
    if (step.what == kind::flush)
      self->send(self, flush_atom::value);
    else if (step.what == kind::retry)
      self->delayed_send(self, step.delay, retry_atom::value);
    else if (step.what == kind::wait)
      self->delayed_send(self, step.delay, flush_atom::value);
  };
  // Run: the periodic full reconcile.
  self->delayed_send(self, self->state.settings.config_sync_period, sync_atom::value);
  return {
      [=](desired_entries& m) { perform(self->state.on_desired(std::move(m))); },
      [=](const published_snapshot& m) { perform(self->state.on_snapshot(m)); },
      [=](const node_annotation_seen& m) { perform(self->state.on_seen(m)); },
      [=](const leadership& m) { perform(self->state.on_leadership(m.leading, m.term)); },
      [=](flush_atom) { perform(self->state.on_flush(self->clock().now())); },
      [=](retry_atom) { perform(self->state.on_retry(self->clock().now())); },
      [=](sync_atom) {
        perform(self->state.on_sync());
        self->delayed_send(self, self->state.settings.config_sync_period, sync_atom::value);
      },
      [=](status_atom) { return self->state.status(); },
  };
}

} // namespace kcr::actors
