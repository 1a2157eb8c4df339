// node_watcher: see node_watcher.hpp.
#include "actors/node_watcher.hpp"

#include <algorithm>
#include <set>

#include <spdlog/spdlog.h>

#include "actors/text.hpp"

namespace kcr::actors {

void node_watcher_state::listed_all(std::vector<kube::node_info> all) {
  std::set<std::string> present;
  size_t upserts = 0;
  for (auto& n : all) {
    present.insert(n.name);
    if (remember(std::move(n)))
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
    self->send(allocator, node_deleted{it->first});
    report_gone(it->first);
    reported.erase(it->first);
    it = nodes.erase(it);
    ++deletes;
  }
  self->send(allocator, nodes_synced{nodes.size()});
  if (!listed)
    spdlog::info("node_watcher: listed {} nodes", nodes.size());
  else
    spdlog::debug("node_watcher: relisted {} nodes ({} changed, {} gone)", nodes.size(), upserts,
                  deletes);
  listed = true;
  if (tel)
    tel->health.set_ready("nodes listed", true);
  done();
}

void node_watcher_state::changed(kube::node_info node) {
  remember(std::move(node));
  done();
}

void node_watcher_state::removed(const std::string& name) {
  // Forwarded even when unknown: a delete is idempotent downstream, and the allocator may know
  // the node from the published ConfigMap.
  if (nodes.erase(name) == 0)
    spdlog::debug("node_watcher: DELETED for unknown node {}", name);
  else
    spdlog::info("node_watcher: node {} deleted", name);
  reported.erase(name);
  self->send(allocator, node_deleted{name});
  report_gone(name);
  done();
}

bool node_watcher_state::remember(kube::node_info node) {
  report_problems(node);
  auto it = nodes.find(node.name);
  bool forward = it == nodes.end() || !kube::same_entry_inputs(it->second, node);
  if (forward) {
    if (it == nodes.end())
      spdlog::debug("node_watcher: node {} added", node.name);
    else
      spdlog::info("node_watcher: node {} changed its entry inputs", node.name);
    self->send(allocator, node_upserted{node});
  }
  report_annotation(it == nodes.end() ? nullptr : &it->second, node);
  auto name = node.name;
  nodes.insert_or_assign(std::move(name), std::move(node));
  return forward;
}

void node_watcher_state::report_problems(const kube::node_info& node) {
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
  if (recorder)
    self->send(recorder,
               node_event{node.name, node.uid, true,
                          waits ? reason_not_ready_for_overlay : reason_overlay_input_warning,
                          text});
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
                                           const kube::node_info& now) {
  if (!annotator)
    return;
  auto value = overlay_annotation(now);
  if (before && overlay_annotation(*before) == value)
    return; // heartbeats and other changes: nothing for the annotator
  self->send(annotator,
             node_annotation_seen{now.name, true, std::move(value), now.resource_version});
}

void node_watcher_state::report_gone(const std::string& name) {
  if (annotator)
    self->send(annotator, node_annotation_seen{name, false, std::nullopt, ""});
}

void node_watcher_state::done() {
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
  st.self = self;
  st.allocator = std::move(allocator);
  st.annotator = std::move(annotator);
  st.recorder = std::move(recorder);
  st.tel = std::move(tel);
  if (st.tel)
    st.tel->health.require_ready("nodes listed");
  return {
      [=](nodes_listed& x) { self->state.listed_all(std::move(x.nodes)); },
      [=](node_changed& x) { self->state.changed(std::move(x.node)); },
      [=](node_removed& x) { self->state.removed(x.name); },
  };
}

} // namespace kcr::actors
