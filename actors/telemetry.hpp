// Health heartbeats and Prometheus metrics that every actor reports into.
//
// Both are thread-safe and shared (std::shared_ptr<telemetry>) between the actors, the feeder
// threads and the HTTP endpoints in app/. Health follows kube-router: each component records the
// time of its last successful sync; /healthz fails when one is older than its allowance.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace kcr::actors {

class health_registry {
public:
  using clock = std::chrono::steady_clock;

  /// Declares a component that must beat at least every `max_age`.
  void expect(const std::string& component, std::chrono::milliseconds max_age);
  /// Stops watching a component (e.g. the publisher side when this instance stops leading).
  void forget(const std::string& component);
  /// A successful sync of `component` just happened.
  void beat(const std::string& component);
  /// A readiness condition ("nodes listed", "local tunnel converged").
  void require_ready(const std::string& condition);
  void set_ready(const std::string& condition, bool ready);

  struct report {
    bool ok = true;
    std::string text; // one line per component / condition
  };
  report healthz() const;
  report readyz() const;

private:
  struct component {
    std::chrono::milliseconds max_age{0};
    clock::time_point last{};
    bool beaten = false;
  };
  mutable std::mutex mtx_;
  clock::time_point started_ = clock::now();
  std::map<std::string, component> components_;
  std::map<std::string, bool> ready_;
};

/// The controller's Prometheus metrics (names prefixed `kube_chorus_router_`).
class metrics {
public:
  metrics();

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  void sync_done(std::string_view actor, std::chrono::duration<double> took, bool ok);
  void set_nodes(double n) { nodes_->Set(n); }
  void set_overlay(double allocated, double free) {
    allocated_->Set(allocated);
    free_->Set(free);
  }
  void configmap_write(std::string_view result); // "ok", "conflict", "error", "created"
  void watch_restart(std::string_view resource, std::string_view why); // why: "relist", "rewatch"
  void set_leader(bool leading) { leader_->Set(leading ? 1 : 0); }
  void netlink_changes(int writes) { netlink_writes_->Increment(writes); }
  void tunnel_converge(std::string_view result); // "unchanged", "repaired", "created", "error"
  void event_emitted(std::string_view type);
  /// Node annotation patches by result ("set", "removed", "gone", "error").
  void node_annotation_patch(std::string_view result);
  /// The ConfigMap as the publisher would write it: JSON bytes and the sum of its values.
  void configmap_size(double encoded, double values);
  /// The ConfigMap as the server last answered it (managedFields included).
  void configmap_stored_bytes(double bytes) { cm_stored_->Set(bytes); }
  /// A write judged near or over a limit ("etcd_request", "values").
  void configmap_size_warning(std::string_view limit);
  /// A ConfigMap write stored this many bytes (the whole object, as spent of the write budget).
  void configmap_written(double bytes) { cm_written_->Increment(bytes); }
  /// A ConfigMap write went out after waiting this long for the write budget.
  void write_budget_wait(std::chrono::duration<double> waited) {
    budget_wait_->Increment(waited.count());
  }
  /// A node's pod range is refused (series {node, range, reason} = 1 until cleared).
  void pod_range_refused(const std::string& node, const std::string& range,
                         const std::string& reason);
  void pod_range_cleared(const std::string& node);
  /// Bytes exchanged with the API server by resource (kube::traffic_meter), read at scrape time:
  /// register it with the exposer next to registry().
  std::shared_ptr<prometheus::Collectable> api_traffic() const { return api_traffic_; }

private:
  prometheus::Counter& labelled(prometheus::Family<prometheus::Counter>& family,
                                std::string_view key, std::string_view value);

  std::shared_ptr<prometheus::Registry> registry_;
  std::mutex
      mtx_; // guards the label lookups (families are thread-safe; Add is, too, but cheap to cache)
  prometheus::Family<prometheus::Histogram>* sync_seconds_;
  prometheus::Family<prometheus::Counter>* sync_errors_;
  prometheus::Family<prometheus::Counter>* cm_writes_;
  prometheus::Family<prometheus::Counter>* watch_restarts_;
  prometheus::Family<prometheus::Counter>* converges_;
  prometheus::Family<prometheus::Counter>* events_;
  prometheus::Family<prometheus::Counter>* annotation_patches_;
  prometheus::Gauge* nodes_;
  prometheus::Gauge* allocated_;
  prometheus::Gauge* free_;
  prometheus::Gauge* leader_;
  prometheus::Counter* netlink_writes_;
  prometheus::Gauge* cm_encoded_;
  prometheus::Gauge* cm_values_;
  prometheus::Gauge* cm_stored_;
  prometheus::Family<prometheus::Counter>* size_warnings_;
  prometheus::Counter* budget_wait_;
  prometheus::Counter* cm_written_;
  prometheus::Family<prometheus::Gauge>* ranges_refused_;
  std::map<std::string, prometheus::Gauge*> refused_by_node_; // guarded by mtx_
  std::shared_ptr<prometheus::Collectable> api_traffic_;
};

struct telemetry {
  health_registry health;
  actors::metrics metrics;
};

} // namespace kcr::actors
