// Health heartbeats and Prometheus metrics that every actor reports into.
//
// Both are thread-safe and shared (std::shared_ptr<telemetry>) between the actors, the feeder
// threads and the HTTP endpoints in app/. Health has two answers. /healthz (liveness) asks only
// whether the process's own loops run: each loop beats `alive` however its work went, so an API
// outage of any length never restarts the pods, while a deadlocked actor does. /readyz
// (readiness) asks whether the work succeeds: conditions (`set_ready`) and the freshness of each
// component's last successful sync (`expect` / `beat`, kube-router's heartbeats), which an API
// outage does make stale.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace kcr::actors {

class health_registry {
public:
  using clock = std::chrono::steady_clock;

  /// Readiness: `component` must sync successfully at least every `max_age`.
  void expect(const std::string& component, std::chrono::milliseconds max_age);
  /// Stops watching a component (e.g. the publisher side when this instance stops leading).
  void forget(const std::string& component);
  /// A successful sync of `component` just happened.
  void beat(const std::string& component);
  /// Liveness: `loop` must show it runs (processes messages, fires timers) every `max_age`.
  void expect_alive(const std::string& loop, std::chrono::milliseconds max_age);
  void alive(const std::string& loop);
  /// A readiness condition ("nodes listed", "local tunnel converged").
  void require_ready(const std::string& condition);
  /// `detail` (e.g. what to do about it) follows the condition's name on its /readyz line.
  void set_ready(const std::string& condition, bool ready, std::string detail = {});

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
  struct condition {
    bool ready = false;
    std::string detail;
  };
  // One line per component; false when stale. `what` names the kind of beat ("sync", "answer").
  bool judge(const std::map<std::string, component>& all, const char* what,
             std::string& text) const;
  mutable std::mutex mtx_;
  clock::time_point started_ = clock::now();
  std::map<std::string, component> components_; // readiness: last successful sync
  std::map<std::string, component> loops_;      // liveness: last sign of life
  std::map<std::string, condition> ready_;
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
  /// Also decides whether the leader-only series are exported (see exported()).
  void set_leader(bool leading) {
    leader_->Set(leading ? 1 : 0);
    *leading_ = leading;
  }
  /// kube_chorus_router_build_info{version, revision} 1 (app/version.hpp knows them).
  void set_build_info(const std::string& version, const std::string& revision);
  /// A sync of `actor` succeeded: kube_chorus_router_last_sync_success_timestamp_seconds{actor}
  /// is now. The leader's actors (allocator, publisher, node_annotator) are exported while
  /// leading only: a follower's would only grow stale.
  void sync_succeeded(std::string_view actor);
  /// Nodes whose entry waits, by reason (short labels); a reason not given reads 0. Leader only.
  void set_nodes_waiting(const std::map<std::string, double>& by_reason);
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
  /// The tunnel's effective rp_filter is strict (1): the node drops the device's packets.
  void set_rp_filter_strict(bool strict) { rp_filter_strict_->Set(strict ? 1 : 0); }
  /// Bytes exchanged with the API server by resource (kube::traffic_meter), read at scrape time:
  /// register it with the exposer next to registry().
  std::shared_ptr<prometheus::Collectable> api_traffic() const { return api_traffic_; }
  /// What /metrics shows, each to register with the exposer: registry() without the leader-only
  /// series while this instance does not lead (absent, not 0: a follower's 0/0 pool would read
  /// as an exhausted one), the API traffic, the process metrics (process_*).
  std::vector<std::shared_ptr<prometheus::Collectable>> exported() const;

private:
  prometheus::Counter& labelled(prometheus::Family<prometheus::Counter>& family,
                                std::string_view key, std::string_view value);
  // Parts of the constructor, called in registration order.
  void register_configmap_families(prometheus::Registry& reg);
  void register_state_families(prometheus::Registry& reg);

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
  prometheus::Gauge* rp_filter_strict_;
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
  std::shared_ptr<std::atomic<bool>> leading_ = std::make_shared<std::atomic<bool>>(false);
  prometheus::Family<prometheus::Gauge>* build_info_;
  prometheus::Family<prometheus::Gauge>* last_sync_;
  prometheus::Family<prometheus::Gauge>* nodes_waiting_;
  std::map<std::string, prometheus::Gauge*> waiting_by_reason_; // guarded by mtx_
  std::shared_ptr<prometheus::Collectable> exported_; // registry_ seen through the leader gate
  std::shared_ptr<prometheus::Collectable> process_;
};

struct telemetry {
  health_registry health;
  actors::metrics metrics;
};

} // namespace kcr::actors
