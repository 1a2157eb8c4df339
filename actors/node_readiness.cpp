// node_readiness (see node_readiness.hpp).
#include "actors/node_readiness.hpp"

#include <algorithm>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/tunnel_spec_builder.hpp"

namespace kcr::actors {

void reporting_tunnel_manager::set_sink(std::function<void(converge_outcome)> sink) {
  std::lock_guard lock{mutex_};
  sink_ = std::move(sink);
}

net::tunnel_result<net::converge_report>
reporting_tunnel_manager::converge(const net::tunnel_spec& spec) {
  auto result = inner_->converge(spec);
  std::function<void(converge_outcome)> sink;
  {
    std::lock_guard lock{mutex_};
    sink = sink_;
  }
  if (sink)
    sink(outcome_of(spec, result));
  return result;
}

converge_outcome outcome_of(const net::tunnel_spec& spec,
                            const net::tunnel_result<net::converge_report>& result) {
  converge_outcome o;
  o.ok = static_cast<bool>(result);
  o.overlay_ip = spec.overlay.address().to_string();
  o.interface = net::interface_name(spec);
  if (!result) {
    o.error = std::string(net::to_string(result.error().code)) + ": " + result.error().message;
  } else if (result.value().rp_filter.strict()) {
    o.rp_filter_fix = net::rp_filter_fix(o.interface);
  }
  return o;
}

void node_readiness_state::init(node_readiness_actor::pointer ptr, node_readiness_config config) {
  self = ptr;
  cfg = std::move(config);
  next_backoff = cfg.settings->backoff_initial;
  inputs.route_only = cfg.settings->overlay_type == net::overlay_type::none;
}

void node_readiness_state::on_own_node(const own_node_observed& msg) {
  if (cfg.supervisor)
    self->send(cfg.supervisor, msg);
  if (!msg.exists) {
    inputs.entry_overlay_ip.reset();
    inputs.entry_problem = "Node " + cfg.settings->node_name + " does not exist";
    taints.clear();
    return; // nothing to write to a Node that is gone
  }
  auto r = own_entry(msg.node, *cfg.settings);
  inputs.entry_overlay_ip = r.entry ? std::optional{r.entry->overlay_ip.to_string()} : std::nullopt;
  inputs.entry_problem = r.problem;
  if (msg.node.taints != taints) {
    taints = msg.node.taints;
    taint_attempted = false; // a new list: a failed removal may succeed on it
  }
  request_flush();
}

void node_readiness_state::on_outcome(const converge_outcome& o) {
  if (inputs.last == o)
    return; // the periodic converge with nothing new
  inputs.last = o;
  request_flush();
}

void node_readiness_state::request_flush() {
  if (flush_queued)
    return;
  flush_queued = true;
  self->send(self, flush_atom::value);
}

void node_readiness_state::flush() {
  flush_queued = false;
  if (retry_armed)
    return; // the retry flushes once the backoff ran out
  if (!write_condition())
    return;
  if (!taint_attempted && should_remove_taint(cfg.remove_taint, written, taints))
    remove_taint();
}

bool node_readiness_state::write_condition() {
  auto want = desired_condition(inputs);
  if (!want || want == written)
    return true;
  const bool transition = !written || written->ready != want->ready;
  auto r = cfg.port->patch_condition(cfg.settings->node_name, *want, transition);
  if (!r) {
    failed("cannot write its condition", r.error());
    return false;
  }
  ++condition_writes;
  next_backoff = cfg.settings->backoff_initial;
  spdlog::info("readiness: Node {} {}={} {}: {}", cfg.settings->node_name, tunnel_condition_type,
               want->ready ? "True" : "False", want->reason, want->message);
  written = std::move(want);
  return true;
}

void node_readiness_state::remove_taint() {
  taint_attempted = true;
  auto at = taint_indices(taints, readiness_taint_key);
  auto r = cfg.port->remove_taints(cfg.settings->node_name, at, readiness_taint_key);
  if (!r) {
    // 422: the list moved under the patch; the next observation of the Node retries.
    if (r.error().code == 422) {
      spdlog::info("readiness: Node {}'s taints changed meanwhile; retrying on the next update",
                   cfg.settings->node_name);
      return;
    }
    taint_attempted = false;
    failed("cannot remove its startup taint", r.error());
    return;
  }
  ++taint_removals;
  spdlog::info("readiness: removed the taint {} from Node {} (its tunnel is converged)",
               readiness_taint_key, cfg.settings->node_name);
}

void node_readiness_state::failed(const char* what, const api_failure& f) {
  ++failures;
  spdlog::warn("readiness: Node {} {}: {}; retrying in {} ms", cfg.settings->node_name, what,
               f.describe(), next_backoff.count());
  retry_armed = true;
  self->delayed_send(self, next_backoff, retry_atom::value);
  next_backoff = std::min(next_backoff * 2, cfg.settings->backoff_max);
}

std::string node_readiness_state::status_line() const {
  std::string c = written ? std::string(written->ready ? "True " : "False ") + written->reason
                          : std::string("unwritten");
  return cfg.settings->node_name + " " + tunnel_condition_type + "=" + c + " (" +
         std::to_string(condition_writes) + " writes, taint removed " +
         std::to_string(taint_removals) + ", " + std::to_string(failures) + " failed)";
}

node_readiness_actor::behavior_type
node_readiness(node_readiness_actor::stateful_pointer<node_readiness_state> self,
               node_readiness_config cfg) {
  self->state.init(self, std::move(cfg));
  return {
      [self](const own_node_observed& msg) { self->state.on_own_node(msg); },
      [self](const link_changed& msg) {
        if (self->state.cfg.supervisor)
          self->send(self->state.cfg.supervisor, msg);
      },
      [self](status_atom, const std::string& which) -> caf::result<std::string> {
        if (which == "readiness" || !self->state.cfg.supervisor)
          return self->state.status_line();
        return self->delegate(self->state.cfg.supervisor, status_atom::value, which);
      },
      [self](const converge_outcome& o) { self->state.on_outcome(o); },
      [self](flush_atom) { self->state.flush(); },
      [self](retry_atom) {
        self->state.retry_armed = false;
        self->state.flush();
      },
  };
}

} // namespace kcr::actors
