// The per-node tunnel actor (see tunnel.hpp).
#include "actors/tunnel.hpp"

#include <algorithm>
#include <exception>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/text.hpp"
#include "actors/tunnel_spec_builder.hpp"

namespace kcr::actors {

namespace {

// A manager is not supposed to throw; if one does, the actor must survive and retry rather than
// die (its supervisor would respawn it into the same exception).
net::tunnel_result<net::converge_report> safe_converge(net::tunnel_manager& mgr,
                                                       const net::tunnel_spec& spec) {
  try {
    return mgr.converge(spec);
  } catch (const std::exception& e) {
    return net::tunnel_error{net::tunnel_errc::netlink_error,
                             std::string("unexpected exception: ") + e.what()};
  }
}

net::tunnel_result<net::cleanup_report> safe_cleanup(net::tunnel_manager& mgr) {
  try {
    return mgr.cleanup();
  } catch (const std::exception& e) {
    return net::tunnel_error{net::tunnel_errc::netlink_error,
                             std::string("unexpected exception: ") + e.what()};
  }
}

} // namespace

void tunnel_state::setup(tunnel_config config) {
  cfg = std::move(config);
  backoff = retry_backoff(*cfg.settings);
}

tunnel_step tunnel_state::start() const {
  tunnel_step out;
  out.sync_after = cfg.settings->tunnel_sync_period;
  return out;
}

tunnel_step tunnel_state::on_observed(const entry_observed& msg) {
  tunnel_step out;
  ++observed_msgs;
  observed_present = msg.entry.has_value();
  if (!msg.entry) {
    // The annotation (or the Node) is gone: keep the last entry and the tunnel built from it.
    // Tearing down on a control-plane hiccup would cut the data plane.
    if (observed)
      spdlog::warn("tunnel: node {} has no overlay entry any more; keeping its tunnel as last "
                   "converged ({})",
                   cfg.node, observed->overlay_ip.to_string());
    return out;
  }
  const bool changed = observed != msg.entry;
  observed = msg.entry;
  if (changed)
    request_converge(out);
  return out;
}

tunnel_step tunnel_state::on_link_changed(const link_changed& msg) {
  spdlog::debug("tunnel {}: link change ({} {}), converging", interface_name(), msg.interface,
                msg.what);
  tunnel_step out;
  request_converge(out);
  return out;
}

tunnel_step tunnel_state::on_sync() {
  tunnel_step out;
  request_converge(out);
  // Re-armed whatever the converge's outcome: one failure never stops the loop.
  out.sync_after = cfg.settings->tunnel_sync_period;
  return out;
}

tunnel_step tunnel_state::on_retry() {
  tunnel_step out;
  retry_armed = false;
  // A converge triggered by something else may have succeeded (or failed for good) meanwhile.
  if (phase == tunnel_phase::failed && retryable_error)
    request_converge(out);
  return out;
}

void tunnel_state::request_converge(tunnel_step& out) {
  if (converge_queued)
    return;
  converge_queued = true;
  out.converge = true;
}

tunnel_step tunnel_state::on_converge() {
  tunnel_step out;
  converge_queued = false;
  if (!observed)
    return out; // no entry for this node yet
  if (cfg.settings->overlay_type == net::overlay_type::none) {
    converge_route_only(out);
    return out;
  }
  const auto spec = build_tunnel_spec(*observed, *cfg.settings);
  ++converges;
  const auto start = std::chrono::steady_clock::now(); // wall time: the call's real cost
  auto result = safe_converge(*cfg.manager, spec);
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  if (result)
    converged_ok(result.value(), took, out);
  else
    converge_failed(result.error(), took, out);
  return out;
}

// A cluster switched from VXLAN/IPIP to none: the old tunnel goes (and again should one be made
// by hand with our mark); the node is converged once none of ours is left. Only interfaces with
// our ownership mark are touched, whatever their name.
void tunnel_state::converge_route_only(tunnel_step& out) {
  ++converges;
  const auto start = std::chrono::steady_clock::now();
  auto result = safe_cleanup(*cfg.manager);
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  if (!result)
    return converge_failed(result.error(), took, out);
  net::converge_report report;
  report.interface = interface_name();
  report.netlink_writes = result->netlink_writes;
  for (const auto& name : result->removed)
    report.changes.push_back("removed " + name + " (route-only mode has no tunnel)");
  converged_ok(report, took, out);
}

void tunnel_state::converged_ok(const net::converge_report& report,
                                std::chrono::duration<double> took, tunnel_step& out) {
  const bool recovered = phase == tunnel_phase::failed;
  phase = tunnel_phase::converged;
  last_error.clear();
  logged_error.clear(); // a recurrence after recovery is news again
  backoff.reset();
  const auto& iface = report.interface.empty() ? interface_name() : report.interface;
  if (report.changed())
    spdlog::info("tunnel {}: node {} converged to {}{}: {}", iface, cfg.node,
                 observed->overlay_ip.to_string(), recovered ? " after a failure" : "",
                 join(report.changes, ", "));
  else if (recovered)
    spdlog::info("tunnel {}: node {} converged again after a failure", iface, cfg.node);
  for (const auto& w : report.warnings)
    if (logged_warnings.insert(w).second)
      spdlog::warn("tunnel {}: {}", iface, w);
  if (auto& tel = cfg.tel) {
    tel->metrics.tunnel_converge(report.created     ? "created"
                                 : report.changed() ? "repaired"
                                                    : "unchanged");
    tel->metrics.netlink_changes(report.netlink_writes);
    tel->metrics.sync_done("tunnel", took, true);
    tel->health.beat("tunnel");
    tel->metrics.sync_succeeded("tunnel");
    tel->health.set_ready("local tunnel converged", true);
  }
  report_rp_filter(iface, report.rp_filter, out);
}

// A strict rp_filter leaves the tunnel up but makes the node drop the device's packets, and
// where /proc/sys is read-only nothing here can change that: the operator must, so it is said
// where they look (a Warning Event on the Node, a metric, a /readyz line naming the sysctl) and
// readiness stays red until it is fixed.
void tunnel_state::report_rp_filter(const std::string& iface, const net::rp_filter_state& rp,
                                    tunnel_step& out) {
  const char* condition = "tunnel rp_filter not strict";
  std::string detail;
  if (rp.strict())
    detail = "net.ipv4.conf.all.rp_filter=" + std::to_string(rp.all) + " and net.ipv4.conf." +
             iface + ".rp_filter=" + std::to_string(rp.interface) +
             " make it strict (max 1), so the node drops the device's packets" +
             (rp.writable ? std::string{} : std::string{" (/proc/sys is read-only here)"}) +
             "; on the node run: " + net::rp_filter_fix(iface);
  if (auto& tel = cfg.tel) {
    tel->metrics.set_rp_filter_strict(rp.strict());
    tel->health.set_ready(condition, !rp.strict(), detail);
  }
  if (detail == rp_filter_reported)
    return;
  rp_filter_reported = detail;
  if (detail.empty()) {
    spdlog::info("tunnel {}: rp_filter is no longer strict (effective {})", iface, rp.effective());
    return;
  }
  spdlog::warn("tunnel {}: {}", iface, detail);
  out.events.push_back(warning(reason_rp_filter_strict, "tunnel " + iface + ": " + detail));
}

void tunnel_state::converge_failed(const net::tunnel_error& err, std::chrono::duration<double> took,
                                   tunnel_step& out) {
  phase = tunnel_phase::failed;
  ++failures;
  const bool retry = net::retryable(err.code);
  retryable_error = retry;
  last_error = std::string(net::to_string(err.code)) + ": " + err.message;
  if (last_error != logged_error) {
    logged_error = last_error;
    spdlog::error("tunnel {}: cannot converge node {}'s tunnel: {} ({}); {}", interface_name(),
                  cfg.node, err.message, net::to_string(err.code),
                  retry ? "retrying with backoff" : "waiting for the next sync or a new entry");
    out.events.push_back(
        warning(reason_tunnel_failed, "tunnel " + interface_name() + ": " + last_error));
  }
  if (auto& tel = cfg.tel) {
    tel->metrics.tunnel_converge("error");
    tel->metrics.sync_done("tunnel", took, false);
    tel->health.set_ready("local tunnel converged", false);
  }
  // Errors that cannot heal by themselves (foreign interface, missing kernel module, invalid
  // spec, no permission) are not retried in a loop: the periodic sync or a new entry retries.
  if (!retry || retry_armed)
    return;
  retry_armed = true;
  out.retry_after = backoff.next();
}

node_event tunnel_state::warning(const char* reason, std::string message) const {
  return {cfg.node, observed ? observed->uid : std::string{}, true, reason, std::move(message)};
}

std::string tunnel_state::interface_name() const {
  const auto& s = *cfg.settings;
  if (s.overlay_type == net::overlay_type::none)
    return "(route-only)";
  return s.tunnel_interface.empty() ? std::string(net::default_interface_name(s.overlay_type))
                                    : s.tunnel_interface;
}

tunnel_status tunnel_state::status() const {
  return {.node = cfg.node,
          .running = true,
          .problem = {},
          .phase = phase,
          .overlay_ip = observed ? observed->overlay_ip.to_string() : std::string{},
          .announced = observed && observed_present,
          .converges = converges,
          .failures = failures,
          .observed = observed_msgs,
          .last_error = last_error};
}

tunnel_actor::behavior_type tunnel(tunnel_actor::stateful_pointer<tunnel_state> self,
                                   tunnel_config cfg) {
  self->state.setup(std::move(cfg));
  // The one place this actor sends what its state decided. No recorder: the Events are dropped.
  auto perform = [self](tunnel_step step) {
    if (const auto& events = self->state.cfg.events)
      for (auto& e : step.events)
        self->send(events, std::move(e));
    if (step.converge)
      self->send(self, converge_atom::value);
    if (step.retry_after)
      self->delayed_send(self, *step.retry_after, retry_atom::value);
    if (step.sync_after)
      self->delayed_send(self, *step.sync_after, sync_atom::value);
  };
  perform(self->state.start()); // Run: the periodic reconcile
  return {
      [=](const entry_observed& msg) { perform(self->state.on_observed(msg)); },
      [=](const link_changed& msg) { perform(self->state.on_link_changed(msg)); },
      [=](converge_atom) { perform(self->state.on_converge()); },
      [=](retry_atom) { perform(self->state.on_retry()); },
      [=](sync_atom) { perform(self->state.on_sync()); },
      [=](status_atom) { return self->state.status(); },
  };
}

} // namespace kcr::actors
