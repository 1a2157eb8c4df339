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

void publisher_state::rebuild_own() {
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
  for (const auto& [_, e] : desired)
    add_own(e);
}

void publisher_state::add_own(const kube::node_entry& e) {
  for (auto& [k, v] : kube::encode_entry(e, settings.overlay_type))
    own.insert_or_assign(std::move(k), std::move(v));
}

void publisher_state::remove_own(const kube::node_entry& e) {
  for (const auto& kv : kube::encode_entry(e, settings.overlay_type))
    own.erase(kv.first);
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

void publisher_state::stored(std::size_t bytes) {
  if (bytes == 0)
    return;
  stored_bytes = bytes;
  if (tel)
    tel->metrics.configmap_stored_bytes(static_cast<double>(bytes));
}

bool publisher_state::size_allows(const configmap_size& next) {
  auto verdict = judge(next);
  if (tel) {
    tel->metrics.configmap_size(static_cast<double>(next.encoded),
                                static_cast<double>(next.values));
    if (verdict != size_verdict::fits)
      tel->metrics.configmap_size_warning(verdict == size_verdict::too_large ? "values"
                                                                             : "etcd_request");
  }
  if (verdict != last_verdict) {
    // Said once per change of verdict: a retry every backoff period must not flood the log.
    last_verdict = verdict;
    if (verdict == size_verdict::fits) {
      spdlog::info("publisher: the ConfigMap is {} bytes encoded ({} bytes of values) and fits "
                   "again",
                   next.encoded, next.values);
    } else {
      auto text = describe(next, verdict);
      spdlog::error("publisher: {}", text);
      if (auto posted = port->warn("ConfigMapTooLarge", text); !posted)
        spdlog::debug("publisher: posting the Warning Event failed: {}", posted.error().describe());
    }
  }
  return verdict != size_verdict::too_large;
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
    std::map<std::string, kube::node_entry> next;
    for (auto& e : delta.upserted)
      next.emplace(e.name, std::move(e));
    for (const auto& [name, e] : next) {
      auto cur = desired.find(name);
      if (cur == desired.end() || !(cur->second == e))
        unpublished.insert(name);
    }
    desired = std::move(next);
    desired_term = delta.term;
    have_desired = true;
    rebuild_own();
    return;
  }
  if (!have_desired || delta.term != desired_term)
    return; // a delta only makes sense on top of the full set of its own term
  for (auto& e : delta.upserted) {
    unpublished.insert(e.name);
    if (auto cur = desired.find(e.name); cur != desired.end())
      remove_own(cur->second);
    add_own(e);
    desired.insert_or_assign(e.name, std::move(e));
  }
  for (const auto& name : delta.removed) {
    if (auto cur = desired.find(name); cur != desired.end()) {
      remove_own(cur->second);
      desired.erase(cur);
    }
    unpublished.erase(name);
  }
}

void publisher_state::on_leadership(bool now_leading, uint64_t new_term) {
  leading = now_leading;
  term = new_term;
  // may_write() also requires a desired set of this very term, so a set computed during an
  // earlier leadership is never written; losing the lead just drops what is held.
  if (!leading) {
    have_desired = false;
    desired.clear();
    own.clear();
    fixed.clear();
    unpublished.clear();
    waiting_since.reset(); // a write waiting for budget will not happen
  }
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

bool publisher_state::refresh() {
  auto got = port->get();
  if (!got) {
    spdlog::warn("publisher: reading the ConfigMap failed: {}", got.error().describe());
    return false;
  }
  if (got.value()) {
    stored(got.value()->stored_bytes);
    observe(true, got.value()->resource_version, got.value()->data);
  } else
    observe(false, "", {});
  return true;
}

publisher_state::write_result publisher_state::write_once() {
  if (!observed && !refresh())
    return write_result::failed;
  if (!drifted())
    return write_result::nothing;
  auto report = [&](const api_failure& f, const char* verb) {
    ++failures;
    if (tel)
      tel->metrics.configmap_write("error");
    bool too_large = f.code == 500 && f.message.find("too large") != std::string::npos;
    if (f.forbidden()) {
      spdlog::error("publisher: {} ConfigMap forbidden: {} — the service account needs RBAC "
                    "permission to {} configmaps",
                    verb, f.describe(), verb);
    } else if (too_large) {
      spdlog::error("publisher: {} ConfigMap refused for size: {} (about {} bytes encoded; etcd's "
                    "default limit is {} bytes)",
                    verb, f.describe(), next_size().encoded, etcd_request_limit);
      if (tel)
        tel->metrics.configmap_size_warning("etcd_request");
    } else {
      spdlog::warn("publisher: {} ConfigMap failed: {}", verb, f.describe());
    }
  };
  if (!exists) {
    // The fixed keys only: the entries follow in a patch, which resets managedFields (a POST
    // records every key in them; at 5000 nodes that is over etcd's request limit).
    auto created = port->create(fixed);
    if (created) {
      ++writes;
      if (tel)
        tel->metrics.configmap_write("created");
      spdlog::info("publisher: created the ConfigMap; its {} entries follow in a patch",
                   desired.size());
      stored(created->stored_bytes);
      observe(true, created->resource_version, created->data);
      return write_result::written;
    }
    if (created.error().already_exists()) {
      ++conflicts;
      if (tel)
        tel->metrics.configmap_write("conflict");
      refresh();
      return write_result::conflict;
    }
    report(created.error(), "create");
    return write_result::failed;
  }
  auto diff = changes();
  auto patched = port->patch(resource_version, diff);
  if (patched) {
    ++writes;
    if (tel)
      tel->metrics.configmap_write("ok");
    for (auto& [k, v] : diff) {
      if (v)
        data.insert_or_assign(std::move(k), std::move(*v));
      else
        data.erase(k);
    }
    resource_version = patched->resource_version;
    stored(patched->stored_bytes);
    spdlog::debug("publisher: ConfigMap patched to resourceVersion {}", resource_version);
    return write_result::written;
  }
  const auto& f = patched.error();
  if (f.conflict() || f.not_found()) {
    // Someone else wrote (or deleted) it: re-read and apply our changes on top.
    ++conflicts;
    if (tel)
      tel->metrics.configmap_write("conflict");
    spdlog::info("publisher: ConfigMap changed underneath ({}); re-reading", f.describe());
    refresh();
    return write_result::conflict;
  }
  report(f, "patch");
  return write_result::failed;
}

publisher_state::write_result publisher_state::write_pending(write_budget::clock::time_point now) {
  auto result = write_result::nothing;
  int conflicts_seen = 0;
  // A create is followed by the patch of the entries; conflicts re-read and try again (3 times).
  for (int round = 0; round < 5; ++round) {
    if (!observed && !refresh())
      return write_result::failed;
    if (!drifted())
      return result;
    auto next = next_size();
    if (!size_allows(next))
      return write_result::too_large;
    auto cost = write_cost(next);
    budget_wait = budget.wait(cost, now);
    if (budget_wait > write_budget::clock::duration::zero()) {
      if (!waiting_since)
        waiting_since = now;
      return write_result::waiting;
    }
    if (waiting_since) {
      if (tel)
        tel->metrics.write_budget_wait(now - *waiting_since);
      waiting_since.reset();
    }
    auto r = write_once();
    if (r == write_result::written) {
      budget.spend(cost, now);
      if (tel)
        tel->metrics.configmap_written(static_cast<double>(cost));
      result = r;
      continue;
    }
    if (r == write_result::conflict && ++conflicts_seen < 3)
      continue;
    return r;
  }
  return drifted() ? write_result::failed : result; // writes that did not take: back off
}

publisher_status publisher_state::status() const {
  return {.leading = leading,
          .have_desired = have_desired,
          .desired = desired.size(),
          .resource_version = resource_version,
          .writes = writes,
          .conflicts = conflicts,
          .failures = failures,
          .waiting_for_budget = budget_timer,
          .unpublished = unpublished.size()};
}

publisher_actor::behavior_type publisher(publisher_actor::stateful_pointer<publisher_state> self,
                                         controller_settings settings,
                                         std::shared_ptr<telemetry> tel,
                                         std::shared_ptr<configmap_port> port) {
  auto& st = self->state;
  st.settings = settings;
  st.backoff = retry_backoff(settings);
  st.tel = tel;
  st.port = std::move(port);
  st.budget = write_budget{settings.configmap_write_budget};
  if (tel)
    tel->health.expect("publisher", 3 * settings.config_sync_period + settings.backoff_max);

  // OnUpdate: one flush scheduled however many changes arrive.
  auto schedule_flush = [self] {
    if (!self->state.flush_scheduled && self->state.may_write()) {
      self->state.flush_scheduled = true;
      self->send(self, flush_atom::value);
    }
  };
  auto flush = [self, schedule_flush] {
    auto& st = self->state;
    st.flush_scheduled = false;
    if (!st.may_write() || st.retry_scheduled || st.budget_timer)
      return; // a timer is pending: it flushes what is pending by then
    if (!self->mailbox().empty() && st.deferrals < max_deferrals) {
      ++st.deferrals; // more changes are queued: write them all at once
      schedule_flush();
      return;
    }
    st.deferrals = 0;
    auto start = std::chrono::steady_clock::now();
    auto result = st.write_pending(self->clock().now());
    if (result == publisher_state::write_result::waiting) {
      st.budget_timer = true;
      self->delayed_send(self, st.budget_wait, retry_atom::value);
      return;
    }
    bool ok = result == publisher_state::write_result::written ||
              result == publisher_state::write_result::nothing;
    if (st.tel)
      st.tel->metrics.sync_done("publisher", std::chrono::steady_clock::now() - start, ok);
    if (ok) {
      st.backoff.reset();
      if (st.tel) {
        st.tel->health.beat("publisher");
        st.tel->metrics.sync_succeeded("publisher");
      }
      st.unpublished.clear();
      return;
    }
    // Too large is said (size_allows) and the publisher keeps working as designed: healthy, and
    // trying again in case nodes went away. Failed, or conflicts kept coming: not healthy.
    if (result == publisher_state::write_result::too_large && st.tel)
      st.tel->health.beat("publisher");
    // Back off, then try again with whatever is pending then.
    st.retry_scheduled = true;
    self->delayed_send(self, st.backoff.next(), retry_atom::value);
  };

  // Run: the periodic full reconcile.
  self->delayed_send(self, settings.config_sync_period, sync_atom::value);
  return {
      [=](desired_entries& m) {
        self->state.apply(std::move(m));
        schedule_flush();
      },
      [=](const published_snapshot& m) {
        auto& st = self->state;
        // The echo of our own last write: nothing new, and not worth copying 30000 keys.
        if (m.exists && st.observed && st.exists && m.resource_version == st.resource_version)
          return;
        if (st.is_older(m.exists, m.resource_version))
          return; // trails a write of ours that the watch has not delivered yet
        st.observe(m.exists, m.resource_version, m.data());
        if (self->state.may_write() && self->state.drifted())
          schedule_flush(); // drift: a hand edit, a deleted key, a deleted ConfigMap
      },
      [=](leadership& m) {
        self->state.on_leadership(m.leading, m.term);
        schedule_flush();
      },
      [=](flush_atom) { flush(); },
      [=](retry_atom) {
        // Backoff and budget timers are never pending together: either ends the wait.
        self->state.retry_scheduled = false;
        self->state.budget_timer = false;
        flush();
      },
      [=](sync_atom) {
        // Sync: compare against a fresh read, so drift is repaired even when the watch is broken.
        auto& st = self->state;
        if (st.may_write() && st.refresh())
          schedule_flush();
        else if (!st.may_write() && st.tel)
          st.tel->health.beat("publisher"); // idle followers are healthy
        self->delayed_send(self, st.settings.config_sync_period, sync_atom::value);
      },
      [=](status_atom) { return self->state.status(); },
  };
}

} // namespace kcr::actors
