// leader_elector: see leader_elector.hpp.
#include "actors/leader_elector.hpp"

#include <cstdio>
#include <ctime>
#include <utility>

#include <spdlog/spdlog.h>

namespace kcr::actors {

std::string rfc3339_micro(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto us = duration_cast<microseconds>(t.time_since_epoch()).count();
  auto secs = static_cast<std::time_t>(us / 1000000);
  auto frac = us % 1000000;
  if (frac < 0) { // before 1970: keep the fraction positive
    frac += 1000000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(frac));
  return buf;
}

namespace {

// "15s", "1.500s": durations as the flags spell them.
std::string seconds_text(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms % 1000 == 0)
    return std::to_string(ms / 1000) + "s";
  return std::to_string(ms / 1000) + "." + std::to_string(ms % 1000 + 1000).substr(1) + "s";
}

} // namespace

leader_elector_outbox leader_elector_state::tick(time_point now) {
  if (released)
    return {}; // shutting down: never acquire again
  if (leading)
    renew(now);
  else
    try_acquire(now);
  return std::exchange(changes, {});
}

leader_elector_outbox leader_elector_state::release() {
  if (!leading) {
    released = true;
    return {};
  }
  // client-go's release: empty holder and a 1 s duration, so followers take over at once.
  auto rec = mine(held);
  rec.holder.clear();
  rec.lease_duration_seconds = 1;
  auto r = port->update(rec);
  released = true;
  if (r) {
    succeeded();
    stop_leading("released the Lease on shutdown");
  } else {
    // Nothing more to do on the way out: the Lease expires on its own after lease_duration.
    stop_leading("shutting down; releasing the Lease failed (" + r.error().describe() + ")");
  }
  auto out = std::exchange(changes, {});
  out.released = r.ok();
  return out;
}

void leader_elector_state::try_acquire(time_point now) {
  auto got = port->get();
  if (!got) {
    problem("reading the Lease failed", got.error());
    return;
  }
  succeeded();
  if (!got.value()) {
    // No Lease yet: create it. A lost race comes back as AlreadyExists.
    auto rec = mine(lease_record{});
    rec.acquire_time = rec.renew_time;
    rec.transitions = 0;
    auto created = port->create(rec);
    if (created) {
      succeeded();
      become_leader(created.value(), now);
    } else if (created.error().code == 409) {
      spdlog::info("leader_elector: another instance created the Lease first");
    } else {
      problem("creating the Lease failed", created.error());
    }
    return;
  }
  const auto& lease = *got.value();
  observe(lease, now);
  bool ours = lease.holder == settings.lease_identity;
  if (!ours && !lease.holder.empty() && now - observed_time <= settings.lease_duration) {
    if (lease.holder != last_holder) {
      last_holder = lease.holder;
      spdlog::info("leader_elector: leader is {}", lease.holder);
    }
    return;
  }
  // Expired, released, or still naming us (we stopped leading after failed renewals and nobody
  // took over): take it with a compare-and-swap on the version we read.
  auto rec = mine(lease);
  if (!ours) {
    rec.acquire_time = rec.renew_time;
    rec.transitions = lease.transitions + 1;
  }
  auto updated = port->update(rec);
  if (updated) {
    succeeded();
    if (!ours && !lease.holder.empty())
      spdlog::info("leader_elector: the Lease of {} expired (unchanged for more than {})",
                   lease.holder, seconds_text(settings.lease_duration));
    become_leader(updated.value(), now);
  } else if (updated.error().code == 409) {
    spdlog::info("leader_elector: another instance took the Lease first");
  } else {
    problem("taking the Lease failed", updated.error());
  }
}

void leader_elector_state::renew(time_point now) {
  auto rec = mine(held);
  auto r = port->update(rec);
  if (!r && (r.error().is_conflict() || r.error().is_not_found())) {
    // Someone else wrote or deleted the Lease: read it to learn who holds it now.
    auto got = port->get();
    if (!got) {
      r = got.error();
    } else if (!got.value()) {
      succeeded();
      auto fresh = rec;
      fresh.resource_version.clear(); // a POST must not carry one (422)
      r = port->create(fresh);
    } else if (got.value()->holder != settings.lease_identity) {
      succeeded();
      observe(*got.value(), now);
      stop_leading("the Lease was taken by " + (got.value()->holder.empty()
                                                    ? std::string{"nobody (released)"}
                                                    : got.value()->holder));
      return;
    } else {
      // Still ours; only the version moved (an edit of another field). Retry on it.
      succeeded();
      rec.resource_version = got.value()->resource_version;
      r = port->update(rec);
    }
  }
  if (r) {
    succeeded();
    held = r.value();
    last_renew = now;
    observe(held, now);
    return;
  }
  if (now - last_renew >= settings.renew_deadline) {
    stop_leading("failed to renew the Lease within " + seconds_text(settings.renew_deadline) +
                 ": " + r.error().describe());
    return;
  }
  problem("renewing the Lease failed (will retry)", r.error());
}

void leader_elector_state::observe(const lease_record& lease, time_point now) {
  if (!observed || *observed != lease) {
    observed = lease;
    observed_time = now;
  }
}

void leader_elector_state::become_leader(const lease_record& lease, time_point now) {
  held = lease;
  last_renew = now;
  observe(lease, now);
  leading = true;
  ++term;
  last_holder = settings.lease_identity;
  spdlog::info("leader_elector: became leader as {} (transitions {})", settings.lease_identity,
               lease.transitions);
  notify();
}

void leader_elector_state::stop_leading(const std::string& reason) {
  if (!leading)
    return;
  leading = false;
  last_holder.clear();
  if (released)
    spdlog::info("leader_elector: stopped leading ({})", reason);
  else
    spdlog::warn("leader_elector: stopped leading ({})", reason);
  notify();
}

void leader_elector_state::notify() {
  if (tel)
    tel->metrics.set_leader(leading);
  changes.to_listeners.push_back(leadership{leading, settings.lease_identity, term});
}

void leader_elector_state::succeeded() {
  if (tel) {
    tel->health.beat("leader_elector");
    tel->metrics.sync_succeeded("leader_elector");
  }
  last_problem.clear();
}

void leader_elector_state::problem(const std::string& what, const api_failure& f) {
  auto text = what + ": " + f.describe();
  if (text == last_problem)
    return;
  last_problem = text;
  if (f.is_forbidden())
    spdlog::error("leader_elector: {} (RBAC: the service account needs get/create/update on "
                  "leases.coordination.k8s.io in kube-system)",
                  text);
  else
    spdlog::warn("leader_elector: {}", text);
}

lease_record leader_elector_state::mine(const lease_record& base) const {
  auto rec = base;
  rec.holder = settings.lease_identity;
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(settings.lease_duration).count();
  rec.lease_duration_seconds = static_cast<int>(secs < 1 ? 1 : secs);
  rec.renew_time = rfc3339_micro(std::chrono::system_clock::now());
  return rec;
}

leader_elector_actor::behavior_type
leader_elector(leader_elector_actor::stateful_pointer<leader_elector_state> self,
               std::shared_ptr<lease_port> port, controller_settings settings,
               std::vector<leadership_listener> listeners, std::shared_ptr<telemetry> tel) {
  auto& st = self->state;
  st.port = std::move(port);
  st.settings = std::move(settings);
  st.tel = std::move(tel);
  if (st.tel)
    st.tel->metrics.set_leader(false);
  auto emit = [self, listeners = std::move(listeners)](const leader_elector_outbox& out) {
    for (const auto& m : out.to_listeners)
      for (const auto& l : listeners)
        if (l)
          self->send(l, m);
  };
  self->send(self, tick_atom::value); // Run: the first attempt at once
  return {
      [=](tick_atom) {
        if (self->state.released)
          return; // shutting down: the loop ends here
        emit(self->state.tick(self->clock().now()));
        // Re-armed on success and on failure alike: one error never stops the loop.
        self->delayed_send(self, self->state.settings.retry_period, tick_atom::value);
      },
      [=](release_atom) -> bool {
        auto out = self->state.release();
        emit(out);
        return out.released;
      },
  };
}

} // namespace kcr::actors
