// leader_elector: holds or waits for the Lease kube-system/kube-chorus-router with client-go
// leaderelection semantics (k8s.io/client-go/tools/leaderelection), and tells the allocator and the
// publisher when this instance starts or stops leading.
//
// Every retry_period (tick_atom): a follower GETs the Lease and takes it when it is absent
// (POST), released (empty holder) or unchanged on the follower's own clock for longer than
// lease_duration (PUT with the read resourceVersion); a leader renews it with a PUT. A leader
// that cannot renew for renew_deadline, or finds another holder after a conflict, stops leading.
// Blocking port calls: production spawns it detached.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/interfaces.hpp"
#include "actors/ports.hpp"
#include "actors/settings.hpp"
#include "actors/telemetry.hpp"

namespace kcr::actors {

/// Anything that takes `leadership`: allocator_actor and publisher_actor convert implicitly.
using leadership_listener = caf::typed_actor<caf::reacts_to<leadership>>;

/// RFC 3339 in UTC with microseconds, as client-go writes Lease times:
/// "2025-01-01T10:00:00.000000Z".
std::string rfc3339_micro(std::chrono::system_clock::time_point t);

/// What one input of the elector wants sent: each change of leadership, in order, for every
/// listener.
struct leader_elector_outbox {
  std::vector<leadership> to_listeners;
  bool released = false; // release(): this instance held the Lease and handed it back
};

/// The elector's state and decisions; no CAF calls (the clock's `now` is passed in), so it can be
/// driven directly against a fake lease_port.
struct leader_elector_state {
  static inline const char* name = "leader_elector";
  using time_point = caf::actor_clock::time_point;

  std::shared_ptr<lease_port> port;
  controller_settings settings;
  std::shared_ptr<telemetry> tel;

  bool leading = false;
  bool released = false; // after release_atom: never acquire again (shutting down)
  uint64_t term = 0;     // times this instance started leading (leadership::term)
  lease_record held;     // the Lease as we last wrote it (meaningful while leading)
  time_point last_renew{};
  // The record as last read and the local time it last changed: expiry is judged on our own
  // clock, never on the holder's renewTime (clocks differ between machines).
  std::optional<lease_record> observed;
  time_point observed_time{};

  std::string last_problem; // logged once per distinct message
  std::string last_holder;  // "leader is X" once per holder

  /// One retry_period step: acquire when following, renew when leading.
  leader_elector_outbox tick(time_point now);
  /// Clean shutdown: hands the Lease back (`released`: this instance held it and the release was
  /// written).
  leader_elector_outbox release();

private:
  leader_elector_outbox changes; // collected by notify(), handed out by tick() / release()

  void try_acquire(time_point now);
  void renew(time_point now);
  void observe(const lease_record& lease, time_point now);
  void become_leader(const lease_record& lease, time_point now);
  void stop_leading(const std::string& reason);
  void notify();
  void succeeded();
  void problem(const std::string& what, const api_failure& f);
  lease_record mine(const lease_record& base) const;
};

/// Spawn: `sys.spawn(leader_elector, port, settings, listeners, tel)` (detached in production).
/// The first attempt runs at once; then one every settings.retry_period.
leader_elector_actor::behavior_type
leader_elector(leader_elector_actor::stateful_pointer<leader_elector_state> self,
               std::shared_ptr<lease_port> port, controller_settings settings,
               std::vector<leadership_listener> listeners, std::shared_ptr<telemetry> tel);

} // namespace kcr::actors
