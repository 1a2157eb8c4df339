// The tunnel supervisor (see tunnel_supervisor.hpp).
#include "actors/tunnel_supervisor.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/tunnel.hpp"
#include "actors/tunnel_spec_builder.hpp"

namespace kcr::actors {

void tunnel_supervisor_state::init(tunnel_supervisor_actor::pointer ptr) {
  self = ptr;
  self->set_down_handler([this](caf::down_msg& msg) { on_down(msg); });
  // Cleanup: the child goes with the supervisor (its interface stays up). The functor runs
  // after the state is gone, hence the shared handle.
  self->attach_functor([local = local](const caf::error&) {
    if (*local)
      caf::anon_send_exit(*local, caf::exit_reason::user_shutdown);
  });
}

void tunnel_supervisor_state::on_own_node(const own_node_observed& msg) {
  if (!msg.exists) {
    report(msg.node,
           "Node " + settings->node_name +
               " does not exist (any more); the tunnel stays as last converged",
           false);
    tell(std::nullopt);
    return;
  }
  resource_version = msg.node.resource_version;
  auto r = own_entry(msg.node, *settings);
  if (!r.entry) {
    report(msg.node, r.problem, r.invalid);
    // A missing annotation tells the actor the entry is gone; a wrong one is not believed at
    // all: the tunnel keeps the last good entry either way.
    if (!r.invalid)
      tell(std::nullopt);
    return;
  }
  if (!logged_problem.empty()) {
    spdlog::info("tunnel supervisor: Node {} has a usable overlay entry again", msg.node.name);
    logged_problem.clear();
  }
  if (last_entry == r.entry && !told_absent)
    return; // heartbeats and other Node changes: nothing for the tunnel
  tell(std::move(r.entry));
}

void tunnel_supervisor_state::on_link_changed(const link_changed& msg) {
  // Before the first entry there is nothing to repair: the actor does not exist yet.
  if (*local)
    self->send(*local, msg);
}

void tunnel_supervisor_state::on_down(const caf::down_msg& msg) {
  if (!*local || msg.source != local->address())
    return;
  ++respawns;
  spdlog::error("tunnel supervisor: the local tunnel actor for {} died ({}); respawning",
                settings->node_name, to_string(msg.reason));
  *local = tunnel_actor{};
  spawn_local();
  // Its last entry, even when the annotation is gone now: the tunnel stays as it was.
  if (last_entry)
    self->send(*local, entry_observed{last_entry, resource_version});
}

caf::result<tunnel_status> tunnel_supervisor_state::tunnel_status_reply() {
  if (!*local) {
    tunnel_status none;
    none.node = settings->node_name;
    none.running = false;
    none.problem = logged_problem;
    return none;
  }
  return self->delegate(*local, status_atom::value);
}

supervisor_status tunnel_supervisor_state::status() const {
  return {.node = settings->node_name,
          .observed_sent = observed_sent,
          .respawns = respawns,
          .refused = refused};
}

void tunnel_supervisor_state::spawn_local() {
  tunnel_config cfg{settings->node_name, settings, manager, tel, events};
  // The actor blocks on netlink: production gives it its own thread.
  *local = settings->detach_blocking_actors ? self->spawn<caf::detached>(tunnel, std::move(cfg))
                                            : self->spawn(tunnel, std::move(cfg));
  self->monitor(*local);
}

void tunnel_supervisor_state::tell(std::optional<kube::node_entry> entry) {
  if (!entry) {
    if (!*local || told_absent)
      return;
    told_absent = true;
  } else {
    told_absent = false;
    last_entry = entry;
    if (!*local)
      spawn_local();
  }
  ++observed_sent;
  self->send(*local, entry_observed{std::move(entry), resource_version});
}

void tunnel_supervisor_state::report(const kube::node_info& node, const std::string& problem,
                                     bool warning) {
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
  if (events)
    self->send(events, node_event{settings->node_name, node.uid, true,
                                  reason_overlay_annotation_invalid, problem});
}

tunnel_supervisor_actor::behavior_type
tunnel_supervisor(tunnel_supervisor_actor::stateful_pointer<tunnel_supervisor_state> self,
                  controller_settings settings, std::shared_ptr<net::tunnel_manager> manager,
                  std::shared_ptr<telemetry> tel, event_recorder_actor events) {
  auto& st = self->state;
  st.settings = std::make_shared<const controller_settings>(std::move(settings));
  st.manager = std::move(manager);
  st.tel = std::move(tel);
  st.events = std::move(events);
  st.init(self);
  return {
      [self](const own_node_observed& msg) { self->state.on_own_node(msg); },
      [self](const link_changed& msg) { self->state.on_link_changed(msg); },
      [self](status_atom) { return self->state.tunnel_status_reply(); },
      [self](status_atom, supervisor_atom) { return self->state.status(); },
  };
}

} // namespace kcr::actors
