#include "actors/telemetry.hpp"

#include <algorithm>
#include <set>

#include <prometheus/family.h>
#include <prometheus/metric_family.h>

#include "actors/process_metrics.hpp"
#include "kube/traffic.hpp"

namespace kcr::actors {

namespace {

// Two counter families read from kube::traffic_meter at every scrape.
class api_traffic_collector final : public prometheus::Collectable {
public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily in{"kube_chorus_router_api_received_bytes_total",
                                "Bytes received from the API server by resource (answers and "
                                "watch streams, headers included)",
                                prometheus::MetricType::Counter,
                                {}};
    prometheus::MetricFamily out{"kube_chorus_router_api_sent_bytes_total",
                                 "Bytes sent to the API server by resource (requests, headers "
                                 "included)",
                                 prometheus::MetricType::Counter,
                                 {}};
    const auto& meter = kube::traffic_meter::process();
    for (auto resource : kube::traffic_meter::resources) {
      auto t = meter.of(resource);
      auto sample = [&](double v) {
        prometheus::ClientMetric m;
        m.label.push_back({"resource", std::string{resource}});
        m.counter.value = v;
        return m;
      };
      in.metric.push_back(sample(static_cast<double>(t.received)));
      out.metric.push_back(sample(static_cast<double>(t.sent)));
    }
    return {std::move(in), std::move(out)};
  }
};

// The registry as /metrics shows it: while this instance does not lead, the leader's series are
// left out (absent, not 0), so only the leader's values reach sums, ratios and alerts.
class leader_gate final : public prometheus::Collectable {
public:
  leader_gate(std::shared_ptr<prometheus::Registry> registry,
              std::shared_ptr<const std::atomic<bool>> leading)
      : registry_(std::move(registry)), leading_(std::move(leading)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    auto families = registry_->Collect();
    if (*leading_)
      return families;
    std::erase_if(families, [](const auto& f) { return leader_only.count(f.name) > 0; });
    for (auto& f : families)
      if (f.name == last_sync_name)
        std::erase_if(f.metric, [](const prometheus::ClientMetric& m) {
          return std::any_of(m.label.begin(), m.label.end(), [](const auto& l) {
            return l.name == "actor" && leader_actors.count(l.value) > 0;
          });
        });
    return families;
  }

  static inline const std::string last_sync_name =
      "kube_chorus_router_last_sync_success_timestamp_seconds";

private:
  static inline const std::set<std::string> leader_only{
      "kube_chorus_router_overlay_addresses",
      "kube_chorus_router_nodes_waiting",
      "kube_chorus_router_pod_ranges_refused",
      "kube_chorus_router_configmap_writes_total",
      "kube_chorus_router_configmap_bytes",
      "kube_chorus_router_configmap_size_warnings_total",
      "kube_chorus_router_configmap_written_bytes_total",
      "kube_chorus_router_configmap_write_budget_wait_seconds_total",
      "kube_chorus_router_node_annotation_patches_total"};
  static inline const std::set<std::string> leader_actors{"allocator", "publisher",
                                                          "node_annotator"};
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<const std::atomic<bool>> leading_;
};

} // namespace

void health_registry::expect(const std::string& component, std::chrono::milliseconds max_age) {
  std::lock_guard guard{mtx_};
  components_[component].max_age = max_age;
}

void health_registry::forget(const std::string& component) {
  std::lock_guard guard{mtx_};
  components_.erase(component);
}

void health_registry::beat(const std::string& component) {
  std::lock_guard guard{mtx_};
  auto& c = components_[component];
  c.last = clock::now();
  c.beaten = true;
}

void health_registry::expect_alive(const std::string& loop, std::chrono::milliseconds max_age) {
  std::lock_guard guard{mtx_};
  loops_[loop].max_age = max_age;
}

void health_registry::alive(const std::string& loop) {
  std::lock_guard guard{mtx_};
  auto& c = loops_[loop];
  c.last = clock::now();
  c.beaten = true;
}

void health_registry::require_ready(const std::string& condition) {
  std::lock_guard guard{mtx_};
  ready_.emplace(condition, health_registry::condition{});
}

void health_registry::set_ready(const std::string& condition, bool ready, std::string detail) {
  std::lock_guard guard{mtx_};
  ready_[condition] = health_registry::condition{ready, std::move(detail)};
}

bool health_registry::judge(const std::map<std::string, component>& all, const char* what,
                            std::string& text) const {
  bool ok = true;
  auto now = clock::now();
  for (const auto& [name, c] : all) {
    if (c.max_age.count() == 0)
      continue; // beats recorded but no allowance declared
    // A component that never beat is judged from process start.
    auto since = c.beaten ? c.last : started_;
    auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - since);
    bool fresh = age <= c.max_age;
    ok = ok && fresh;
    text +=
        (fresh ? "[+]" : "[-]") + name +
        (c.beaten ? " last " + std::string{what} + " " : " no " + std::string{what} + " yet, ") +
        std::to_string(age.count()) + "ms ago (allowed " + std::to_string(c.max_age.count()) +
        "ms)" + (fresh ? "" : ": stale") + "\n";
  }
  return ok;
}

health_registry::report health_registry::healthz() const {
  std::lock_guard guard{mtx_};
  report r;
  r.ok = judge(loops_, "answer", r.text);
  r.text += r.ok ? "healthz check passed\n" : "healthz check failed\n";
  return r;
}

health_registry::report health_registry::readyz() const {
  std::lock_guard guard{mtx_};
  report r;
  for (const auto& [name, c] : ready_) {
    r.ok = r.ok && c.ready;
    r.text += (c.ready ? "[+]" : "[-]") + name + (c.detail.empty() ? "" : ": " + c.detail) + "\n";
  }
  r.ok = judge(components_, "sync", r.text) && r.ok;
  r.text += r.ok ? "readyz check passed\n" : "readyz check failed\n";
  return r;
}

namespace {

prometheus::Family<prometheus::Counter>& counters(prometheus::Registry& reg,
                                                  const std::string& name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(reg);
}

prometheus::Family<prometheus::Gauge>& gauges(prometheus::Registry& reg, const std::string& name,
                                              const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(reg);
}

// Series that exist from the start (0), so dashboards and alerts see them before the first
// write or restart happens.
void preset(prometheus::Family<prometheus::Counter>& family, const char* label,
            std::initializer_list<const char*> values) {
  for (const char* v : values)
    family.Add({{label, v}});
}

} // namespace

// One family per statement, in registration order (the order /metrics lists them in).
metrics::metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& reg = *registry_;
  sync_seconds_ = &prometheus::BuildHistogram()
                       .Name("kube_chorus_router_sync_duration_seconds")
                       .Help("Duration of each actor's reconcile (Sync) in seconds")
                       .Register(reg);
  sync_errors_ =
      &counters(reg, "kube_chorus_router_sync_errors_total", "Failed reconciles per actor");
  cm_writes_ = &counters(reg, "kube_chorus_router_configmap_writes_total",
                         "ConfigMap writes by result (ok, created, conflict, error)");
  watch_restarts_ = &counters(reg, "kube_chorus_router_watch_restarts_total",
                              "Watch restarts per resource and kind (relist, rewatch)");
  converges_ = &counters(reg, "kube_chorus_router_tunnel_converges_total",
                         "Tunnel converges by result (unchanged, repaired, created, error)");
  preset(*cm_writes_, "result", {"ok", "created", "conflict", "error"});
  events_ = &counters(reg, "kube_chorus_router_events_total", "Kubernetes Events emitted by type");
  annotation_patches_ = &counters(reg, "kube_chorus_router_node_annotation_patches_total",
                                  "Node annotation patches by result (set, removed, gone, error)");
  preset(*annotation_patches_, "result", {"set", "removed", "gone", "error"});
  register_configmap_families(reg);
  api_traffic_ = std::make_shared<api_traffic_collector>();
  register_state_families(reg);
  exported_ = std::make_shared<leader_gate>(registry_, leading_);
  process_ = make_process_collector();
}

// The ConfigMap's size, size warnings, write budget and refused pod ranges.
void metrics::register_configmap_families(prometheus::Registry& reg) {
  auto& cm_size = gauges(reg, "kube_chorus_router_configmap_bytes",
                         "The ConfigMap's size: encoded (as the publisher would write it), "
                         "values (the sum the API server limits to 1 MiB), stored (the "
                         "server's last answer, managedFields included)");
  cm_encoded_ = &cm_size.Add({{"size", "encoded"}});
  cm_values_ = &cm_size.Add({{"size", "values"}});
  cm_stored_ = &cm_size.Add({{"size", "stored"}});
  size_warnings_ = &counters(reg, "kube_chorus_router_configmap_size_warnings_total",
                             "ConfigMap writes judged near etcd's request limit (written) or "
                             "over the values limit (not written), by limit");
  preset(*size_warnings_, "limit", {"etcd_request", "values"});
  budget_wait_ = &counters(reg, "kube_chorus_router_configmap_write_budget_wait_seconds_total",
                           "Time ConfigMap writes waited for the write budget, in seconds")
                      .Add({});
  cm_written_ = &counters(reg, "kube_chorus_router_configmap_written_bytes_total",
                          "Bytes of ConfigMap writes, each counted as the whole object it "
                          "stores (what the write budget limits)")
                     .Add({});
  ranges_refused_ = &gauges(reg, "kube_chorus_router_pod_ranges_refused",
                            "1 per node whose pod range is not published, with the range and "
                            "why (outside-pod-network, too-wide, overlay, node-ip, device-ip, "
                            "overlap); leader only");
}

// Nodes, overlay addresses, leadership, the tunnel, build info, sync times and waiting nodes.
void metrics::register_state_families(prometheus::Registry& reg) {
  nodes_ = &gauges(reg, "kube_chorus_router_nodes", "Nodes known to this instance").Add({});
  auto& overlay = gauges(reg, "kube_chorus_router_overlay_addresses",
                         "Overlay addresses by state (allocated, free); leader only");
  allocated_ = &overlay.Add({{"state", "allocated"}});
  free_ = &overlay.Add({{"state", "free"}});
  leader_ = &gauges(reg, "kube_chorus_router_leader",
                    "1 while this instance holds the Lease and publishes")
                 .Add({});
  rp_filter_strict_ = &gauges(reg, "kube_chorus_router_rp_filter_strict",
                              "1 while the tunnel interface's effective rp_filter (the max of "
                              "net.ipv4.conf.all and the interface's) is strict (1): the node "
                              "drops packets from the device; 0 otherwise")
                           .Add({});
  netlink_writes_ = &counters(reg, "kube_chorus_router_netlink_changes_total",
                              "Netlink write operations made to repair or create the tunnel")
                         .Add({});
  build_info_ = &gauges(reg, "kube_chorus_router_build_info",
                        "1, labelled with the version and the git revision of this binary");
  last_sync_ = &gauges(reg, leader_gate::last_sync_name,
                       "Time of the last successful sync per actor (allocator, publisher and "
                       "node_annotator: leader only; tunnel; leader_elector: Lease read or "
                       "renew), seconds since the epoch");
  nodes_waiting_ = &gauges(reg, "kube_chorus_router_nodes_waiting",
                           "Nodes whose entry is not published, by reason (no-address, "
                           "no-pod-range, duplicate-ip, pod-range-refused, pool-exhausted, "
                           "allocation-failed); leader only");
}

prometheus::Counter& metrics::labelled(prometheus::Family<prometheus::Counter>& family,
                                       std::string_view key, std::string_view value) {
  std::lock_guard guard{mtx_};
  return family.Add({{std::string{key}, std::string{value}}});
}

void metrics::sync_done(std::string_view actor, std::chrono::duration<double> took, bool ok) {
  {
    std::lock_guard guard{mtx_};
    static const prometheus::Histogram::BucketBoundaries buckets{0.0005, 0.001, 0.005, 0.01, 0.05,
                                                                 0.1,    0.5,   1,     5};
    sync_seconds_->Add({{"actor", std::string{actor}}}, buckets).Observe(took.count());
  }
  if (!ok)
    labelled(*sync_errors_, "actor", actor).Increment();
}

void metrics::configmap_write(std::string_view result) {
  labelled(*cm_writes_, "result", result).Increment();
}

void metrics::watch_restart(std::string_view resource, std::string_view why) {
  std::lock_guard guard{mtx_};
  watch_restarts_->Add({{"resource", std::string{resource}}, {"kind", std::string{why}}})
      .Increment();
}

void metrics::tunnel_converge(std::string_view result) {
  labelled(*converges_, "result", result).Increment();
}

void metrics::event_emitted(std::string_view type) {
  labelled(*events_, "type", type).Increment();
}

void metrics::configmap_size(double encoded, double values) {
  cm_encoded_->Set(encoded);
  cm_values_->Set(values);
}

void metrics::configmap_size_warning(std::string_view limit) {
  labelled(*size_warnings_, "limit", limit).Increment();
}

void metrics::pod_range_refused(const std::string& node, const std::string& range,
                                const std::string& reason) {
  std::lock_guard guard{mtx_};
  if (auto it = refused_by_node_.find(node); it != refused_by_node_.end())
    ranges_refused_->Remove(it->second);
  auto& g = ranges_refused_->Add({{"node", node}, {"range", range}, {"reason", reason}});
  g.Set(1);
  refused_by_node_[node] = &g;
}

void metrics::pod_range_cleared(const std::string& node) {
  std::lock_guard guard{mtx_};
  if (auto it = refused_by_node_.find(node); it != refused_by_node_.end()) {
    ranges_refused_->Remove(it->second);
    refused_by_node_.erase(it);
  }
}

void metrics::node_annotation_patch(std::string_view result) {
  labelled(*annotation_patches_, "result", result).Increment();
}

void metrics::set_build_info(const std::string& version, const std::string& revision) {
  std::lock_guard guard{mtx_};
  build_info_->Add({{"version", version}, {"revision", revision}}).Set(1);
}

void metrics::sync_succeeded(std::string_view actor) {
  std::lock_guard guard{mtx_};
  last_sync_->Add({{"actor", std::string{actor}}}).SetToCurrentTime();
}

void metrics::set_nodes_waiting(const std::map<std::string, double>& by_reason) {
  std::lock_guard guard{mtx_};
  for (auto& [reason, gauge] : waiting_by_reason_)
    if (!by_reason.count(reason))
      gauge->Set(0); // kept at 0: a reason seen once stays on the dashboard
  for (const auto& [reason, n] : by_reason) {
    auto& g = waiting_by_reason_[reason];
    if (!g)
      g = &nodes_waiting_->Add({{"reason", reason}});
    g->Set(n);
  }
}

std::vector<std::shared_ptr<prometheus::Collectable>> metrics::exported() const {
  return {exported_, api_traffic_, process_};
}

} // namespace kcr::actors
