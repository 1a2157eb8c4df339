// The tunnel supervisor (see tunnel_supervisor.hpp).
#include "actors/tunnel_supervisor.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/tunnel.hpp"

namespace kcr::actors {

void tunnel_supervisor_state::init(tunnel_supervisor_actor::pointer ptr) {
  self = ptr;
  self->set_down_handler([this](caf::down_msg& msg) { on_down(msg); });
  // Cleanup: the children go with the supervisor (their interfaces stay up). The functor runs
  // after the state is gone, hence the shared map.
  self->attach_functor([children = children](const caf::error&) {
    for (auto& [node, c] : *children)
      caf::anon_send_exit(c.handle, caf::exit_reason::user_shutdown);
  });
}

void tunnel_supervisor_state::on_assigned(const entry_assigned& msg) {
  if (msg.entry.name.empty()) {
    spdlog::warn("tunnel supervisor: entry for {} has no node name; ignored",
                 msg.entry.node_ip.to_string());
    return;
  }
  self->send(ensure(msg.entry.name).handle, msg);
}

void tunnel_supervisor_state::on_withdrawn(const entry_withdrawn& msg) {
  const bool local = msg.node == settings->node_name;
  if (msg.deleted && !local) {
    stop(msg.node);
    return;
  }
  if (msg.deleted) {
    // The local Node object is gone, but its tunnel stays: only --cleanup-config removes it.
    if (auto it = children->find(msg.node); it != children->end())
      self->send(it->second.handle, msg);
    return;
  }
  self->send(ensure(msg.node).handle, msg);
}

void tunnel_supervisor_state::on_published(const entries_published& msg) {
  // One small message per actor: forwarding the whole list to each would be quadratic.
  for (const auto& node : msg.nodes)
    if (auto it = children->find(node); it != children->end())
      self->send(it->second.handle, entries_published{{node}, msg.resource_version});
}

void tunnel_supervisor_state::on_snapshot(const published_snapshot& msg) {
  std::unordered_map<std::string, kube::node_entry> now;
  now.reserve(msg.state().entries.size());
  for (const auto& e : msg.state().entries)
    if (!e.name.empty()) // our ConfigMaps always carry Name- keys; seed data cannot be matched
      now.emplace(e.name, e);
  const bool had = have_snapshot;
  auto before = std::move(published);
  published = std::move(now);
  resource_version = msg.resource_version;
  have_snapshot = true;
  for (auto& [node, c] : *children) {
    // Compare in place: at 5000 nodes copying every entry twice per snapshot adds up.
    auto cur = published.find(node);
    const kube::node_entry* now_entry = cur == published.end() ? nullptr : &cur->second;
    const kube::node_entry* prev_entry = nullptr;
    if (had)
      if (auto it = before.find(node); it != before.end())
        prev_entry = &it->second;
    bool same = now_entry && prev_entry ? *now_entry == *prev_entry : now_entry == prev_entry;
    if (!c.told || !same)
      tell_observed(node, c,
                    now_entry ? std::optional<kube::node_entry>{*now_entry} : std::nullopt);
  }
  if (converges_locally())
    ensure(settings->node_name); // a new local actor is told the snapshot on spawn
}

void tunnel_supervisor_state::on_link_changed(const link_changed& msg) {
  if (!converges_locally())
    return;
  // Before the first snapshot there is nothing to repair: the actor does not exist yet.
  if (auto it = children->find(settings->node_name); it != children->end())
    self->send(it->second.handle, msg);
}

void tunnel_supervisor_state::on_down(const caf::down_msg& msg) {
  auto nit = names.find(msg.source);
  if (nit == names.end())
    return; // stopped on purpose (demonitored) or unknown
  const std::string node = nit->second;
  names.erase(nit);
  auto it = children->find(node);
  if (it == children->end() || it->second.handle.address() != msg.source)
    return;
  children->erase(it);
  if (node == settings->node_name && converges_locally()) {
    ++respawns;
    spdlog::error("tunnel supervisor: the local tunnel actor for {} died ({}); respawning", node,
                  to_string(msg.reason));
    auto& c = (*children)[node];
    c.handle = spawn_child(node);
    // Its last entry, even when the ConfigMap no longer carries it: the tunnel stays as it was.
    if (local_last)
      tell_observed(node, c, local_last);
    else if (have_snapshot)
      tell_observed(node, c, published_entry(node));
    return;
  }
  // The allocator's next sync re-creates it.
  spdlog::warn("tunnel supervisor: tunnel actor for node {} died ({}); dropped", node,
               to_string(msg.reason));
}

caf::result<std::string> tunnel_supervisor_state::status(const std::string& node) {
  if (node == "*")
    return summary();
  const std::string& name = node.empty() ? settings->node_name : node;
  auto it = children->find(name);
  if (it == children->end())
    return "no actor for " + name;
  return self->delegate(it->second.handle, status_atom::value);
}

std::string tunnel_supervisor_state::summary() const {
  return "tunnel_supervisor: " + std::to_string(children->size()) + " actors (local " +
         (converges_locally() ? settings->node_name : std::string("-")) + "), " +
         std::to_string(observed_sent) + " entry_observed sent, " + std::to_string(respawns) +
         " respawned, " + std::to_string(stopped) + " stopped";
}

tunnel_actor tunnel_supervisor_state::child_handle(const std::string& node) const {
  auto it = children->find(node);
  return it == children->end() ? tunnel_actor{} : it->second.handle;
}

tunnel_supervisor_state::child& tunnel_supervisor_state::ensure(const std::string& node) {
  auto [it, inserted] = children->try_emplace(node);
  if (!inserted)
    return it->second;
  it->second.handle = spawn_child(node);
  if (have_snapshot)
    tell_observed(node, it->second, published_entry(node));
  return it->second;
}

tunnel_actor tunnel_supervisor_state::spawn_child(const std::string& node) {
  const bool local = node == settings->node_name && converges_locally();
  tunnel_config cfg{node, settings, local ? manager : nullptr, tel, events};
  // The local actor blocks on netlink: production gives it its own thread.
  tunnel_actor h = local && settings->detach_blocking_actors
                       ? self->spawn<caf::detached>(tunnel, std::move(cfg))
                       : self->spawn(tunnel, std::move(cfg));
  self->monitor(h);
  names[h.address()] = node;
  return h;
}

void tunnel_supervisor_state::stop(const std::string& node) {
  auto it = children->find(node);
  if (it == children->end())
    return;
  auto h = it->second.handle;
  self->demonitor(h.address());
  names.erase(h.address());
  children->erase(it);
  self->send_exit(h, caf::exit_reason::user_shutdown);
  ++stopped;
}

void tunnel_supervisor_state::tell_observed(const std::string& node, child& c,
                                            std::optional<kube::node_entry> entry) {
  if (node == settings->node_name && entry)
    local_last = entry;
  c.told = true;
  ++observed_sent;
  self->send(c.handle, entry_observed{std::move(entry), resource_version});
}

std::optional<kube::node_entry>
tunnel_supervisor_state::published_entry(const std::string& node) const {
  if (auto it = published.find(node); it != published.end())
    return it->second;
  return std::nullopt;
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
      [self](const entry_assigned& msg) { self->state.on_assigned(msg); },
      [self](const entry_withdrawn& msg) { self->state.on_withdrawn(msg); },
      [self](const entries_published& msg) { self->state.on_published(msg); },
      [self](const published_snapshot& msg) { self->state.on_snapshot(msg); },
      [self](const link_changed& msg) { self->state.on_link_changed(msg); },
      [self](status_atom, const std::string& node) { return self->state.status(node); },
  };
}

} // namespace kcr::actors
