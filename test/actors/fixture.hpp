// Deterministic actor tests: an actor system on CAF's test coordinator, driven from Boost.Test.
// Do not include caf/test/dsl.hpp here (it needs CAF's own test engine).
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

namespace kcr::test {

struct actor_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  std::vector<caf::strong_actor_ptr> tracked;

  actor_fixture() {
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.verbosity", caf::atom("quiet"));
    cfg.set("logger.console", caf::atom("none"));
    sys = std::make_unique<caf::actor_system>(cfg);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
  }

  ~actor_fixture() {
    for (auto& a : tracked)
      caf::anon_send_exit(caf::actor_cast<caf::actor>(a), caf::exit_reason::kill);
    sched->run();
  }

  /// Remembers an actor so the fixture stops it at the end (the system waits for all actors).
  template <class Handle>
  Handle track(Handle h) {
    tracked.push_back(caf::actor_cast<caf::strong_actor_ptr>(h));
    return h;
  }

  /// Runs every pending message (timers are not fired).
  size_t run() { return sched->run(); }

  /// Moves the test clock forward, fires the due timers and runs what they caused. Advancing in
  /// steps keeps self-re-arming timers from firing more than once per step.
  void advance(std::chrono::milliseconds d) {
    sched->advance_time(d);
    sched->run();
  }
};

} // namespace kcr::test
