#include "actors/allocator.hpp"

#include <chrono>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/text.hpp"

namespace kcr::actors {

namespace {

const char* not_ready_kind(const kube::node_info& n) {
  return n.underlay_ip ? "no-pod-range" : "no-address";
}

std::string why_not_ready(const kube::node_info& n) {
  if (!n.problems.empty())
    return join(n.problems);
  if (!n.underlay_ip)
    return "Node " + n.name + " has no usable InternalIP/ExternalIP address";
  return "Node " + n.name + " has no pod CIDR (spec.podCIDRs, spec.podCIDR or a CNI annotation)";
}

} // namespace

// --- inputs
// ---------------------------------------------------------------------------------------

allocator_outbox allocator_state::on_upsert(kube::node_info node) {
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

std::string allocator_state::status() const {
  std::string s = std::string{"allocator "} + (leading ? "leading" : "following") +
                  (synced ? " synced" : " listing") + (snapshot ? " seen-configmap" : "") +
                  (ready() ? " ready" : " not-ready") + " nodes=" + std::to_string(nodes.size()) +
                  " entries=" + std::to_string(entries.size()) +
                  " waiting=" + std::to_string(waiting.size());
  if (pool)
    s += " free=" + std::to_string(pool->free_count());
  return s;
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
  bulk = true;
  // Published nodes first: of two nodes claiming one underlay IP or pod range, the one the
  // device already routes to keeps it across a restart or a failover.
  for (bool published : {true, false})
    for (const auto& [name, _] : nodes)
      if (pool->lookup(name).has_value() == published)
        reconcile(name, out, scratch);
  bulk = false;
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
}

void allocator_state::reconcile(const std::string& name, allocator_outbox& out,
                                desired_entries& delta) {
  auto withdraw = [&](const std::string& reason) {
    if (erase_entry(name)) {
      delta.removed.push_back(name);
      spdlog::debug("allocator: entry of Node {} withdrawn: {}", name, reason);
    }
  };

  auto it = nodes.find(name);
  if (it == nodes.end()) {
    if (auto freed = pool->release(name))
      spdlog::info("allocator: Node {} deleted, overlay address {} released", name,
                   freed->to_string());
    waiting.erase(name);
    note_refusal(name, nullptr);
    withdraw("Node deleted");
    return;
  }
  const auto& node = it->second;
  if (!node.ready_for_entry()) {
    // Keep an address it already holds (stable across the gap); give it none until it is usable.
    withdraw(why_not_ready(node));
    set_waiting(name, not_ready_kind(node), why_not_ready(node), false, out);
    note_refusal(name, nullptr);
    return;
  }
  // Two Nodes reporting one underlay IP would share the Node-<ip> keys: the first one keeps it.
  if (auto owner = by_node_ip.find(*node.underlay_ip);
      owner != by_node_ip.end() && owner->second != name) {
    auto other = owner->second;
    withdraw("duplicate underlay IP");
    note_refusal(name, nullptr); // its ranges are not judged while it waits for this
    set_waiting(name, "duplicate-ip",
                "Node " + name + " reports underlay IP " + node.underlay_ip->to_string() +
                    ", which Node " + other + " already publishes",
                true, out);
    return;
  }
  auto refusal = refuse_ranges(name, node);
  note_refusal(name, refusal ? &*refusal : nullptr);
  if (refusal) {
    withdraw("pod range refused");
    set_waiting(name, "pod-range-refused",
                "pod range " + refusal->range.to_string() + " of Node " + name +
                    " refused: " + refusal->why.detail + "; the node's entry waits",
                true, out, "PodRangeRefused");
    return;
  }
  auto ip = pool->lookup(name);
  bool fresh = false;
  if (!ip) {
    auto allocated = pool->allocate(name);
    if (!allocated) {
      withdraw(allocated.error().message);
      bool exhausted = allocated.error().code == net::pool_errc::exhausted;
      set_waiting(name, exhausted ? "pool-exhausted" : "allocation-failed",
                  "Node " + name + " gets no overlay address: " + allocated.error().message, true,
                  out);
      return;
    }
    ip = *allocated;
    fresh = true;
  }
  kube::node_entry entry{name, node.uid, *node.underlay_ip, *ip, std::nullopt, node.pod_cidrs};
  if (waiting.erase(name))
    spdlog::info("allocator: Node {} no longer waits", name);
  if (fresh) {
    // A cold start allocates for every node at once: one summary line then, one line per node
    // afterwards.
    spdlog::log(bulk ? spdlog::level::debug : spdlog::level::info,
                "allocator: Node {} ({}) gets overlay address {}", name,
                node.underlay_ip->to_string(), ip->to_string());
    out.events.push_back({name, node.uid, false, "OverlayIPAllocated",
                          "allocated overlay IP " + ip->to_string() + " for underlay IP " +
                              node.underlay_ip->to_string()});
  }
  auto cur = entries.find(name);
  if (cur != entries.end() && cur->second == entry)
    return;
  set_entry(entry);
  delta.upserted.push_back(std::move(entry));
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

void allocator_state::set_waiting(const std::string& name, const char* kind,
                                  const std::string& reason, bool warn, allocator_outbox& out,
                                  const char* event_reason) {
  auto& current = waiting[name];
  current.kind = kind;
  if (current.text == reason)
    return; // logged once, not per sync
  current.text = reason;
  spdlog::warn("allocator: entry of Node {} waits: {}", name, reason);
  if (warn) {
    auto n = nodes.find(name);
    out.events.push_back(
        {name, n == nodes.end() ? "" : n->second.uid, true,
         current.kind == "pool-exhausted" ? "OverlayNetworkExhausted" : event_reason, reason});
  }
}

std::optional<allocator_state::range_refused>
allocator_state::refuse_ranges(const std::string& name, const kube::node_info& node) const {
  const net::range_rules rules{settings.pod_networks, settings.overlay_network};
  for (const auto& range : node.pod_cidrs) {
    auto refuse = [&](std::string reason, std::string detail) {
      return range_refused{range, {std::move(reason), std::move(detail)}};
    };
    if (auto why = net::check_range(range, rules))
      return range_refused{range, *why};
    // Node addresses are sorted: the first at or after the range's start is the only candidate.
    if (auto it = node_ips.lower_bound(range.network().address());
        it != node_ips.end() && range.contains(it->first))
      return refuse("node-ip", "contains the underlay address " + it->first.to_string() +
                                   " of Node " + it->second);
    if (range.contains(settings.remote_vtep))
      return refuse("device-ip",
                    "contains the device's address " + settings.remote_vtep.to_string());
    if (auto c = range_owners.find_conflict(range, name))
      return refuse("overlap", "overlaps " + c->range.to_string() + ", which Node " + c->owner +
                                   " already publishes");
  }
  return std::nullopt;
}

void allocator_state::note_refusal(const std::string& name, const range_refused* r) {
  auto it = refused.find(name);
  std::string label = r ? r->range.to_string() + " " + r->why.reason : "";
  if (it != refused.end() && it->second == label)
    return;
  if (tel && it != refused.end())
    tel->metrics.pod_range_cleared(name);
  if (!r) {
    if (it != refused.end())
      refused.erase(it);
    return;
  }
  refused[name] = label;
  if (tel)
    tel->metrics.pod_range_refused(name, r->range.to_string(), r->why.reason);
}

void allocator_state::track_node_ip(const std::string& name, const kube::node_info* node) {
  if (auto old = nodes.find(name); old != nodes.end() && old->second.underlay_ip) {
    auto [first, last] = node_ips.equal_range(*old->second.underlay_ip);
    for (auto it = first; it != last; ++it)
      if (it->second == name) {
        node_ips.erase(it);
        break;
      }
  }
  if (node && node->underlay_ip)
    node_ips.emplace(*node->underlay_ip, name);
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
