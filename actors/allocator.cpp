#include "actors/allocator.hpp"

#include <chrono>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/text.hpp"

namespace kcr::actors {

// --- inputs
// ---------------------------------------------------------------------------------------

allocator_outbox allocator_state::on_upsert(kube::entry_inputs node) {
  auto name = node.name;
  track_node_ip(name, &node);
  auto ip = node.underlay_ip;
  nodes.insert_or_assign(name, std::move(node));
  allocator_outbox out;
  if (!ready())
    return out;
  desired_entries delta;
  reconcile(name, out, delta);
  // A node address inside another node's published range: that range is refused from now on.
  if (ip)
    if (auto holder = range_owners.find_conflict(net::cidr{*ip, ip->is_v4() ? 32 : 128}, name))
      reconcile(holder->owner, out, delta);
  retry_waiting(out, delta); // an IP change may have resolved another node's duplicate
  if (!delta.upserted.empty() || !delta.removed.empty())
    out.to_publisher = std::move(delta);
  update_metrics();
  return out;
}

allocator_outbox allocator_state::on_delete(const std::string& name) {
  track_node_ip(name, nullptr);
  nodes.erase(name);
  allocator_outbox out;
  if (!ready())
    return out;
  desired_entries delta;
  reconcile(name, out, delta);
  retry_waiting(out, delta); // its address is free again
  if (!delta.upserted.empty() || !delta.removed.empty())
    out.to_publisher = std::move(delta);
  update_metrics();
  return out;
}

allocator_outbox allocator_state::on_synced() {
  synced = true;
  if (ready())
    return on_sync(); // a relist: every change was already delivered; re-check the whole set
  return try_become_ready();
}

allocator_outbox allocator_state::on_snapshot(const published_snapshot& snap) {
  snapshot = snap; // shares the decoded content
  // While ready, the pool is the truth and the publisher repairs what differs.
  if (ready())
    return {};
  return try_become_ready();
}

allocator_outbox allocator_state::on_leadership(bool now_leading, uint64_t new_term) {
  leading = now_leading;
  term = new_term;
  if (!leading) {
    // Another instance allocates now; when this one leads again it restores from what that one
    // published, so nothing of the old pool may survive.
    allocator_outbox out;
    if (ready())
      spdlog::info("allocator: stopped allocating (not leading)");
    pool.reset();
    entries.clear();
    by_node_ip.clear();
    range_owners = {};
    waiting.clear();
    for (const auto& [name, _] : std::map{refused})
      note_refusal(name, nullptr); // judged again by whoever leads
    update_metrics();
    return out;
  }
  return try_become_ready();
}

allocator_outbox allocator_state::on_sync() {
  allocator_outbox out;
  if (!ready())
    return out;
  desired_entries scratch;
  std::vector<std::string> names;
  for (const auto& [name, _] : entries)
    if (!nodes.count(name))
      names.push_back(name); // entries of nodes that vanished
  for (const auto& [name, _] : nodes)
    names.push_back(name);
  for (const auto& name : names)
    reconcile(name, out, scratch);
  retry_waiting(out, scratch);
  desired_entries full;
  full.full = true;
  for (const auto& [_, e] : entries)
    full.upserted.push_back(e);
  out.to_publisher = std::move(full);
  update_metrics();
  return out;
}

allocator_status allocator_state::status() const {
  return {.leading = leading,
          .synced = synced,
          .seen_configmap = snapshot.has_value(),
          .ready = ready(),
          .nodes = nodes.size(),
          .entries = entries.size(),
          .waiting = waiting.size(),
          .free = pool ? pool->free_count() : 0};
}

// --- logic
// ----------------------------------------------------------------------------------------

allocator_outbox allocator_state::try_become_ready() {
  allocator_outbox out;
  if (ready() || !leading || !synced || !snapshot)
    return out;
  auto created = net::overlay_pool::create(settings.overlay_network, settings.endpoint_ip);
  if (!created) {
    // Flags are validated at start-up, so this means a programming error; say it loudly.
    spdlog::error("allocator: cannot create the overlay pool: {}", created.error().message);
    return out;
  }
  pool.emplace(std::move(*created));
  entries.clear();
  by_node_ip.clear();
  range_owners = {};
  waiting.clear();
  restore_from_snapshot(out);
  size_t restored = pool->size();
  desired_entries scratch;
  cold_start = true;
  // Published nodes first: of two nodes claiming one underlay IP or pod range, the one the
  // device already routes to keeps it across a restart or a failover. Of the published ones,
  // those whose ranges are still the published ones go first: a node that took another's range
  // while no leader was there must not win it by its name (the fault campaign found that).
  std::map<net::ip_address, const std::vector<net::cidr>*> published_ranges; // by overlay IP
  for (const auto& e : snapshot->state().entries)
    published_ranges.emplace(e.overlay_ip, &e.pod_cidrs);
  auto pass_of = [&](const std::string& name, const kube::entry_inputs& n) {
    auto ip = pool->lookup(name);
    if (!ip)
      return 2;
    auto p = published_ranges.find(*ip);
    return p != published_ranges.end() && *p->second == n.pod_cidrs ? 0 : 1;
  };
  for (int pass : {0, 1, 2})
    for (const auto& [name, n] : nodes)
      if (pass_of(name, n) == pass)
        reconcile(name, out, scratch);
  cold_start = false;
  desired_entries full;
  full.full = true;
  for (const auto& [_, e] : entries)
    full.upserted.push_back(e);
  out.to_publisher = std::move(full);
  spdlog::info("allocator: ready with {} nodes, {} entries ({} restored), {} free addresses",
               nodes.size(), entries.size(), restored, pool->free_count());
  update_metrics();
  return out;
}

void allocator_state::restore_from_snapshot(allocator_outbox& out) {
  // Published entries name their node (Name- keys); seed-format ConfigMaps only have the uid
  // (Host-) and the node IP, so fall back to those.
  std::map<std::string, std::string> by_uid;
  std::map<net::ip_address, std::string> by_ip;
  for (const auto& [name, n] : nodes) {
    if (!n.uid.empty())
      by_uid.emplace(n.uid, name);
    if (n.underlay_ip)
      by_ip.emplace(*n.underlay_ip, name);
  }
  auto restore = [&](const kube::node_entry& e) {
    std::string name;
    if (!e.name.empty() && nodes.count(e.name))
      name = e.name;
    else if (auto u = by_uid.find(e.uid); !e.uid.empty() && u != by_uid.end())
      name = u->second;
    else if (auto i = by_ip.find(e.node_ip); i != by_ip.end())
      name = i->second;
    if (name.empty()) {
      spdlog::info("allocator: published entry of {} ({}) belongs to no existing Node; its address "
                   "{} is free again",
                   e.name.empty() ? e.node_ip.to_string() : e.name, e.node_ip.to_string(),
                   e.overlay_ip.to_string());
      return;
    }
    if (auto rejected = pool->restore(name, e.overlay_ip)) {
      spdlog::warn("allocator: {}", rejected->message);
      out.events.push_back({name, nodes[name].uid, true, "OverlayIPConflict", rejected->message});
    }
  };
  for (const auto& e : snapshot->state().entries)
    restore(e);
  for (const auto& e : snapshot->partial())
    restore(e);
  // A hand edit that garbled a node's other keys (e.g. Node- or Host-) leaves its entry out of
  // both, but its Interface- key may still hold its address: keep that one rather than give the
  // node a new address (the fault campaign saw a node re-addressed after such an edit made while
  // no leader ran). A taken or unusable address is refused by the pool as above.
  for (const auto& [name, n] : nodes) {
    if (!n.underlay_ip || pool->lookup(name))
      continue;
    auto it = snapshot->data().find("Interface-" + kube::ip_key(*n.underlay_ip));
    auto ip = it == snapshot->data().end() ? std::nullopt : net::ip_address::parse(it->second);
    if (ip && !pool->restore(name, *ip))
      spdlog::info("allocator: Node {} keeps {} from its Interface- key (its entry is malformed)",
                   name, ip->to_string());
  }
}

void allocator_state::reconcile(const std::string& name, allocator_outbox& out,
                                desired_entries& delta) {
  auto it = nodes.find(name);
  if (it == nodes.end()) {
    forget(name, delta);
    return;
  }
  const auto& node = it->second;
  if (auto why = held_back(name, node, out)) {
    withdraw(name, *why, delta);
    return;
  }
  auto ip = address_for(name, node, out);
  if (!ip) {
    withdraw(name, "no overlay address", delta);
    return;
  }
  kube::node_entry entry{name, node.uid, *node.underlay_ip, *ip, std::nullopt, node.pod_cidrs};
  if (waiting.erase(name))
    spdlog::info("allocator: Node {} no longer waits", name);
  auto cur = entries.find(name);
  if (cur != entries.end() && cur->second == entry)
    return;
  set_entry(entry);
  delta.upserted.push_back(std::move(entry));
}

void allocator_state::forget(const std::string& name, desired_entries& delta) {
  if (auto freed = pool->release(name))
    spdlog::info("allocator: Node {} deleted, overlay address {} released", name,
                 freed->to_string());
  waiting.erase(name);
  note_refusal(name, nullptr);
  withdraw(name, "Node deleted", delta);
}

void allocator_state::withdraw(const std::string& name, const std::string& reason,
                               desired_entries& delta) {
  if (erase_entry(name)) {
    delta.removed.push_back(name);
    spdlog::debug("allocator: entry of Node {} withdrawn: {}", name, reason);
  }
}

std::optional<net::ip_address> allocator_state::address_for(const std::string& name,
                                                            const kube::entry_inputs& node,
                                                            allocator_outbox& out) {
  if (auto ip = pool->lookup(name))
    return ip;
  auto allocated = pool->allocate(name);
  if (!allocated) {
    bool exhausted = allocated.error().code == net::pool_errc::exhausted;
    set_waiting(name, exhausted ? "pool-exhausted" : "allocation-failed",
                "Node " + name + " gets no overlay address: " + allocated.error().message, true,
                out);
    return std::nullopt;
  }
  // A cold start allocates for every node at once: one summary line then, one line per node
  // afterwards.
  spdlog::log(cold_start ? spdlog::level::debug : spdlog::level::info,
              "allocator: Node {} ({}) gets overlay address {}", name,
              node.underlay_ip->to_string(), allocated->to_string());
  out.events.push_back({name, node.uid, false, "OverlayIPAllocated",
                        "allocated overlay IP " + allocated->to_string() + " for underlay IP " +
                            node.underlay_ip->to_string()});
  return *allocated;
}

void allocator_state::set_entry(const kube::node_entry& e) {
  if (auto cur = entries.find(e.name); cur != entries.end())
    by_node_ip.erase(cur->second.node_ip);
  by_node_ip[e.node_ip] = e.name;
  range_owners.assign(e.name, e.pod_cidrs);
  entries.insert_or_assign(e.name, e);
}

bool allocator_state::erase_entry(const std::string& name) {
  auto cur = entries.find(name);
  if (cur == entries.end())
    return false;
  by_node_ip.erase(cur->second.node_ip);
  range_owners.release(name);
  entries.erase(cur);
  return true;
}

void allocator_state::retry_waiting(allocator_outbox& out, desired_entries& delta) {
  if (waiting.empty())
    return;
  std::vector<std::string> names;
  for (const auto& [name, _] : waiting)
    names.push_back(name);
  for (const auto& name : names)
    reconcile(name, out, delta);
}

void allocator_state::update_metrics() const {
  if (!tel)
    return;
  tel->metrics.set_nodes(static_cast<double>(nodes.size()));
  if (pool)
    tel->metrics.set_overlay(static_cast<double>(pool->size()),
                             static_cast<double>(pool->free_count()));
  else
    tel->metrics.set_overlay(0, 0);
  std::map<std::string, double> by_kind;
  for (const char* kind : waiting_kinds)
    by_kind[kind] = 0;
  for (const auto& [_, w] : waiting)
    ++by_kind[w.kind];
  tel->metrics.set_nodes_waiting(by_kind);
}

// --- behaviour
// --------------------------------------------------------------------------------------

allocator_actor::behavior_type allocator(allocator_actor::stateful_pointer<allocator_state> self,
                                         controller_settings settings,
                                         std::shared_ptr<telemetry> tel, publisher_actor publisher,
                                         node_annotator_actor annotator,
                                         event_recorder_actor events) {
  self->state.settings = settings;
  self->state.tel = tel;
  if (tel)
    tel->health.expect("allocator", 3 * settings.config_sync_period);
  auto emit = [self, publisher, annotator, events](allocator_outbox out) {
    if (out.to_publisher) {
      out.to_publisher->term = self->state.term;
      if (annotator)
        self->send(annotator, *out.to_publisher);
      if (publisher)
        self->send(publisher, std::move(*out.to_publisher));
    }
    if (events)
      for (auto& m : out.events)
        self->send(events, std::move(m));
  };
  // Run: the periodic full reconcile.
  self->delayed_send(self, settings.config_sync_period, sync_atom::value);
  return {
      [=](node_upserted& m) { emit(self->state.on_upsert(std::move(m.node))); },
      [=](node_deleted& m) { emit(self->state.on_delete(m.name)); },
      [=](nodes_synced&) { emit(self->state.on_synced()); },
      [=](const published_snapshot& m) { emit(self->state.on_snapshot(m)); },
      [=](leadership& m) { emit(self->state.on_leadership(m.leading, m.term)); },
      [=](sync_atom) {
        auto start = std::chrono::steady_clock::now();
        emit(self->state.on_sync());
        if (tel) {
          tel->metrics.sync_done("allocator", std::chrono::steady_clock::now() - start, true);
          tel->health.beat("allocator");
          if (self->state.ready())
            tel->metrics.sync_succeeded("allocator"); // reconciled while leading
        }
        self->delayed_send(self, self->state.settings.config_sync_period, sync_atom::value);
      },
      [=](status_atom) { return self->state.status(); },
  };
}

} // namespace kcr::actors
