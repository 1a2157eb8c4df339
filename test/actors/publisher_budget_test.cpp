// The publisher alone on the test coordinator: the byte budget over whole-object writes, the
// create-then-patch of a missing ConfigMap, and the size limits said clearly.
#include <boost/test/unit_test.hpp>

#include "actors/publisher.hpp"
#include "fake_ports.hpp"
#include "fixture.hpp"

using namespace kcr;
using namespace kcr::actors;
using namespace std::chrono_literals;

namespace {

kube::node_entry entry(int i, int pod = 0) {
  kube::node_entry e;
  e.name = "node-" + std::to_string(i);
  e.uid = "uid-" + std::to_string(i);
  e.node_ip = net::ip_address::v4((198u << 24) | (18u << 16) | static_cast<uint32_t>(i + 1));
  e.overlay_ip = net::ip_address::v4((10u << 24) | (200u << 16) | static_cast<uint32_t>(i + 1));
  e.pod_cidrs = {*net::cidr::parse("10." + std::to_string(100 + pod) + "." +
                                   std::to_string(i % 250) + ".0/24")};
  return e;
}

struct publisher_fixture : test::actor_fixture {
  controller_settings settings;
  std::shared_ptr<test::fake_configmap_port> port = std::make_shared<test::fake_configmap_port>();
  std::shared_ptr<telemetry> tel = std::make_shared<telemetry>();
  publisher_actor pub;
  std::map<std::string, kube::node_entry> desired; // what the allocator handed over

  publisher_fixture() {
    settings.node_name = "node-0";
    settings.overlay_network = *net::cidr::parse("10.200.0.0/16");
    settings.endpoint_ip = *net::ip_address::parse("10.200.255.254");
    settings.remote_vtep = *net::ip_address::parse("203.0.113.1");
    settings.detach_blocking_actors = false;
  }

  /// Leading, with `n` entries, the ConfigMap absent or as stored.
  void start(int n) {
    pub = track(sys->spawn(publisher, settings, tel, port));
    caf::anon_send(pub, leadership{true, "test", 1});
    desired_entries full;
    full.term = 1;
    full.full = true;
    for (int i = 0; i < n; ++i) {
      desired[entry(i).name] = entry(i);
      full.upserted.push_back(entry(i));
    }
    caf::anon_send(pub, std::move(full));
    run();
  }

  void change(const kube::node_entry& e) {
    desired[e.name] = e;
    desired_entries d;
    d.term = 1;
    d.upserted = {e};
    caf::anon_send(pub, std::move(d));
  }

  int writes() const { return port->calls("create") + port->calls("patch"); }
  std::map<std::string, std::string> data() const {
    auto cm = port->current();
    return cm ? cm->data : std::map<std::string, std::string>{};
  }
  /// The published entries equal the desired ones, key for key.
  bool exact() const {
    auto decoded = kube::decode(data());
    if (decoded.state.entries.size() != desired.size())
      return false;
    for (const auto& e : decoded.state.entries) {
      auto it = desired.find(e.name);
      if (it == desired.end() || !(it->second == e))
        return false;
    }
    return true;
  }
  double metric(const std::string& name, const std::string& label = "") const {
    for (const auto& family : tel->metrics.registry()->Collect()) {
      if (family.name != name)
        continue;
      for (const auto& m : family.metric) {
        if (!label.empty() && (m.label.empty() || m.label[0].value != label))
          continue;
        return family.type == prometheus::MetricType::Gauge ? m.gauge.value : m.counter.value;
      }
    }
    return -1;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(publisher_budget, publisher_fixture)

BOOST_AUTO_TEST_CASE(a_missing_configmap_is_created_small_and_the_entries_patched_at_once) {
  start(50);
  BOOST_TEST(port->calls("create") == 1);
  BOOST_TEST(port->calls("patch") == 1);
  BOOST_TEST(exact());
  // The stored size is what the server answered to the patch.
  BOOST_TEST(metric("kube_chorus_router_configmap_bytes", "stored") ==
             static_cast<double>(size_of(data()).encoded));
  BOOST_TEST(metric("kube_chorus_router_configmap_bytes", "encoded") ==
             static_cast<double>(size_of(data()).encoded));
}

BOOST_AUTO_TEST_CASE(an_isolated_change_goes_at_once_even_on_a_small_budget) {
  settings.configmap_write_budget = 16 * 1024; // less than the object: ~2 s per write
  start(100);
  auto object = size_of(data()).encoded;
  BOOST_TEST_REQUIRE(object > 16u * 1024u);
  advance(30s); // quiet: the bucket refills to two objects
  int before = writes();
  change(entry(7, 1));
  run(); // no time passes
  BOOST_TEST(writes() == before + 1);
  BOOST_TEST(exact());
  // And the correction right after it too (the burst holds two objects) ...
  change(entry(8, 1));
  run();
  BOOST_TEST(writes() == before + 2);
  // ... but a third has to wait for the budget, and then goes without any further message.
  change(entry(9, 1));
  run();
  BOOST_TEST(writes() == before + 2);
  advance(std::chrono::milliseconds(1000 * object / (16 * 1024) + 1));
  BOOST_TEST(writes() == before + 3);
  BOOST_TEST(exact());
  BOOST_TEST(metric("kube_chorus_router_configmap_write_budget_wait_seconds_total") > 0.0);
}

BOOST_AUTO_TEST_CASE(churn_is_written_at_the_budget_on_average_and_ends_exact) {
  settings.configmap_write_budget = 64 * 1024;
  start(400);
  auto object = static_cast<double>(size_of(data()).encoded);
  advance(60s); // full bucket
  auto bytes_before = static_cast<double>(port->patched_bytes());
  int writes_before = writes();
  // 20 changes a second for 60 s, each a different node's pod CIDR.
  const auto duration = 60s;
  int changes = 0;
  for (auto t = 0ms; t < duration; t += 50ms, ++changes) {
    change(entry(changes % 400, 1 + changes / 400));
    advance(50ms);
  }
  auto written = static_cast<double>(port->patched_bytes()) - bytes_before;
  auto budget = settings.configmap_write_budget * 60 + 2 * object; // rate x time + the burst
  BOOST_TEST_MESSAGE("churn: " << changes << " changes, " << writes() - writes_before << " writes, "
                               << written << " bytes (budget " << budget << ")");
  BOOST_TEST(written <= budget);
  BOOST_TEST(written >= settings.configmap_write_budget * 60 * 0.8); // the budget is used
  BOOST_TEST(writes() - writes_before < changes / 10);               // changes coalesced
  // Whatever was still waiting goes out once the budget allows; nothing was dropped.
  advance(10s);
  BOOST_TEST(exact());
  BOOST_TEST(metric("kube_chorus_router_configmap_write_budget_wait_seconds_total") > 1.0);
}

BOOST_AUTO_TEST_CASE(idle_is_zero_writes) {
  settings.configmap_write_budget = 64 * 1024;
  start(100);
  int before = writes();
  for (int i = 0; i < 10; ++i)
    advance(settings.config_sync_period);
  BOOST_TEST(writes() == before);
}

BOOST_AUTO_TEST_CASE(an_unlimited_budget_never_waits) {
  settings.configmap_write_budget = 0;
  start(200);
  int before = writes();
  for (int i = 0; i < 20; ++i) {
    change(entry(i, 1));
    run();
  }
  BOOST_TEST(writes() == before + 20);
  BOOST_TEST(exact());
}

BOOST_AUTO_TEST_CASE(an_object_over_the_values_limit_is_not_sent_and_said_once) {
  start(10);
  int before = writes();
  // Someone else's key takes the ConfigMap over the API server's 1 MiB of values.
  port->edit_data([](auto& d) { d["Vendor-Blob"] = std::string(1100000, 'x'); });
  auto cm = port->current();
  caf::anon_send(pub, published_snapshot::decode(true, cm->resource_version, cm->data));
  change(entry(3, 1));
  run();
  BOOST_TEST(writes() == before);
  BOOST_TEST_REQUIRE(port->warnings().size() == 1u);
  BOOST_TEST(port->warnings()[0].first == "ConfigMapTooLarge");
  BOOST_TEST(port->warnings()[0].second.find("1048576") != std::string::npos);
  BOOST_TEST(metric("kube_chorus_router_configmap_size_warnings_total", "values") >= 1.0);
  // Retries back off and say nothing new.
  advance(settings.backoff_initial);
  advance(2 * settings.backoff_initial);
  BOOST_TEST(writes() == before);
  BOOST_TEST(port->warnings().size() == 1u);
  // Once it fits again, the pending change goes out.
  port->edit_data([](auto& d) { d.erase("Vendor-Blob"); });
  cm = port->current();
  caf::anon_send(pub, published_snapshot::decode(true, cm->resource_version, cm->data));
  advance(settings.backoff_max);
  BOOST_TEST(exact());
  BOOST_TEST(writes() > before);
}

BOOST_AUTO_TEST_CASE(near_etcds_limit_is_written_with_a_warning) {
  start(10);
  int before = writes();
  // Values under 1 MiB, but with the keys the object is over 1.4 MiB.
  port->edit_data([](auto& d) {
    for (int i = 0; i < 9000; ++i)
      d["Vendor-" + std::to_string(i) + std::string(60, 'k')] = std::string(100, 'v');
  });
  auto cm = port->current();
  caf::anon_send(pub, published_snapshot::decode(true, cm->resource_version, cm->data));
  change(entry(3, 1));
  run();
  BOOST_TEST(writes() == before + 1);
  BOOST_TEST(exact());
  BOOST_TEST_REQUIRE(port->warnings().size() == 1u);
  BOOST_TEST(port->warnings()[0].second.find("1572864") != std::string::npos);
  BOOST_TEST(metric("kube_chorus_router_configmap_size_warnings_total", "etcd_request") >= 1.0);
}

BOOST_AUTO_TEST_SUITE_END()
