// An in-memory fake of the node annotation port (actors/ports.hpp): Nodes with one annotation
// each and a resourceVersion from one global counter, as the API server keeps them. A patch of a
// missing Node is a 404; failures are injected per verb ("patch") through fake_call_log.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "actors/messages.hpp"
#include "actors/ports.hpp"
#include "fake_ports.hpp"

namespace kcr::test {

class fake_node_port : public actors::node_annotation_port, public fake_call_log {
public:
  /// A Node appears (kubelet registration), with or without the annotation.
  actors::node_annotation_seen add(const std::string& node,
                                   std::optional<std::string> value = std::nullopt) {
    std::lock_guard guard{mtx_};
    nodes_[node] = {std::move(value), ++version_};
    return seen_locked(node);
  }
  void remove(const std::string& node) {
    std::lock_guard guard{mtx_};
    nodes_.erase(node);
  }
  /// kubectl annotate --overwrite (or a removal): not through the port, bumps the version.
  actors::node_annotation_seen hand_edit(const std::string& node,
                                         std::optional<std::string> value) {
    std::lock_guard guard{mtx_};
    nodes_.at(node) = {std::move(value), ++version_};
    return seen_locked(node);
  }
  /// The Node as its watch would deliver it now.
  actors::node_annotation_seen seen(const std::string& node) const {
    std::lock_guard guard{mtx_};
    return seen_locked(node);
  }
  std::optional<std::string> value(const std::string& node) const {
    std::lock_guard guard{mtx_};
    auto it = nodes_.find(node);
    return it == nodes_.end() ? std::nullopt : it->second.value;
  }
  /// Node -> annotation, annotated Nodes only.
  std::map<std::string, std::string> annotations() const {
    std::lock_guard guard{mtx_};
    std::map<std::string, std::string> out;
    for (const auto& [name, n] : nodes_)
      if (n.value)
        out[name] = *n.value;
    return out;
  }
  /// Successful patches in order: (node, value; none = removed).
  std::vector<std::pair<std::string, std::optional<std::string>>> patches() const {
    std::lock_guard guard{mtx_};
    return patches_;
  }

  actors::outcome<std::string> patch(const std::string& node, const std::string& key,
                                     const std::optional<std::string>& value) override {
    auto v = enter("patch");
    if (v.failure)
      return *v.failure;
    std::lock_guard guard{mtx_};
    auto it = nodes_.find(node);
    if (it == nodes_.end())
      return not_found_failure("nodes", node);
    if (key != actors::overlay_ip_annotation)
      return http_failure(422, "Invalid", "unexpected annotation key " + key);
    it->second = {value, ++version_};
    patches_.emplace_back(node, value);
    return std::to_string(version_);
  }

private:
  struct node_state {
    std::optional<std::string> value;
    int64_t version = 0;
  };
  actors::node_annotation_seen seen_locked(const std::string& node) const {
    auto it = nodes_.find(node);
    if (it == nodes_.end())
      return {node, false, std::nullopt, ""};
    return {node, true, it->second.value, std::to_string(it->second.version)};
  }

  mutable std::mutex mtx_;
  std::map<std::string, node_state> nodes_;
  std::vector<std::pair<std::string, std::optional<std::string>>> patches_;
  int64_t version_ = 100;
};

} // namespace kcr::test
