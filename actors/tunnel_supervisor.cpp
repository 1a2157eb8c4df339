// The tunnel supervisor (see tunnel_supervisor.hpp).
#include "actors/tunnel_supervisor.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/tunnel_spec_builder.hpp"

namespace kcr::actors {

tunnel_supervisor_outbox tunnel_supervisor_state::on_own_node(const own_node_observed& msg) {
  tunnel_supervisor_outbox out;
  if (!msg.exists) {
    report(msg.node,
           "Node " + settings->node_name +
               " does not exist (any more); the tunnel stays as last converged",
           false, out);
    tell(std::nullopt, out);
    return out;
  }
  resource_version = msg.node.resource_version;
  auto r = own_entry(msg.node, *settings);
  if (!r.entry) {
    report(msg.node, r.problem, r.invalid, out);
    // A missing annotation tells the actor the entry is gone; a wrong one is not believed at
    // all: the tunnel keeps the last good entry either way.
    if (!r.invalid)
      tell(std::nullopt, out);
    return out;
  }
  if (!logged_problem.empty()) {
    spdlog::info("tunnel supervisor: Node {} has a usable overlay entry again", msg.node.name);
    logged_problem.clear();
  }
  if (last_entry == r.entry && !told_absent)
    return out; // heartbeats and other Node changes: nothing for the tunnel
  tell(std::move(r.entry), out);
  return out;
}

tunnel_supervisor_outbox tunnel_supervisor_state::on_link_changed(const link_changed& msg) {
  tunnel_supervisor_outbox out;
  // Before the first entry there is nothing to repair: the actor does not exist yet.
  if (local_running)
    out.to_local.emplace_back(msg);
  return out;
}

tunnel_supervisor_outbox tunnel_supervisor_state::on_local_down(const std::string& reason) {
  tunnel_supervisor_outbox out;
  ++respawns;
  spdlog::error("tunnel supervisor: the local tunnel actor for {} died ({}); respawning",
                settings->node_name, reason);
  out.spawn_local = true; // local_running stays true: the fresh actor replaces it at once
  // Its last entry, even when the annotation is gone now: the tunnel stays as it was.
  if (last_entry)
    out.to_local.emplace_back(entry_observed{last_entry, resource_version});
  return out;
}

std::optional<tunnel_status> tunnel_supervisor_state::own_tunnel_status() const {
  if (local_running)
    return std::nullopt;
  tunnel_status none;
  none.node = settings->node_name;
  none.running = false;
  none.problem = logged_problem;
  return none;
}

supervisor_status tunnel_supervisor_state::status() const {
  return {.node = settings->node_name,
          .observed_sent = observed_sent,
          .respawns = respawns,
          .refused = refused};
}

tunnel_config tunnel_supervisor_state::local_config() const {
  return {settings->node_name, settings, manager, tel, events};
}

void tunnel_supervisor_state::tell(std::optional<kube::node_entry> entry,
                                   tunnel_supervisor_outbox& out) {
  if (!entry) {
    if (!local_running || told_absent)
      return;
    told_absent = true;
  } else {
    told_absent = false;
    last_entry = entry;
    if (!local_running) {
      local_running = true;
      out.spawn_local = true;
    }
  }
  ++observed_sent;
  out.to_local.emplace_back(entry_observed{std::move(entry), resource_version});
}

void tunnel_supervisor_state::report(const kube::node_info& node, const std::string& problem,
                                     bool warning, tunnel_supervisor_outbox& out) {
  if (problem == logged_problem)
    return;
  logged_problem = problem;
  if (!warning) {
    spdlog::info("tunnel supervisor: {}", problem);
    return;
  }
  ++refused;
  spdlog::error("tunnel supervisor: {}; not converging to it (the tunnel stays as last "
                "converged; the publisher restores the annotation)",
                problem);
  out.events.push_back(
      node_event{settings->node_name, node.uid, true, reason_overlay_annotation_invalid, problem});
}

namespace {

using supervisor_pointer = tunnel_supervisor_actor::stateful_pointer<tunnel_supervisor_state>;

/// The one place the supervisor spawns and sends what its state decided. No recorder: the Events
/// are dropped.
void emit(supervisor_pointer self, tunnel_supervisor_outbox out) {
  auto& st = self->state;
  if (st.events)
    for (auto& e : out.events)
      self->send(st.events, std::move(e));
  if (out.spawn_local) {
    // The actor blocks on netlink: production gives it its own thread.
    *st.local = st.settings->detach_blocking_actors
                    ? self->spawn<caf::detached>(tunnel, st.local_config())
                    : self->spawn(tunnel, st.local_config());
    self->monitor(*st.local);
  }
  for (auto& m : out.to_local)
    std::visit([&](auto& x) { self->send(*st.local, std::move(x)); }, m);
}

} // namespace

tunnel_supervisor_actor::behavior_type
tunnel_supervisor(supervisor_pointer self, controller_settings settings,
                  std::shared_ptr<net::tunnel_manager> manager, std::shared_ptr<telemetry> tel,
                  event_recorder_actor events) {
  auto& st = self->state;
  st.settings = std::make_shared<const controller_settings>(std::move(settings));
  st.manager = std::move(manager);
  st.tel = std::move(tel);
  st.events = std::move(events);
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& local = *self->state.local;
    if (!local || msg.source != local.address())
      return; // not the current local actor
    emit(self, self->state.on_local_down(to_string(msg.reason)));
  });
  // Cleanup: the child goes with the supervisor (its interface stays up). The functor runs
  // after the state is gone, hence the shared handle.
  self->attach_functor([local = st.local](const caf::error&) {
    if (*local)
      caf::anon_send_exit(*local, caf::exit_reason::user_shutdown);
  });
  return {
      [self](const own_node_observed& msg) { emit(self, self->state.on_own_node(msg)); },
      [self](const link_changed& msg) { emit(self, self->state.on_link_changed(msg)); },
      [self](status_atom) -> caf::result<tunnel_status> {
        if (auto own = self->state.own_tunnel_status())
          return *own;
        return self->delegate(*self->state.local, status_atom::value);
      },
      [self](status_atom, supervisor_atom) { return self->state.status(); },
  };
}

} // namespace kcr::actors
