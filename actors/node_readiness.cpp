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

void node_readiness_state::init(node_readiness_config config) {
  cfg = std::move(config);
  backoff = retry_backoff(*cfg.settings);
  inputs.route_only = cfg.settings->overlay_type == net::overlay_type::none;
}

node_readiness_step node_readiness_state::on_own_node(const own_node_observed& msg) {
  if (!msg.exists) {
    inputs.entry_overlay_ip.reset();
    inputs.entry_problem = "Node " + cfg.settings->node_name + " does not exist";
    taints.clear();
    return {}; // nothing to write to a Node that is gone
  }
  auto r = own_entry(msg.node, *cfg.settings);
  inputs.entry_overlay_ip = r.entry ? std::optional{r.entry->overlay_ip.to_string()} : std::nullopt;
  inputs.entry_problem = r.problem;
  if (msg.node.taints != taints) {
    taints = msg.node.taints;
    taint_attempted = false; // a new list: a failed removal may succeed on it
  }
  return flush_soon();
}

node_readiness_step node_readiness_state::on_outcome(const converge_outcome& o) {
  if (inputs.last == o)
    return {}; // the periodic converge with nothing new
  inputs.last = o;
  return flush_soon();
}

node_readiness_step node_readiness_state::flush_soon() {
  if (flush_queued)
    return {};
  flush_queued = true;
  return {node_readiness_step::kind::flush};
}

node_readiness_step node_readiness_state::on_flush() {
  flush_queued = false;
  if (retry_armed)
    return {}; // the retry flushes once the backoff ran out
  if (auto step = write_condition(); step.what != node_readiness_step::kind::none)
    return step;
  if (!taint_attempted && should_remove_taint(cfg.remove_taint, written, taints))
    return remove_taint();
  return {};
}

node_readiness_step node_readiness_state::on_retry() {
  retry_armed = false;
  return on_flush();
}

node_readiness_step node_readiness_state::write_condition() {
  auto want = desired_condition(inputs);
  if (!want || want == written)
    return {};
  const bool transition = !written || written->ready != want->ready;
  auto r = cfg.port->patch_condition(cfg.settings->node_name, *want, transition);
  if (!r)
    return failed("cannot write its condition", r.error());
  ++condition_writes;
  backoff.reset();
  spdlog::info("readiness: Node {} {}={} {}: {}", cfg.settings->node_name, tunnel_condition_type,
               want->ready ? "True" : "False", want->reason, want->message);
  written = std::move(want);
  return {};
}

node_readiness_step node_readiness_state::remove_taint() {
  taint_attempted = true;
  auto at = taint_indices(taints, readiness_taint_key);
  auto r = cfg.port->remove_taints(cfg.settings->node_name, at, readiness_taint_key);
  if (!r) {
    // 422: the list moved under the patch; the next observation of the Node retries.
    if (r.error().code == 422) {
      spdlog::info("readiness: Node {}'s taints changed meanwhile; retrying on the next update",
                   cfg.settings->node_name);
      return {};
    }
    taint_attempted = false;
    return failed("cannot remove its startup taint", r.error());
  }
  ++taint_removals;
  spdlog::info("readiness: removed the taint {} from Node {} (its tunnel is converged)",
               readiness_taint_key, cfg.settings->node_name);
  return {};
}

node_readiness_step node_readiness_state::failed(const char* what, const api_failure& f) {
  ++failures;
  auto delay = backoff.next();
  spdlog::warn("readiness: Node {} {}: {}; retrying in {} ms", cfg.settings->node_name, what,
               f.describe(), delay.count());
  retry_armed = true;
  return {node_readiness_step::kind::retry, delay};
}

readiness_status node_readiness_state::status() const {
  return {.node = cfg.settings->node_name,
          .written = written.has_value(),
          .ready = written && written->ready,
          .reason = written ? written->reason : std::string{},
          .condition_writes = condition_writes,
          .taint_removals = taint_removals,
          .failures = failures};
}

namespace {

/// The supervisor's questions go on to it (there is none only in tests).
template <class Reply, class... Ts>
caf::result<Reply> ask_supervisor(node_readiness_actor::stateful_pointer<node_readiness_state> self,
                                  Ts... xs) {
  if (!self->state.cfg.supervisor)
    return caf::make_error(caf::sec::request_receiver_down);
  return self->delegate(self->state.cfg.supervisor, xs...);
}

} // namespace

node_readiness_actor::behavior_type
node_readiness(node_readiness_actor::stateful_pointer<node_readiness_state> self,
               node_readiness_config cfg) {
  self->state.init(std::move(cfg));
  // The one place that sends what the state decided.
  auto perform = [self](node_readiness_step step) {
    if (step.what == node_readiness_step::kind::flush)
      self->send(self, flush_atom::value);
    else if (step.what == node_readiness_step::kind::retry)
      self->delayed_send(self, step.delay, retry_atom::value);
  };
  // The supervisor's messages go on to it unchanged (there is none only in tests).
  auto forward = [self](const auto& msg) {
    if (self->state.cfg.supervisor)
      self->send(self->state.cfg.supervisor, msg);
  };
  return {
      [=](const own_node_observed& msg) {
        forward(msg);
        perform(self->state.on_own_node(msg));
      },
      [=](const link_changed& msg) { forward(msg); },
      [self](status_atom) { return ask_supervisor<tunnel_status>(self, status_atom::value); },
      [self](status_atom, supervisor_atom) {
        return ask_supervisor<supervisor_status>(self, status_atom::value, supervisor_atom::value);
      },
      [self](status_atom, readiness_atom) { return self->state.status(); },
      [=](const converge_outcome& o) { perform(self->state.on_outcome(o)); },
      [=](flush_atom) { perform(self->state.on_flush()); },
      [=](retry_atom) { perform(self->state.on_retry()); },
  };
}

} // namespace kcr::actors
