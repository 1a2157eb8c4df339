// Helpers shared by the tunnel actor and tunnel supervisor tests: settings, entries, snapshots,
// a request helper for status_atom, a recording event recorder and a log capture.
#pragma once

#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "actors/interfaces.hpp"
#include "actors/readiness_rules.hpp"
#include "actors/settings.hpp"
#include "fixture.hpp"

namespace kcr::test {

using namespace std::chrono_literals;

inline net::ip_address ip(const char* text) {
  return *net::ip_address::parse(text);
}

/// VXLAN, 192.168.254.0/24, device 203.0.113.10 at .254; long periodic sync so that only the
/// tests that want it see it; backoff 500 ms doubling to 4 s.
inline actors::controller_settings tunnel_settings(std::string node = "node-a") {
  actors::controller_settings s;
  s.node_name = std::move(node);
  s.overlay_type = net::overlay_type::vxlan;
  s.overlay_network = *net::cidr::parse("192.168.254.0/24");
  s.endpoint_ip = ip("192.168.254.254");
  s.remote_vtep = ip("203.0.113.10");
  s.vni = 42;
  s.vxlan_port = 4789;
  s.tunnel_sync_period = 60s;
  s.backoff_initial = 500ms;
  s.backoff_max = 4s;
  s.detach_blocking_actors = false;
  return s;
}

inline kube::node_entry make_entry(const std::string& name, const std::string& node_ip,
                                   const std::string& overlay_ip) {
  kube::node_entry e;
  e.name = name;
  e.uid = "uid-" + name;
  e.node_ip = ip(node_ip.c_str());
  e.overlay_ip = ip(overlay_ip.c_str());
  e.pod_cidrs = {*net::cidr::parse("10.244.1.0/24")};
  return e;
}

/// node-<i> (i from 0): node IP 10.0.<i/250>.<i%250+1>, overlay IP 192.168.254.<i+1> (i < 253).
inline kube::node_entry nth_entry(int i) {
  return make_entry("node-" + std::to_string(i),
                    "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1),
                    "192.168.254." + std::to_string(i + 1));
}

inline actors::published_snapshot snapshot(std::vector<kube::node_entry> entries,
                                           std::string rv = "1") {
  kube::published_state state;
  state.endpoint_ip = ip("192.168.254.254");
  state.type = net::overlay_type::vxlan;
  state.entries = std::move(entries);
  return actors::published_snapshot::of(std::move(state), std::move(rv));
}

/// Sends a request and runs the coordinator until the reply is in; throws (fails the test case)
/// without one.
template <class Reply, class Handle, class... Ts>
Reply ask(actor_fixture& fx, const Handle& h, Ts... xs) {
  auto out = std::make_shared<std::optional<Reply>>();
  auto why = std::make_shared<std::string>("no reply");
  fx.sys->spawn([=](caf::event_based_actor* self) {
    self->request(h, caf::infinite, xs...)
        .then([=](const Reply& r) { *out = r; },
              [=](const caf::error& e) { *why = caf::to_string(e); });
  });
  fx.run();
  if (!*out)
    throw std::runtime_error("status request: " + *why);
  return **out;
}

/// An event recorder that keeps what it receives.
/// node-a as its own watch delivers it: annotated with `annotation` (none: not yet), carrying a
/// foreign taint and, when `tainted`, the startup taint after it.
inline actors::own_node_observed own_node(std::optional<std::string> annotation,
                                          bool tainted = false, std::string rv = "1") {
  actors::own_node_observed m;
  m.exists = true;
  m.node.name = "node-a";
  m.node.uid = "uid-node-a";
  m.node.resource_version = std::move(rv);
  m.node.underlay_ip = ip("198.51.100.7");
  m.node.pod_cidrs = {*net::cidr::parse("10.244.1.0/24")};
  if (annotation)
    m.node.annotations[actors::overlay_ip_annotation] = *annotation;
  m.node.taints = {{"dedicated", "", "NoSchedule"}};
  if (tainted)
    m.node.taints.push_back({actors::readiness_taint_key, "", "NoSchedule"});
  return m;
}

inline actors::event_recorder_actor
recording_events(actor_fixture& fx, std::shared_ptr<std::vector<actors::node_event>> out) {
  return fx.track(fx.sys->spawn([out]() -> actors::event_recorder_actor::behavior_type {
    return {[out](const actors::node_event& e) { out->push_back(e); }};
  }));
}

/// Routes spdlog's default logger into a string for the lifetime of the object.
struct log_capture {
  std::ostringstream text;
  std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();

  log_capture() {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(text);
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_level(spdlog::level::debug);
    spdlog::set_default_logger(logger);
  }
  ~log_capture() { spdlog::set_default_logger(previous); }

  size_t count(const std::string& needle) const {
    const std::string s = text.str();
    size_t n = 0;
    for (auto pos = s.find(needle); pos != std::string::npos; pos = s.find(needle, pos + 1))
      ++n;
    return n;
  }
};

} // namespace kcr::test

namespace kcr::actors {
// Boost.Test prints a status reply that differs as its one-line form.
inline std::ostream& operator<<(std::ostream& os, tunnel_phase p) {
  return os << to_string(p);
}
inline std::ostream& operator<<(std::ostream& os, const tunnel_status& s) {
  return os << to_string(s);
}
inline std::ostream& operator<<(std::ostream& os, const supervisor_status& s) {
  return os << to_string(s);
}
inline std::ostream& operator<<(std::ostream& os, const readiness_status& s) {
  return os << to_string(s);
}
} // namespace kcr::actors
