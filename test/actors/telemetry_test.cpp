// What /metrics exports (metrics::exported()): the leader-only series only while leading, the
// last successful sync per actor, build_info, the process_* metrics read from /proc/self, and
// the allocator's waiting nodes by reason.
#include <chrono>
#include <map>
#include <set>
#include <string>

#include <boost/test/unit_test.hpp>
#include <prometheus/metric_family.h>

#include "actors/allocator.hpp"
#include "actors/process_metrics.hpp"
#include "actors/telemetry.hpp"

using namespace kcr;
using namespace kcr::actors;

namespace {

/// Every sample a scrape would show: "name{label=value,...}" -> value (labels sorted by name, as
/// prometheus-cpp keeps them).
std::map<std::string, double> scrape(const metrics& m) {
  std::map<std::string, double> out;
  for (const auto& c : m.exported())
    for (const auto& f : c->Collect())
      for (const auto& s : f.metric) {
        std::string key = f.name;
        if (!s.label.empty()) {
          key += "{";
          for (size_t i = 0; i < s.label.size(); ++i)
            key += (i ? "," : "") + s.label[i].name + "=" + s.label[i].value;
          key += "}";
        }
        out[key] = f.type == prometheus::MetricType::Counter ? s.counter.value : s.gauge.value;
      }
  return out;
}

/// The metric names of a scrape.
std::set<std::string> names(const std::map<std::string, double>& samples) {
  std::set<std::string> out;
  for (const auto& [key, _] : samples)
    out.insert(key.substr(0, key.find('{')));
  return out;
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

const std::set<std::string> leader_only{
    "kube_chorus_router_overlay_addresses",
    "kube_chorus_router_nodes_waiting",
    "kube_chorus_router_pod_ranges_refused",
    "kube_chorus_router_configmap_writes_total",
    "kube_chorus_router_configmap_bytes",
    "kube_chorus_router_configmap_size_warnings_total",
    "kube_chorus_router_configmap_written_bytes_total",
    "kube_chorus_router_configmap_write_budget_wait_seconds_total",
    "kube_chorus_router_node_annotation_patches_total"};

} // namespace

BOOST_AUTO_TEST_SUITE(telemetry_exported)

BOOST_AUTO_TEST_CASE(leader_only_series_exist_only_while_leading) {
  metrics m;
  m.set_overlay(3, 250);
  m.configmap_write("ok");
  m.set_nodes_waiting({{"no-address", 1}});
  m.pod_range_refused("node-a", "10.0.0.0/8", "too-wide");
  m.set_nodes(4);
  for (bool leading : {false, true, false}) {
    m.set_leader(leading);
    auto got = scrape(m);
    auto seen = names(got);
    for (const auto& name : leader_only)
      BOOST_TEST(seen.count(name) == (leading ? 1u : 0u), name << " while leading=" << leading);
    // Everyone's series stay.
    BOOST_TEST(got["kube_chorus_router_leader"] == (leading ? 1 : 0));
    BOOST_TEST(got["kube_chorus_router_nodes"] == 4);
    BOOST_TEST(seen.count("kube_chorus_router_sync_errors_total") == 0u); // none yet: lazily made
    if (leading) {
      BOOST_TEST(got["kube_chorus_router_overlay_addresses{state=allocated}"] == 3);
      BOOST_TEST(got["kube_chorus_router_overlay_addresses{state=free}"] == 250);
      BOOST_TEST(got["kube_chorus_router_configmap_writes_total{result=ok}"] == 1);
      BOOST_TEST(got["kube_chorus_router_nodes_waiting{reason=no-address}"] == 1);
    }
  }
  // The registry itself (what actor tests read) keeps everything.
  std::set<std::string> all;
  for (const auto& f : m.registry()->Collect())
    all.insert(f.name);
  BOOST_TEST(all.count("kube_chorus_router_overlay_addresses") == 1u);
}

BOOST_AUTO_TEST_CASE(last_sync_per_actor_the_leaders_actors_only_while_leading) {
  metrics m;
  double before = now_seconds();
  for (const char* actor : {"tunnel", "leader_elector", "publisher", "allocator", "node_annotator"})
    m.sync_succeeded(actor);
  double after = now_seconds();
  const std::string name = "kube_chorus_router_last_sync_success_timestamp_seconds";
  auto following = scrape(m);
  BOOST_TEST(following.count(name + "{actor=tunnel}") == 1u);
  BOOST_TEST(following.count(name + "{actor=leader_elector}") == 1u);
  for (const char* actor : {"publisher", "allocator", "node_annotator"})
    BOOST_TEST(following.count(name + "{actor=" + actor + "}") == 0u, actor);
  m.set_leader(true);
  auto leading = scrape(m);
  for (const char* actor :
       {"tunnel", "leader_elector", "publisher", "allocator", "node_annotator"}) {
    auto key = name + "{actor=" + actor + "}";
    BOOST_TEST_REQUIRE(leading.count(key) == 1u, key);
    // Whole seconds (SetToCurrentTime): within the second of the call.
    BOOST_TEST(leading[key] >= before - 1);
    BOOST_TEST(leading[key] <= after + 1);
  }
}

BOOST_AUTO_TEST_CASE(build_info_carries_version_and_revision) {
  metrics m;
  m.set_build_info("1.2.3", "0123456789ab-dirty");
  auto got = scrape(m);
  BOOST_TEST(got["kube_chorus_router_build_info{revision=0123456789ab-dirty,version=1.2.3}"] == 1);
}

BOOST_AUTO_TEST_CASE(a_reason_not_given_again_reads_zero) {
  metrics m;
  m.set_leader(true);
  m.set_nodes_waiting({{"duplicate-ip", 2}, {"no-address", 1}});
  m.set_nodes_waiting({{"no-address", 3}});
  auto got = scrape(m);
  BOOST_TEST(got["kube_chorus_router_nodes_waiting{reason=duplicate-ip}"] == 0);
  BOOST_TEST(got["kube_chorus_router_nodes_waiting{reason=no-address}"] == 3);
}

BOOST_AUTO_TEST_CASE(process_metrics_of_this_process_are_sane) {
  metrics m;
  auto got = scrape(m);
  for (const char* name : {"process_resident_memory_bytes", "process_virtual_memory_bytes",
                           "process_cpu_seconds_total", "process_open_fds", "process_max_fds",
                           "process_start_time_seconds"})
    BOOST_TEST_REQUIRE(got.count(name) == 1u, name);
  BOOST_TEST_MESSAGE("rss " << got["process_resident_memory_bytes"] << " vsz "
                            << got["process_virtual_memory_bytes"] << " cpu "
                            << got["process_cpu_seconds_total"] << " fds "
                            << got["process_open_fds"] << "/" << got["process_max_fds"] << " start "
                            << got["process_start_time_seconds"]);
  BOOST_TEST(got["process_resident_memory_bytes"] > 1e6);
  BOOST_TEST(got["process_virtual_memory_bytes"] >= got["process_resident_memory_bytes"]);
  BOOST_TEST(got["process_cpu_seconds_total"] >= 0);
  BOOST_TEST(got["process_open_fds"] >= 3); // stdin, stdout, stderr
  BOOST_TEST(got["process_max_fds"] >= got["process_open_fds"]);
  double now = now_seconds();
  BOOST_TEST(got["process_start_time_seconds"] <= now + 1);
  BOOST_TEST(got["process_start_time_seconds"] > now - 3600);
}

BOOST_AUTO_TEST_CASE(proc_stat_lines_parse_whatever_the_command_name) {
  // proc(5): pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
  // utime stime cutime cstime priority nice threads itrealvalue starttime vsize rss ...
  const std::string tail = " S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 4 0 123456 987654321 4321 "
                           "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  for (std::string comm : {"(kube-chorus-rou)", "(a) b) (c)", "( )", "(x 1 2 3)"}) {
    auto st = parse_proc_stat("4242 " + comm + tail);
    BOOST_TEST_REQUIRE(st.has_value(), comm);
    BOOST_TEST(st->utime_ticks == 150);
    BOOST_TEST(st->stime_ticks == 25);
    BOOST_TEST(st->start_ticks == 123456);
    BOOST_TEST(st->vsize_bytes == 987654321);
    BOOST_TEST(st->rss_pages == 4321);
  }
  BOOST_TEST(!parse_proc_stat("4242 no parenthesis S 1 2").has_value());
  BOOST_TEST(!parse_proc_stat("4242 (short) S 1 2 3").has_value());
  BOOST_TEST(
      !parse_proc_stat("4242 (bad)" + std::string{" S 1 2 3 4 5 6 7 8 9 10 x"} + tail).has_value());
  BOOST_TEST(parse_boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 5\n").value_or(-1) ==
             1700000000);
  BOOST_TEST(!parse_boot_time("cpu  1 2 3\n").has_value());
}

BOOST_AUTO_TEST_SUITE_END()

// --- the allocator's waiting nodes by reason ----------------------------------------------------

namespace {

kube::node_info node(const std::string& name, const std::string& ip, const std::string& pod) {
  kube::node_info n;
  n.name = name;
  n.uid = "uid-" + name;
  if (!ip.empty())
    n.underlay_ip = *net::ip_address::parse(ip);
  if (!pod.empty())
    n.pod_cidrs = {*net::cidr::parse(pod)};
  n.ready = true;
  return n;
}

std::map<std::string, double> waiting_metric(const metrics& m) {
  std::map<std::string, double> out;
  const std::string prefix = "kube_chorus_router_nodes_waiting{reason=";
  for (const auto& [key, v] : scrape(m))
    if (key.starts_with(prefix))
      out[key.substr(prefix.size(), key.size() - prefix.size() - 1)] = v;
  return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(allocator_counts_waiting_nodes_by_reason) {
  allocator_state a;
  a.tel = std::make_shared<telemetry>();
  // A /30 with the endpoint at .2: one address (.1) for the nodes.
  a.settings.overlay_network = *net::cidr::parse("192.168.254.0/30");
  a.settings.endpoint_ip = *net::ip_address::parse("192.168.254.2");
  a.settings.remote_vtep = *net::ip_address::parse("203.0.113.1");
  a.on_leadership(true, 1);
  a.tel->metrics.set_leader(true); // the elector's part
  a.on_synced();
  a.on_snapshot(published_snapshot{});
  BOOST_TEST_REQUIRE(a.ready());
  a.on_upsert(node("a", "198.51.100.1", "10.244.1.0/24"));    // gets .1
  a.on_upsert(node("b", "198.51.100.2", "10.244.2.0/24"));    // none left
  a.on_upsert(node("c", "", "10.244.3.0/24"));                // no address
  a.on_upsert(node("d", "198.51.100.4", ""));                 // no pod range
  a.on_upsert(node("e", "198.51.100.1", "10.244.5.0/24"));    // a's address
  a.on_upsert(node("f", "198.51.100.6", "192.168.254.0/24")); // the overlay network
  auto got = waiting_metric(a.tel->metrics);
  std::map<std::string, double> want{{"no-address", 1},     {"no-pod-range", 1},
                                     {"duplicate-ip", 1},   {"pod-range-refused", 1},
                                     {"pool-exhausted", 1}, {"allocation-failed", 0}};
  for (const auto& [reason, n] : want)
    BOOST_TEST(got[reason] == n, reason);
  BOOST_TEST(got.size() == want.size());
  BOOST_TEST(a.waiting.size() == 5u);

  // a leaves: b (first by name) takes .1, e no longer duplicates but finds the pool empty.
  a.on_delete("a");
  got = waiting_metric(a.tel->metrics);
  BOOST_TEST(got["duplicate-ip"] == 0);
  BOOST_TEST(got["pool-exhausted"] == 1);
  BOOST_TEST(a.entries.count("b") == 1u);
  BOOST_TEST(a.waiting.count("e") == 1u);
  BOOST_TEST(a.waiting.at("e").kind == "pool-exhausted");

  // Following: the waiting set is dropped and the series are no longer exported.
  a.on_leadership(false, 1);
  a.tel->metrics.set_leader(false);
  BOOST_TEST(waiting_metric(a.tel->metrics).empty());
  BOOST_TEST(a.waiting.empty());
}
