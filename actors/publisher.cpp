#include "actors/publisher.hpp"

#include <charconv>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/text.hpp"

namespace kcr::actors {

namespace {

// A flush defers itself behind messages already queued, so a burst is written once; the cap
// keeps a constant stream of messages from postponing the write forever.
constexpr int max_deferrals = 64;

} // namespace

void publisher_state::reset_own() {
  kube::published_state st;
  st.endpoint_ip = settings.endpoint_ip;
  st.type = settings.overlay_type;
  st.network = settings.overlay_network;
  if (settings.overlay_type == net::overlay_type::vxlan) {
    st.vni = settings.vni;
    st.port = settings.vxlan_port;
  }
  // Unset in route-only mode without --remote-vtep: no RemoteVTEP key then.
  if (settings.remote_vtep != net::ip_address{})
    st.remote_vtep = settings.remote_vtep;
  // The list only when there are several devices: a one-device ConfigMap stays as it was.
  if (settings.remote_vteps.size() > 1)
    st.remote_vteps = settings.remote_vteps;
  fixed = kube::encode(st);
  own = fixed;
  entry_keys.clear();
}

void publisher_state::add_own(const kube::node_entry& e) {
  remove_own(e.name);
  auto& keys = entry_keys[e.name];
  for (auto& [k, v] : kube::encode_entry(e, settings.overlay_type)) {
    keys.push_back(k);
    own.insert_or_assign(std::move(k), std::move(v));
  }
}

void publisher_state::remove_own(const std::string& node) {
  auto it = entry_keys.find(node);
  if (it == entry_keys.end())
    return;
  for (const auto& k : it->second)
    own.erase(k);
  entry_keys.erase(it);
}

bool publisher_state::holds(const kube::node_entry& e) const {
  auto it = entry_keys.find(e.name);
  if (it == entry_keys.end())
    return false;
  auto encoded = kube::encode_entry(e, settings.overlay_type);
  if (encoded.size() != it->second.size())
    return false;
  for (const auto& [k, v] : encoded) {
    auto o = own.find(k);
    if (o == own.end() || o->second != v)
      return false;
  }
  return true;
}

bool publisher_state::drifted() const {
  return !exists || data != own; // `data` holds the observed own keys only
}

configmap_size publisher_state::next_size() const {
  auto s = size_of(own);
  s.values += foreign.values; // foreign keys stay
  s.encoded += foreign.encoded;
  return s;
}

std::size_t publisher_state::write_cost(const configmap_size& next) const {
  return exists ? next.encoded : size_of(fixed).encoded;
}

data_changes publisher_state::changes() const {
  data_changes out;
  auto d = data.begin();
  auto o = own.begin();
  while (true) { // both sorted; `data` holds own keys only
    if (d == data.end() && o == own.end())
      return out;
    if (o == own.end() || (d != data.end() && d->first < o->first)) {
      out.emplace_back(d->first, std::nullopt); // stale own key
      ++d;
    } else if (d == data.end() || o->first < d->first) {
      out.emplace_back(o->first, o->second); // missing
      ++o;
    } else {
      if (d->second != o->second)
        out.emplace_back(o->first, o->second); // wrong value
      ++d;
      ++o;
    }
  }
}

void publisher_state::apply(desired_entries delta) {
  if (delta.term < term)
    return; // computed during an earlier leadership: another leader may have moved on since
  if (delta.full) {
    std::set<std::string> changed;
    for (const auto& e : delta.upserted)
      if (!holds(e))
        changed.insert(e.name);
    reset_own();
    for (const auto& e : delta.upserted)
      add_own(e);
    unpublished.insert(changed.begin(), changed.end());
    desired_term = delta.term;
    have_desired = true;
    return;
  }
  if (!have_desired || delta.term != desired_term)
    return; // a delta only makes sense on top of the full set of its own term
  for (const auto& e : delta.upserted) {
    unpublished.insert(e.name);
    add_own(e);
  }
  for (const auto& name : delta.removed) {
    remove_own(name);
    unpublished.erase(name);
  }
}

publisher_step publisher_state::on_leadership(bool now_leading, uint64_t new_term) {
  leading = now_leading;
  term = new_term;
  // may_write() also requires a desired set of this very term, so a set computed during an
  // earlier leadership is never written; losing the lead just drops what is held.
  if (!leading) {
    have_desired = false;
    entry_keys.clear();
    own.clear();
    fixed.clear();
    unpublished.clear();
    waiting_since.reset(); // a write waiting for budget will not happen
  }
  return flush_soon();
}

bool publisher_state::is_older(bool now_exists, const std::string& rv) const {
  if (!observed || !exists || !now_exists)
    return false;
  auto a = resource_version_number(resource_version);
  auto b = resource_version_number(rv);
  return a && b && *b < *a;
}

void publisher_state::observe(bool now_exists, const std::string& rv,
                              const std::map<std::string, std::string>& now_data) {
  if (is_older(now_exists, rv))
    return;
  observed = true;
  exists = now_exists;
  resource_version = now_exists ? rv : std::string{};
  data.clear();
  foreign = {};
  if (!now_exists)
    return;
  for (const auto& [k, v] : now_data) {
    if (kube::is_own_key(k))
      data.emplace_hint(data.end(), k, v);
    else
      foreign.add(k, v);
  }
}

publisher_status publisher_state::status() const {
  return {.leading = leading,
          .have_desired = have_desired,
          .desired = entry_keys.size(),
          .resource_version = resource_version,
          .writes = writes,
          .conflicts = conflicts,
          .failures = failures,
          .waiting_for_budget = budget_timer,
          .unpublished = unpublished.size()};
}

void publisher_state::setup(controller_settings s, std::shared_ptr<actors::telemetry> t,
                            std::shared_ptr<configmap_port> p) {
  settings = std::move(s);
  backoff = retry_backoff(settings);
  tel = std::move(t);
  port = std::move(p);
  budget = write_budget{settings.configmap_write_budget};
  if (tel)
    tel->health.expect("publisher", 3 * settings.config_sync_period + settings.backoff_max);
}

publisher_step publisher_state::flush_soon() {
  if (flush_scheduled || !may_write())
    return {};
  flush_scheduled = true;
  return {publisher_step::kind::flush};
}

publisher_step publisher_state::on_desired(desired_entries delta) {
  apply(std::move(delta));
  return flush_soon();
}

publisher_step publisher_state::on_snapshot(const published_snapshot& m) {
  // The echo of our own last write: nothing new, and not worth copying 30000 keys.
  if (m.exists && observed && exists && m.resource_version == resource_version)
    return {};
  if (is_older(m.exists, m.resource_version))
    return {}; // trails a write of ours that the watch has not delivered yet
  observe(m.exists, m.resource_version, m.data());
  if (may_write() && drifted())
    return flush_soon(); // drift: a hand edit, a deleted key, a deleted ConfigMap
  return {};
}

publisher_step publisher_state::on_flush(bool more_queued, write_budget::clock::time_point now) {
  flush_scheduled = false;
  if (!may_write() || retry_scheduled || budget_timer)
    return {}; // a timer is pending: it flushes what is pending by then
  if (more_queued && deferrals < max_deferrals) {
    ++deferrals; // more changes are queued: write them all at once
    return flush_soon();
  }
  deferrals = 0;
  auto start = std::chrono::steady_clock::now();
  auto result = write_pending(now);
  return after_write(result, std::chrono::steady_clock::now() - start);
}

publisher_step publisher_state::after_write(write_result result,
                                            std::chrono::steady_clock::duration took) {
  if (result == write_result::waiting) {
    budget_timer = true;
    return {publisher_step::kind::retry, budget_wait};
  }
  bool ok = result == write_result::written || result == write_result::nothing;
  if (tel)
    tel->metrics.sync_done("publisher", took, ok);
  if (ok) {
    backoff.reset();
    if (tel) {
      tel->health.beat("publisher");
      tel->metrics.sync_succeeded("publisher");
    }
    unpublished.clear();
    return {};
  }
  // Too large is said (size_allows) and the publisher keeps working as designed: healthy, and
  // trying again in case nodes went away. Failed, or conflicts kept coming: not healthy.
  if (result == write_result::too_large && tel)
    tel->health.beat("publisher");
  // Back off, then try again with whatever is pending then.
  retry_scheduled = true;
  return {publisher_step::kind::retry, backoff.next()};
}

publisher_step publisher_state::on_retry(bool more_queued, write_budget::clock::time_point now) {
  // Backoff and budget timers are never pending together: either ends the wait.
  retry_scheduled = false;
  budget_timer = false;
  return on_flush(more_queued, now);
}

publisher_step publisher_state::on_sync() {
  if (!may_write()) {
    if (tel)
      tel->health.beat("publisher"); // idle followers are healthy
    return {};
  }
  return refresh() ? flush_soon() : publisher_step{};
}

publisher_actor::behavior_type publisher(publisher_actor::stateful_pointer<publisher_state> self,
                                         controller_settings settings,
                                         std::shared_ptr<telemetry> tel,
                                         std::shared_ptr<configmap_port> port) {
  self->state.setup(std::move(settings), std::move(tel), std::move(port));
  // The one place that sends what the state decided.
  auto perform = [self](publisher_step step) {
    if (step.what == publisher_step::kind::flush)
      self->send(self, flush_atom::value);
    else if (step.what == publisher_step::kind::retry)
      self->delayed_send(self, step.delay, retry_atom::value);
  };
  auto more_queued = [self] { return !self->mailbox().empty(); };

  // Run: the periodic full reconcile.
  self->delayed_send(self, self->state.settings.config_sync_period, sync_atom::value);
  return {
      [=](desired_entries& m) { perform(self->state.on_desired(std::move(m))); },
      [=](const published_snapshot& m) { perform(self->state.on_snapshot(m)); },
      [=](leadership& m) { perform(self->state.on_leadership(m.leading, m.term)); },
      [=](flush_atom) { perform(self->state.on_flush(more_queued(), self->clock().now())); },
      [=](retry_atom) { perform(self->state.on_retry(more_queued(), self->clock().now())); },
      [=](sync_atom) {
        perform(self->state.on_sync());
        // Re-armed on success and on error.
        self->delayed_send(self, self->state.settings.config_sync_period, sync_atom::value);
      },
      [=](status_atom) { return self->state.status(); },
  };
}

} // namespace kcr::actors
