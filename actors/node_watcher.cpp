// node_watcher: see node_watcher.hpp.
#include "actors/node_watcher.hpp"

#include <algorithm>
#include <set>
#include <variant>

#include <spdlog/spdlog.h>

#include "actors/text.hpp"

namespace kcr::actors {

namespace {

// What this state reads of a Node later: its entry inputs and problems, the overlay annotation
// and the resourceVersion. Labels, the other annotations, the address lists and taints are read
// by no one here, so they are not held (at 5000 Nodes they are most of what a Node weighs).
kube::node_info kept(kube::node_info n) {
  n.labels.clear();
  std::erase_if(n.annotations, [](const auto& kv) { return kv.first != overlay_ip_annotation; });
  n.internal_ips.clear();
  n.external_ips.clear();
  n.taints.clear();
  return n;
}

} // namespace

node_watcher_outbox node_watcher_state::listed_all(std::vector<kube::node_info> all) {
  node_watcher_outbox out;
  std::set<std::string> present;
  size_t upserts = 0;
  for (auto& n : all) {
    present.insert(n.name);
    if (store_and_forward(std::move(n), out))
      ++upserts;
  }
  // Whatever we knew that the list no longer has was deleted while the watch was away.
  size_t deletes = 0;
  for (auto it = nodes.begin(); it != nodes.end();) {
    if (present.contains(it->first)) {
      ++it;
      continue;
    }
    spdlog::info("node_watcher: node {} vanished while the watch was down", it->first);
    out.to_allocator.emplace_back(node_deleted{it->first});
    report_gone(it->first, out);
    reported.erase(it->first);
    it = nodes.erase(it);
    ++deletes;
  }
  if (!listed)
    spdlog::info("node_watcher: listed {} nodes", nodes.size());
  else
    spdlog::debug("node_watcher: relisted {} nodes ({} changed, {} gone)", nodes.size(), upserts,
                  deletes);
  listed = true;
  if (tel)
    tel->health.set_ready("nodes listed", true);
  maybe_synced(out);
  record_progress();
  return out;
}

void node_watcher_state::maybe_synced(node_watcher_outbox& out) const {
  if (listed && objects_listed)
    out.to_allocator.emplace_back(nodes_synced{nodes.size()});
}

node_watcher_outbox node_watcher_state::chose(kube::pod_cidr_source s) {
  source = s;
  objects_listed = !uses_objects();
  if (!objects_listed && tel)
    tel->health.require_ready("pod range objects listed");
  return {};
}

kube::node_info node_watcher_state::effective(const kube::node_info& raw) const {
  auto n = raw;
  if (!uses_objects())
    return n;
  std::vector<net::cidr> ranges;
  if (auto it = by_node.find(raw.name); it != by_node.end())
    for (const auto& name : it->second)
      for (const auto& r : objects.at(name).ranges)
        ranges.push_back(r);
  kube::apply_object_ranges(n, source, ranges);
  return n;
}

std::set<std::string> node_watcher_state::put_object(const std::string& name,
                                                     std::optional<kube::range_object> o) {
  std::set<std::string> affected;
  if (auto it = objects.find(name); it != objects.end()) {
    const auto& node = it->second.node;
    affected.insert(node);
    if (auto b = by_node.find(node);
        b != by_node.end() && (b->second.erase(name), b->second.empty()))
      by_node.erase(b);
    objects.erase(it);
  }
  if (o) {
    affected.insert(o->node);
    by_node[o->node].insert(name);
    objects.emplace(name, std::move(*o));
  }
  return affected;
}

void node_watcher_state::refresh(const std::string& node, const kube::node_info& before,
                                 node_watcher_outbox& out) {
  auto it = nodes.find(node);
  if (it == nodes.end())
    return; // objects of a Node not (yet) seen: they apply when it appears
  auto now = effective(it->second);
  report_problems(now, out);
  if (kube::same_entry_inputs(before, now))
    return;
  spdlog::info("node_watcher: node {} has new pod ranges from its {}", node,
               kube::range_resource_for(source)->qualified());
  out.to_allocator.emplace_back(node_upserted{kube::entry_inputs{now}});
}

node_watcher_outbox node_watcher_state::objects_all(std::vector<kube::range_object> all) {
  node_watcher_outbox out;
  std::set<std::string> affected;
  for (const auto& [node, _] : by_node)
    affected.insert(node);
  for (const auto& o : all)
    affected.insert(o.node);
  std::map<std::string, kube::node_info> before;
  for (const auto& node : affected)
    if (auto it = nodes.find(node); it != nodes.end())
      before.emplace(node, effective(it->second));
  objects.clear();
  by_node.clear();
  for (auto& o : all) {
    auto name = o.name;
    put_object(name, std::move(o));
  }
  for (const auto& [node, b] : before)
    refresh(node, b, out);
  if (!objects_listed) {
    spdlog::info("node_watcher: listed {} {}", objects.size(),
                 kube::range_resource_for(source)->qualified());
    objects_listed = true;
    for (const auto& [_, n] : nodes)
      report_problems(effective(n), out); // held back until now
    if (tel)
      tel->health.set_ready("pod range objects listed", true);
    maybe_synced(out);
  }
  record_progress();
  return out;
}

node_watcher_outbox node_watcher_state::object_changed(kube::range_object o) {
  node_watcher_outbox out;
  auto name = o.name;
  std::map<std::string, kube::node_info> before;
  for (const auto& node : {o.node, objects.count(name) ? objects.at(name).node : o.node})
    if (auto it = nodes.find(node); it != nodes.end())
      before.emplace(node, effective(it->second));
  put_object(name, std::move(o));
  for (const auto& [node, b] : before)
    refresh(node, b, out);
  record_progress();
  return out;
}

node_watcher_outbox node_watcher_state::object_removed(const std::string& name) {
  node_watcher_outbox out;
  auto it = objects.find(name);
  if (it == objects.end())
    return out;
  auto node = it->second.node;
  std::optional<kube::node_info> before;
  if (auto n = nodes.find(node); n != nodes.end())
    before = effective(n->second);
  put_object(name, std::nullopt);
  if (before)
    refresh(node, *before, out);
  record_progress();
  return out;
}

node_watcher_outbox node_watcher_state::changed(kube::node_info node) {
  node_watcher_outbox out;
  store_and_forward(std::move(node), out);
  record_progress();
  return out;
}

node_watcher_outbox node_watcher_state::removed(const std::string& name) {
  node_watcher_outbox out;
  // Forwarded even when unknown: a delete is idempotent downstream, and the allocator may know
  // the node from the published ConfigMap.
  if (nodes.erase(name) == 0)
    spdlog::debug("node_watcher: DELETED for unknown node {}", name);
  else
    spdlog::info("node_watcher: node {} deleted", name);
  reported.erase(name);
  out.to_allocator.emplace_back(node_deleted{name});
  report_gone(name, out);
  record_progress();
  return out;
}

bool node_watcher_state::store_and_forward(kube::node_info node, node_watcher_outbox& out) {
  auto now = effective(node);
  if (objects_listed) // before, every node would lack the ranges its objects give it
    report_problems(now, out);
  auto it = nodes.find(node.name);
  bool forward = it == nodes.end() || !kube::same_entry_inputs(effective(it->second), now);
  if (forward) {
    if (it == nodes.end())
      spdlog::debug("node_watcher: node {} added", node.name);
    else
      spdlog::info("node_watcher: node {} changed its entry inputs", node.name);
    out.to_allocator.emplace_back(node_upserted{kube::entry_inputs{now}});
  }
  report_annotation(it == nodes.end() ? nullptr : &it->second, node, out);
  auto name = node.name;
  nodes.insert_or_assign(std::move(name), kept(std::move(node)));
  return forward;
}

void node_watcher_state::report_problems(const kube::node_info& node, node_watcher_outbox& out) {
  auto problems = node.problems;
  std::sort(problems.begin(), problems.end());
  auto it = reported.find(node.name);
  if (problems.empty()) {
    if (it != reported.end()) {
      spdlog::info("node_watcher: node {} has no more problems", node.name);
      reported.erase(it);
    }
    return;
  }
  if (it != reported.end() && it->second == problems)
    return;
  reported[node.name] = problems;
  bool waits = !node.ready_for_entry();
  auto text = join(node.problems);
  spdlog::warn("node_watcher: node {}{}: {}", node.name,
               waits ? " cannot have an overlay entry yet" : " has problems", text);
  out.events.push_back(
      node_event{node.name, node.uid, true,
                 waits ? reason_not_ready_for_overlay : reason_overlay_input_warning, text});
}

namespace {

std::optional<std::string> overlay_annotation(const kube::node_info& n) {
  auto it = n.annotations.find(overlay_ip_annotation);
  if (it == n.annotations.end())
    return std::nullopt;
  return it->second;
}

} // namespace

void node_watcher_state::report_annotation(const kube::node_info* before,
                                           const kube::node_info& now, node_watcher_outbox& out) {
  auto value = overlay_annotation(now);
  if (before && overlay_annotation(*before) == value)
    return; // heartbeats and other changes: nothing for the annotator
  out.to_annotator.push_back(
      node_annotation_seen{now.name, true, std::move(value), now.resource_version});
}

void node_watcher_state::report_gone(const std::string& name, node_watcher_outbox& out) {
  out.to_annotator.push_back(node_annotation_seen{name, false, std::nullopt, ""});
}

void node_watcher_state::record_progress() {
  if (tel) {
    tel->metrics.set_nodes(static_cast<double>(nodes.size()));
    tel->health.beat("node_watcher");
  }
}

node_watcher_actor::behavior_type
node_watcher(node_watcher_actor::stateful_pointer<node_watcher_state> self,
             allocator_actor allocator, node_annotator_actor annotator,
             event_recorder_actor recorder, std::shared_ptr<telemetry> tel) {
  auto& st = self->state;
  st.tel = std::move(tel);
  if (st.tel)
    st.tel->health.require_ready("nodes listed");
  // The one place this actor sends. A missing annotator or recorder drops its part.
  auto emit = [self, allocator, annotator, recorder](node_watcher_outbox out) {
    for (auto& m : out.to_allocator)
      std::visit([&](auto& x) { self->send(allocator, std::move(x)); }, m);
    if (annotator)
      for (auto& m : out.to_annotator)
        self->send(annotator, std::move(m));
    if (recorder)
      for (auto& m : out.events)
        self->send(recorder, std::move(m));
  };
  return {
      [=](nodes_listed& x) { emit(self->state.listed_all(std::move(x.nodes))); },
      [=](node_changed& x) { emit(self->state.changed(std::move(x.node))); },
      [=](node_removed& x) { emit(self->state.removed(x.name)); },
      [=](pod_source_chosen& x) { emit(self->state.chose(x.source)); },
      [=](range_objects_listed& x) { emit(self->state.objects_all(std::move(x.objects))); },
      [=](range_object_changed& x) { emit(self->state.object_changed(std::move(x.object))); },
      [=](range_object_removed& x) { emit(self->state.object_removed(x.name)); },
  };
}

} // namespace kcr::actors
