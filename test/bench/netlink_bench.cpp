// kcr_netlink_bench: timings of the tunnel layer for `make bench` (needs root).
//
//   kcr_netlink_bench [--iterations N]
//     Moves the whole process into a fresh, anonymous network namespace
//     (unshare: it disappears with the process, nothing to clean up), builds a
//     veth underlay, then measures
//       - converge with no drift: time per call and netlink writes (must be 0);
//       - repair of a deleted interface through the link monitor: a monitor
//         thread converges on every notification (like the tunnel actor fed by
//         app::link_feeder); the time runs from the delete request to the end
//         of the converge that re-created the interface.
//   kcr_netlink_bench --watch-repair IFACE [--iterations N] [--timeout-ms T]
//     In the current namespace, where the real controller keeps IFACE: deletes
//     it N times and times until it is back, up and addressed again (the
//     product's own path: link monitor -> actor -> converge).
//
// Prints one JSON object on stdout; progress and errors on stderr. Exit 77
// when not root (like the privileged tests), 1 on failure.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <sched.h>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "net/link_monitor.hpp"
#include "net/netlink_tunnel.hpp"

using namespace kcr::net;
using clk = std::chrono::steady_clock;

namespace {

double ms_since(clk::time_point t0, clk::time_point t1) {
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

// "p50/p99/max/mean" of a sample, as a JSON object.
std::string stats(std::vector<double> v) {
  std::ostringstream o;
  if (v.empty())
    return "null";
  std::sort(v.begin(), v.end());
  auto pct = [&](double p) {
    size_t i = size_t(p * double(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
  };
  double sum = 0;
  for (double x : v)
    sum += x;
  o.setf(std::ios::fixed);
  o.precision(3);
  o << "{\"n\": " << v.size() << ", \"p50_ms\": " << pct(0.5) << ", \"p99_ms\": " << pct(0.99)
    << ", \"max_ms\": " << v.back() << ", \"mean_ms\": " << sum / double(v.size()) << "}";
  return o.str();
}

[[noreturn]] void die(const std::string& what) {
  std::cerr << "kcr_netlink_bench: " << what << std::endl;
  std::exit(1);
}

void sh(const std::string& cmd) {
  if (std::system(cmd.c_str()) != 0)
    die("command failed: " + cmd);
}

tunnel_spec bench_spec() {
  tunnel_spec s;
  s.vni = 42;
  s.port = 4789;
  s.local = *ip_address::parse("198.51.100.10");
  s.remote = *ip_address::parse("198.51.100.1");
  s.overlay = *cidr::parse("192.168.254.1/24");
  s.endpoint_neighbour = static_neighbour{*ip_address::parse("192.168.254.254"),
                                          *mac_address::parse("0a:58:c0:a8:fe:fe")};
  return s;
}

// Converge with nothing drifted, `n` times on one manager (the product keeps
// one manager, hence one socket, per tunnel actor).
std::string bench_converge(int n) {
  netlink_tunnel_manager m;
  auto first = m.converge(bench_spec());
  if (!first.ok())
    die("initial converge: " + first.error().message);
  std::vector<double> t;
  int writes = 0;
  for (int i = 0; i < n; ++i) {
    auto t0 = clk::now();
    auto r = m.converge(bench_spec());
    auto t1 = clk::now();
    if (!r.ok())
      die("converge: " + r.error().message);
    writes += r->netlink_writes;
    t.push_back(ms_since(t0, t1));
  }
  return "{\"create_writes\": " + std::to_string(first->netlink_writes) +
         ", \"netlink_writes\": " + std::to_string(writes) + ", \"time\": " + stats(t) + "}";
}

// Monitor thread converging on every notification; the main thread deletes.
std::string bench_monitor_repair(int n) {
  const std::string name = interface_name(bench_spec());
  auto mon = link_monitor::open({name});
  if (!mon.ok())
    die("link monitor: " + mon.error().message);
  std::mutex mu;
  std::condition_variable cv;
  int repaired = 0;
  clk::time_point repaired_at;
  std::atomic<bool> stop{false};
  std::thread worker([&] {
    netlink_tunnel_manager m;
    auto err = mon.value()->run(stop, [&](const link_event&) {
      auto r = m.converge(bench_spec());
      if (r.ok() && r->created) {
        std::lock_guard lk(mu);
        ++repaired;
        repaired_at = clk::now();
        cv.notify_all();
      }
    });
    if (err)
      std::cerr << "monitor stopped: " << err->message << std::endl;
  });
  netlink_tunnel_manager deleter;
  std::vector<double> t;
  for (int i = 0; i < n; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(30)); // let it settle
    auto t0 = clk::now();
    auto r = deleter.remove(name);
    if (!r.ok() || r->removed.empty())
      die("delete " + name + ": " + (r.ok() ? "not there" : r.error().message));
    std::unique_lock lk(mu);
    if (!cv.wait_for(lk, std::chrono::seconds(2), [&] { return repaired == i + 1; }))
      die("interface not repaired within 2 s");
    t.push_back(ms_since(t0, repaired_at));
  }
  stop = true;
  mon.value()->wake();
  worker.join();
  return stats(t);
}

// The product's repair, seen from outside: delete IFACE, wait until the
// monitor reports it back, up and with an IPv4 address.
std::string watch_repair(const std::string& name, int n, int timeout_ms) {
  auto mon = link_monitor::open({name});
  if (!mon.ok())
    die("link monitor: " + mon.error().message);
  netlink_tunnel_manager deleter;
  std::vector<double> back, ready;
  for (int i = 0; i < n; ++i) {
    // Wait for the interface to be there (and quiet for 100 ms).
    auto deadline = clk::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      auto st = deleter.current_state(name);
      if (st.ok() && st.value() && st.value()->up && !st.value()->addresses.empty())
        break;
      if (clk::now() > deadline)
        die(name + " is not there (is the controller running with --run-tunnel?)");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    for (auto ev = mon.value()->poll_once(std::chrono::milliseconds(100)); ev.ok() && !ev->empty();
         ev = mon.value()->poll_once(std::chrono::milliseconds(100))) {
    }
    auto t0 = clk::now();
    auto r = deleter.remove(name);
    if (!r.ok() || r->removed.empty())
      die("delete " + name + ": " + (r.ok() ? "not there" : r.error().message));
    bool appeared = false, up = false, addr = false;
    while (!(appeared && up && addr)) {
      auto ev = mon.value()->poll_once(std::chrono::milliseconds(timeout_ms));
      if (!ev.ok())
        die("monitor: " + ev.error().message);
      if (ev->empty())
        die(name + " not repaired within " + std::to_string(timeout_ms) + " ms");
      for (const auto& e : ev.value()) {
        auto now = clk::now();
        if (e.kind == link_event_kind::appeared && !appeared) {
          appeared = true;
          back.push_back(ms_since(t0, now));
        }
        up = up || e.kind == link_event_kind::up;
        addr = addr || e.kind == link_event_kind::address_added;
        if (appeared && up && addr) {
          ready.push_back(ms_since(t0, now));
          break;
        }
      }
    }
  }
  return "{\"appeared\": " + stats(back) + ", \"up_and_addressed\": " + stats(ready) + "}";
}

} // namespace

int main(int argc, char** argv) {
  int iterations = 20;
  int timeout_ms = 5000;
  std::string watch;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc)
        die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--iterations")
      iterations = std::max(1, std::atoi(next().c_str()));
    else if (a == "--watch-repair")
      watch = next();
    else if (a == "--timeout-ms")
      timeout_ms = std::max(100, std::atoi(next().c_str()));
    else
      die("unknown argument " + a + " (see the header of netlink_bench.cpp)");
  }
  if (::geteuid() != 0) {
    std::cout << "SKIPPED: needs root (network namespaces, netlink writes)" << std::endl;
    return 77;
  }
  if (!watch.empty()) {
    std::cout << "{\"watch_repair\": " << watch_repair(watch, iterations, timeout_ms) << "}"
              << std::endl;
    return 0;
  }
  // Still single-threaded: every later thread and child shares the namespace.
  if (::unshare(CLONE_NEWNET) != 0)
    die(std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno));
  sh("ip link set lo up && ip link add ul0 type veth peer name ul1 && "
     "ip addr add 198.51.100.10/24 dev ul0 && ip link set ul0 up && ip link set ul1 up");
  std::string conv = bench_converge(iterations * 10);
  std::string repair = bench_monitor_repair(iterations);
  std::cout << "{\"converge_no_drift\": " << conv << ", \"monitor_repair\": " << repair << "}"
            << std::endl;
  return 0;
}
