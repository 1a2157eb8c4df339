// Liveness of the actor system: a prober that asks every long-lived actor to answer, on a timer
// of its own, and records each answer as a sign of life (health_registry::alive). An actor that
// is waiting on the API server still answers once its call times out, so an API outage of any
// length keeps /healthz green; an actor stuck in a handler (a deadlock) stops answering and
// /healthz goes red after the allowance. If the timers themselves stop, nothing is asked, and
// every line goes stale alike.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "actors/telemetry.hpp"

namespace kcr::app {

struct liveness_target {
  std::string name;
  caf::actor handle;
  /// Ask for the local tunnel's status (status_atom, replies tunnel_status) instead of CAF's
  /// system "info" request: the tunnel supervisor answers it through the local tunnel actor, so
  /// both must be alive.
  bool via_status = false;
};

struct liveness_settings {
  /// Each question wakes CAF's idle scheduler workers, which then poll for a while: asking every
  /// 2 s cost an idle 5000-node controller 9 ms of CPU per second (measured: 0.26 s -> 0.62 s per
  /// 40 s idle). The allowance is a minute or more, so a question every 10 s is plenty.
  std::chrono::milliseconds period{std::chrono::seconds{10}};
  /// How long an actor may take to answer: longer than any one blocking call it makes (an API
  /// request is bounded by the client's connect + request timeouts).
  std::chrono::milliseconds allowance{std::chrono::seconds{90}};
};

/// Declares each target with health.expect_alive and spawns the prober.
caf::actor spawn_liveness_prober(caf::actor_system& sys, std::shared_ptr<actors::telemetry> tel,
                                 std::vector<liveness_target> targets, liveness_settings s);

} // namespace kcr::app
