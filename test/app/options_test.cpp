// Command line: defaults, environment fallbacks, and a clear exit-2 line for every invalid value.
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "app/duration.hpp"
#include "app/options.hpp"

using namespace kcr::app;
using namespace std::chrono_literals;

namespace {

command_line parse(std::initializer_list<std::string> args) {
  std::vector<std::string> storage{"kube-chorus-router"};
  storage.insert(storage.end(), args);
  std::vector<const char*> argv;
  for (auto& s : storage)
    argv.push_back(s.c_str());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

// The flags every run needs, so each case only adds what it tests.
const std::string net_flag = "--overlay-network=192.168.254.0/24";
const std::string vtep_flag = "--remote-vtep=192.0.2.10";

// The environment variables the parser reads; cleared around every test.
const char* const env_vars[] = {"KUBECONFIG",    "NODE_NAME",      "TYPE",
                                "NETWORK",       "VNID",           "VXLAN_PORT",
                                "REMOTE_VTEPIP", "KCR_RUN_TUNNEL", "KCR_LOG_FORMAT"};

struct clean_env {
  clean_env() {
    for (auto* v : env_vars)
      unsetenv(v);
  }
  ~clean_env() {
    for (auto* v : env_vars)
      unsetenv(v);
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(options_parsing, clean_env)

BOOST_AUTO_TEST_CASE(defaults) {
  auto cl = parse({net_flag, vtep_flag});
  BOOST_TEST_REQUIRE(!cl.exit_now, cl.err);
  const auto& o = cl.opts;
  BOOST_TEST(o.overlay_network.to_string() == "192.168.254.0/24");
  BOOST_TEST(o.endpoint_ip.to_string() == "192.168.254.254"); // highest usable
  BOOST_TEST(o.remote_vtep.to_string() == "192.0.2.10");
  BOOST_TEST((o.overlay_type == kcr::net::overlay_type::vxlan));
  BOOST_TEST(o.vni == 1u);
  BOOST_TEST(o.vxlan_port == 4789);
  BOOST_TEST(o.tunnel_mtu == 0);
  BOOST_TEST(o.configmap_name == "kube-chorus-router");
  BOOST_TEST(o.configmap_namespace == "kube-system");
  BOOST_TEST(o.config_sync_period == 60s);
  BOOST_TEST(o.tunnel_sync_period == 60s);
  BOOST_TEST(o.run_publisher);
  BOOST_TEST(o.run_tunnel);
  BOOST_TEST(o.leader_elect);
  BOOST_TEST(o.lease_duration == 15s);
  BOOST_TEST(o.renew_deadline == 10s);
  BOOST_TEST(o.retry_period == 2s);
  BOOST_TEST(!o.cleanup_config);
  BOOST_TEST(!o.remote_vtep_mac.has_value());
  BOOST_TEST((o.pod_cidr_source == kcr::kube::pod_cidr_source::automatic));
  BOOST_TEST(o.pod_networks.empty());
}

BOOST_AUTO_TEST_CASE(pod_range_flags) {
  auto cl = parse({net_flag, vtep_flag, "--pod-cidr-source", "calico-ipam", "--pod-network",
                   "10.244.0.0/16,fd00:10:244::/56"});
  BOOST_TEST_REQUIRE(!cl.exit_now, cl.err);
  BOOST_TEST((cl.opts.pod_cidr_source == kcr::kube::pod_cidr_source::calico_ipam));
  BOOST_TEST_REQUIRE(cl.opts.pod_networks.size() == 2u);
  BOOST_TEST(cl.opts.pod_networks[1].to_string() == "fd00:10:244::/56");
  setenv("KCR_POD_CIDR_SOURCE", "ovn", 1);
  auto env = parse({net_flag, vtep_flag});
  unsetenv("KCR_POD_CIDR_SOURCE");
  BOOST_TEST_REQUIRE(!env.exit_now, env.err);
  BOOST_TEST((env.opts.pod_cidr_source == kcr::kube::pod_cidr_source::ovn));
}

BOOST_AUTO_TEST_CASE(explicit_values) {
  auto cl = parse({net_flag,
                   vtep_flag,
                   "--overlay-type",
                   "IPIP",
                   "--endpoint-ip",
                   "192.168.254.1",
                   "--vni",
                   "16777215",
                   "--vxlan-port",
                   "8472",
                   "--tunnel-mtu",
                   "1400",
                   "--config-sync-period",
                   "1m30s",
                   "--tunnel-sync-period",
                   "500ms",
                   "--run-publisher=false",
                   "--run-tunnel=false",
                   "--leader-elect=false",
                   "--remote-vtep-mac",
                   "02:42:C6:33:64:01",
                   "--log-format",
                   "json",
                   "--log-level",
                   "debug",
                   "--hostname-override",
                   "node-a",
                   "--health-addr",
                   "[::1]:8080",
                   "--metrics-addr",
                   ""});
  BOOST_TEST_REQUIRE(!cl.exit_now, cl.err);
  const auto& o = cl.opts;
  BOOST_TEST((o.overlay_type == kcr::net::overlay_type::ipip));
  BOOST_TEST(o.endpoint_ip.to_string() == "192.168.254.1");
  BOOST_TEST(o.vni == 16777215u);
  BOOST_TEST(o.vxlan_port == 8472);
  BOOST_TEST(o.tunnel_mtu == 1400);
  BOOST_TEST(o.config_sync_period == 90s);
  BOOST_TEST(o.tunnel_sync_period == 500ms);
  BOOST_TEST(!o.run_publisher);
  BOOST_TEST(!o.run_tunnel);
  BOOST_TEST(!o.leader_elect);
  BOOST_TEST(o.remote_vtep_mac->to_string() == "02:42:c6:33:64:01");
  BOOST_TEST((o.log_format == log_format::json));
  BOOST_TEST(o.log_level == "debug");
  BOOST_TEST(o.node_name == "node-a");
  BOOST_TEST(o.metrics_addr.empty());
}

BOOST_AUTO_TEST_CASE(environment_fallbacks_and_flag_precedence) {
  setenv("NETWORK", "10.200.0.0/16", 1);
  setenv("REMOTE_VTEPIP", "198.51.100.1", 1);
  setenv("TYPE", "ipip", 1);
  setenv("VNID", "42", 1);
  setenv("VXLAN_PORT", "4790", 1);
  setenv("NODE_NAME", "node-from-env", 1);
  setenv("KUBECONFIG", "/tmp/kc", 1);
  setenv("KCR_RUN_TUNNEL", "false", 1);
  auto cl = parse({});
  BOOST_TEST_REQUIRE(!cl.exit_now, cl.err);
  BOOST_TEST(cl.opts.overlay_network.to_string() == "10.200.0.0/16");
  BOOST_TEST(cl.opts.endpoint_ip.to_string() == "10.200.255.254");
  BOOST_TEST(cl.opts.remote_vtep.to_string() == "198.51.100.1");
  BOOST_TEST((cl.opts.overlay_type == kcr::net::overlay_type::ipip));
  BOOST_TEST(cl.opts.vni == 42u);
  BOOST_TEST(cl.opts.vxlan_port == 4790);
  BOOST_TEST(cl.opts.node_name == "node-from-env");
  BOOST_TEST(cl.opts.kubeconfig == "/tmp/kc");
  BOOST_TEST(!cl.opts.run_tunnel);

  auto flag_wins = parse({"--vni", "7"});
  BOOST_TEST_REQUIRE(!flag_wins.exit_now, flag_wins.err);
  BOOST_TEST(flag_wins.opts.vni == 7u);

  setenv("VNID", "0", 1);
  auto bad_env = parse({});
  BOOST_TEST(bad_env.exit_code == 2);
  BOOST_TEST(bad_env.err.find("--vni") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(every_invalid_value_exits_2_with_one_line) {
  struct row {
    std::vector<std::string> args;
    std::string must_contain; // the flag and the value, or the missing flag
    std::string expected;     // what the message says is expected
  };
  const std::vector<row> rows = {
      {{vtep_flag}, "--overlay-network", "required"},
      {{net_flag}, "--remote-vtep", "required"},
      {{"--overlay-network=192.168.254.0/33", vtep_flag},
       "\"192.168.254.0/33\" for --overlay-network",
       "prefix"},
      {{"--overlay-network=banana", vtep_flag}, "\"banana\" for --overlay-network", "IPv4 network"},
      {{"--overlay-network=192.168.254.7/24", vtep_flag}, "--overlay-network", "192.168.254.0/24"},
      {{"--overlay-network=10.0.0.0/7", vtep_flag}, "--overlay-network", "/8 to /30"},
      {{"--overlay-network=10.0.0.0/31", vtep_flag}, "--overlay-network", "/8 to /30"},
      {{"--overlay-network=fd00::/64", vtep_flag}, "--overlay-network", "IPv4"},
      {{net_flag, vtep_flag, "--vni=0"}, "\"0\" for --vni", "1..16777215"},
      {{net_flag, vtep_flag, "--vni=16777216"}, "\"16777216\" for --vni", "1..16777215"},
      {{net_flag, vtep_flag, "--vni=abc"}, "--vni", "1..16777215"},
      {{net_flag, vtep_flag, "--vxlan-port=0"}, "\"0\" for --vxlan-port", "1..65535"},
      {{net_flag, vtep_flag, "--vxlan-port=65536"}, "--vxlan-port", "1..65535"},
      {{net_flag, vtep_flag, "--tunnel-mtu=100"}, "--tunnel-mtu", "576"},
      {{net_flag, vtep_flag, "--endpoint-ip=10.0.0.1"}, "\"10.0.0.1\" for --endpoint-ip", "inside"},
      {{net_flag, vtep_flag, "--endpoint-ip=192.168.254.0"},
       "--endpoint-ip",
       "network or broadcast"},
      {{net_flag, vtep_flag, "--endpoint-ip=192.168.254.255"},
       "--endpoint-ip",
       "network or broadcast"},
      {{net_flag, vtep_flag, "--endpoint-ip=not-an-ip"}, "--endpoint-ip", "IP address"},
      {{net_flag, "--remote-vtep=300.1.1.1"}, "--remote-vtep", "IP address"},
      {{net_flag, "--remote-vtep=2001:db8::1", "--overlay-type=ipip"}, "--remote-vtep", "IPv4"},
      {{net_flag, vtep_flag, "--remote-vtep-mac=zz:zz"}, "--remote-vtep-mac", "MAC"},
      {{net_flag, vtep_flag, "--overlay-type=gre"}, "\"gre\" for --overlay-type", "ipip or none"},
      {{net_flag, vtep_flag, "--config-sync-period=soon"}, "--config-sync-period", "duration"},
      {{net_flag, vtep_flag, "--config-sync-period=0s"},
       "--config-sync-period",
       "greater than zero"},
      {{net_flag, vtep_flag, "--tunnel-sync-period=10"}, "--tunnel-sync-period", "duration"},
      {{net_flag, vtep_flag, "--leader-elect-lease-duration=5s"},
       "--leader-elect-lease-duration",
       "renew"},
      {{net_flag, vtep_flag, "--leader-elect-retry-period=9s"},
       "--leader-elect-renew-deadline",
       "1.2"},
      {{net_flag, vtep_flag, "--log-format=xml"}, "--log-format", "text or json"},
      {{net_flag, vtep_flag, "--log-level=loud"}, "--log-level", "info"},
      {{net_flag, vtep_flag, "--health-addr=nowhere"}, "--health-addr", "HOST:PORT"},
      {{net_flag, vtep_flag, "--metrics-addr=:99999"}, "--metrics-addr", "HOST:PORT"},
      {{net_flag, vtep_flag, "--no-such-flag"}, "--no-such-flag", "--help"},
      {{net_flag, vtep_flag, "--pod-cidr-source=weave"},
       "\"weave\" for --pod-cidr-source",
       "calico-ipam"},
      {{net_flag, vtep_flag, "--pod-network=10.244.0.0/33"}, "--pod-network", "networks"},
      {{net_flag, vtep_flag, "--pod-network=10.244.1.1/16"}, "--pod-network", "host bits"},
      {{net_flag, vtep_flag, "--pod-network=10.244.0.0/16,"}, "--pod-network", "networks"},
  };
  for (const auto& r : rows) {
    std::vector<std::string> storage{"kube-chorus-router"};
    storage.insert(storage.end(), r.args.begin(), r.args.end());
    std::vector<const char*> argv;
    for (auto& s : storage)
      argv.push_back(s.c_str());
    auto cl = parse_command_line(static_cast<int>(argv.size()), argv.data());
    BOOST_TEST_CONTEXT(r.must_contain << " -> " << cl.err) {
      BOOST_TEST(cl.exit_now);
      BOOST_TEST(cl.exit_code == 2);
      BOOST_TEST(cl.err.find(r.must_contain) != std::string::npos);
      BOOST_TEST(cl.err.find(r.expected) != std::string::npos);
      BOOST_TEST(cl.err.find('\n') == std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(empty_endpoint_addresses_disable_them) {
  auto eq = parse({net_flag, vtep_flag, "--health-addr=", "--metrics-addr=", "--vni=3"});
  BOOST_TEST_REQUIRE(!eq.exit_now, eq.err);
  BOOST_TEST(eq.opts.health_addr.empty());
  BOOST_TEST(eq.opts.metrics_addr.empty());
  BOOST_TEST(eq.opts.vni == 3u); // the next argument was not swallowed
  auto last = parse({net_flag, vtep_flag, "--metrics-addr="});
  BOOST_TEST_REQUIRE(!last.exit_now, last.err);
  BOOST_TEST(last.opts.metrics_addr.empty());
  setenv("KCR_HEALTH_ADDR", "", 1);
  auto env = parse({net_flag, vtep_flag});
  unsetenv("KCR_HEALTH_ADDR");
  BOOST_TEST_REQUIRE(!env.exit_now, env.err);
  BOOST_TEST(env.opts.health_addr.empty());
  BOOST_TEST(env.opts.metrics_addr == "0.0.0.0:20265");
}

BOOST_AUTO_TEST_CASE(cleanup_needs_no_overlay_settings) {
  auto cl = parse({"--cleanup-config"});
  BOOST_TEST_REQUIRE(!cl.exit_now, cl.err);
  BOOST_TEST(cl.opts.cleanup_config);
}

BOOST_AUTO_TEST_CASE(help_and_version) {
  auto help = parse({"--help"});
  BOOST_TEST(help.exit_now);
  BOOST_TEST(help.exit_code == 0);
  for (auto flag : {"--kubeconfig",
                    "--master",
                    "--hostname-override",
                    "--overlay-type",
                    "--overlay-network",
                    "--endpoint-ip",
                    "--remote-vtep",
                    "--remote-vtep-mac",
                    "--vni",
                    "--vxlan-port",
                    "--tunnel-mtu",
                    "--configmap-name",
                    "--configmap-namespace",
                    "--config-sync-period",
                    "--tunnel-sync-period",
                    "--run-publisher",
                    "--run-tunnel",
                    "--leader-elect",
                    "--health-addr",
                    "--metrics-addr",
                    "--log-level",
                    "--log-format",
                    "--cleanup-config",
                    "--version",
                    "--help"})
    BOOST_TEST(help.out.find(flag) != std::string::npos, flag);
  auto version = parse({"--version"});
  BOOST_TEST(version.exit_code == 0);
  BOOST_TEST(version.out.find(KCR_VERSION) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(configmap_write_budget) {
  auto d = parse({net_flag, vtep_flag});
  BOOST_TEST_REQUIRE(!d.exit_now, d.err);
  BOOST_TEST(d.opts.configmap_write_budget == 2097152.0); // 2 MiB/s
  struct row {
    const char* value;
    double bytes; // -1 = a usage error naming the flag and the value
  };
  for (auto r : {row{"64Ki", 65536}, row{"2Mi/s", 2097152}, row{"1Gi", 1073741824}, row{"0", 0},
                 row{"1000000", 1e6}, row{"5M", 5e6}, row{"300k", 3e5}, row{"fast", -1},
                 row{"-1", -1}, row{"2MB", -1}, row{"1.5Mi", -1}, row{"Mi", -1}, row{"", -1}}) {
    BOOST_TEST_CONTEXT("--configmap-write-budget=" << r.value) {
      auto cl = parse({net_flag, vtep_flag, std::string{"--configmap-write-budget="} + r.value});
      if (r.bytes < 0) {
        BOOST_TEST(cl.exit_code == 2);
        BOOST_TEST(cl.err.find("--configmap-write-budget") != std::string::npos);
        BOOST_TEST(cl.err.find("bytes per second") != std::string::npos);
      } else {
        BOOST_TEST_REQUIRE(!cl.exit_now, cl.err);
        BOOST_TEST(cl.opts.configmap_write_budget == r.bytes);
      }
    }
  }
  setenv("KCR_CONFIGMAP_WRITE_BUDGET", "128Ki", 1);
  auto env = parse({net_flag, vtep_flag});
  unsetenv("KCR_CONFIGMAP_WRITE_BUDGET");
  BOOST_TEST(env.opts.configmap_write_budget == 131072.0);
}

BOOST_AUTO_TEST_CASE(durations) {
  struct row {
    const char* in;
    long long ms; // -1 = invalid
  };
  for (auto r : {row{"30s", 30000}, row{"1m", 60000}, row{"1m30s", 90000}, row{"500ms", 500},
                 row{"2h", 7200000}, row{"1h1m1s", 3661000}, row{"", -1}, row{"10", -1},
                 row{"1x", -1}, row{"-1s", -1}, row{"s", -1}, row{"1.5s", -1}}) {
    auto d = parse_duration(r.in);
    if (r.ms < 0)
      BOOST_TEST(!d.has_value(), r.in);
    else
      BOOST_TEST((d && d->count() == r.ms), r.in);
  }
  BOOST_TEST(format_duration(90s) == "1m30s");
  BOOST_TEST(format_duration(1500ms) == "1500ms");
  // Found by test/fuzz/fuzz_duration: what format_duration writes parses back, also past 10^9 ms,
  // and no sum of terms overflows.
  auto big = parse_duration("5502h02h0m02ms0h0m");
  BOOST_TEST_REQUIRE(big.has_value());
  BOOST_TEST(format_duration(*big) == "5504h2ms");
  BOOST_TEST((parse_duration(format_duration(*big)) == big));
  std::string many;
  for (int i = 0; i < 3000; ++i)
    many += "999999999h";
  BOOST_TEST(!parse_duration(many).has_value());
  BOOST_TEST(parse_duration("1000000000h").has_value());
  BOOST_TEST(!parse_duration("1000000000h1ms").has_value());
}

BOOST_AUTO_TEST_SUITE_END()
