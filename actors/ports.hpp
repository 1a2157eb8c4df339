// The side effects the actors need from the Kubernetes API, as narrow interfaces.
//
// Production adapters wrap kube::api_client (app/kube_ports.cpp); actor tests pass fakes.
// Calls block: actors that own a port run detached (their own thread) in production and on the
// test coordinator in tests. No exception crosses these interfaces: failures are values.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kube/api_failure.hpp"

namespace kcr::actors {

/// Why an API call failed: the Kubernetes client's own failure value (kube/api_failure.hpp:
/// code, reason, message, the predicates is_conflict(), is_not_found(), ...), passed on as is.
using api_failure = kube::api_failure;

/// A value or an api_failure: the client's api_result (net/result.hpp, the one result type
/// below CAF).
template <class T>
using outcome = kube::api_result<T>;

/// The one ConfigMap the controller publishes.
struct configmap_object {
  std::string resource_version;
  std::map<std::string, std::string> data;
  std::size_t stored_bytes = 0; // the server's answer as JSON, managedFields included (0: unknown)
};

/// What a successful patch returns: the new resourceVersion and the size of the stored object.
struct patch_receipt {
  std::string resource_version;
  std::size_t stored_bytes = 0; // the server's answer as JSON (0: unknown)
};

/// Changes to a ConfigMap's data: key -> new value, or nullopt to remove the key.
using data_changes = std::vector<std::pair<std::string, std::optional<std::string>>>;

class configmap_port {
public:
  virtual ~configmap_port() = default;
  /// The ConfigMap, or nullopt when it does not exist (404).
  virtual outcome<std::optional<configmap_object>> get() = 0;
  /// POST; AlreadyExists when someone created it first.
  virtual outcome<configmap_object> create(const std::map<std::string, std::string>& data) = 0;
  /// JSON merge patch of `data` (a value sets a key, nullopt removes it) with `resource_version`
  /// as the precondition: a stale version is a conflict (409), a missing object NotFound.
  /// A patch carries only what changed (at 5000 nodes one Node change is a few hundred bytes
  /// instead of the whole 1 MiB object) and resets managedFields, so that the stored object stays
  /// the size of its data.
  virtual outcome<patch_receipt> patch(const std::string& resource_version,
                                       const data_changes& changes) = 0;
  /// Posts a Warning Event about the ConfigMap itself (its size). Rare, so not deduplicated.
  virtual outcome<bool> warn(const std::string& reason, const std::string& message) = 0;
};

/// coordination.k8s.io/v1 Lease spec plus its resourceVersion.
struct lease_record {
  std::string holder;
  int lease_duration_seconds = 0;
  std::string acquire_time; // RFC 3339 with microseconds, informative only
  std::string renew_time;
  int transitions = 0;
  std::string resource_version;
  bool operator==(const lease_record&) const = default;
};

class lease_port {
public:
  virtual ~lease_port() = default;
  /// The Lease, or nullopt when it does not exist.
  virtual outcome<std::optional<lease_record>> get() = 0;
  /// POST; a lost race is AlreadyExists.
  virtual outcome<lease_record> create(const lease_record& lease) = 0;
  /// PUT with `lease.resource_version` as the precondition.
  virtual outcome<lease_record> update(const lease_record& lease) = 0;
};

/// The publisher's writes to Nodes: one annotation each, nothing else.
class node_annotation_port {
public:
  virtual ~node_annotation_port() = default;
  /// JSON merge patch of `metadata.annotations[key]` of Node `node` (a value sets it, nullopt
  /// removes it), unconditional: no other field is sent, so there is nothing to conflict with.
  /// Returns the Node's new resourceVersion; NotFound when the Node is gone.
  virtual outcome<std::string> patch(const std::string& node, const std::string& key,
                                     const std::optional<std::string>& value) = 0;
};

/// Kubernetes Events about Nodes (namespace `default`, as for every cluster-scoped object).
struct event_record {
  std::string node;
  std::string uid;
  bool warning = false;
  std::string reason;
  std::string message;
  int count = 1;
  std::string name; // metadata.name once created; set by the port
};

class event_port {
public:
  virtual ~event_port() = default;
  /// POST a new Event; returns it with its metadata.name.
  virtual outcome<event_record> create(const event_record& e) = 0;
  /// PATCH count / lastTimestamp / message of an Event created before.
  virtual outcome<event_record> update_count(const event_record& e) = 0;
};

} // namespace kcr::actors
