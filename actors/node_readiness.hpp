// node_readiness (tunnel role, issue 17): keeps the local Node's condition `ChorusTunnelReady`
// true to the tunnel and, with --readiness-taint, removes the startup taint
// `kube-chorus-router.io/not-ready` once the condition is True (rules: readiness_rules.hpp).
//
// Where its inputs come from, without a second watch: it sits in front of the tunnel supervisor
// on the own-Node stream (it takes the supervisor's messages and forwards them unchanged, so the
// own-Node feeder needs no change), and the local tunnel's converges reach it through
// reporting_tunnel_manager, a net::tunnel_manager that passes every call to the real one and
// reports each converge's outcome.
//
// Writes are gentle: the condition only when the rules' answer differs from what this actor last
// wrote (a strategic merge patch of nodes/<node>/status, merged by condition type, so the
// kubelet's conditions stay), the taint once (a JSON patch that tests each index's key before
// removing it). No periodic writes. A failed write is retried with backoff; a failed taint
// removal (the list moved under it) waits for the next observation of the Node.
//
// Lifecycle: Run: nothing armed; OnUpdate: a changed input schedules one coalesced flush; Sync:
// the flush; Cleanup: nothing (the condition stays as last written; the agent's absence is the
// kubelet's and the DaemonSet's business).
//
// The state decides and returns a node_readiness_step; the behaviour alone sends it (and forwards
// the supervisor's messages), as the publisher and the node annotator do.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "actors/interfaces.hpp"
#include "actors/ports.hpp"
#include "actors/readiness_rules.hpp"
#include "actors/retry_backoff.hpp"
#include "actors/settings.hpp"
#include "net/tunnel_manager.hpp"

namespace kcr::actors {

/// The agent's writes to its own Node.
class node_status_port {
public:
  virtual ~node_status_port() = default;
  /// Strategic merge PATCH of nodes/<node>/status with one condition of type
  /// tunnel_condition_type (heartbeat time now; transition time now when `transition`).
  virtual outcome<bool> patch_condition(const std::string& node, const tunnel_condition& c,
                                        bool transition) = 0;
  /// JSON patch of the Node removing the taints at `indices` (highest first), each guarded by a
  /// test of its key: a list that changed meanwhile fails the patch (422) instead of removing
  /// someone else's taint.
  virtual outcome<bool> remove_taints(const std::string& node,
                                      const std::vector<std::size_t>& indices,
                                      const std::string& key) = 0;
};

/// A net::tunnel_manager that reports every converge's outcome to a sink (set once, before the
/// first converge; called on the converging thread).
class reporting_tunnel_manager final : public net::tunnel_manager {
public:
  explicit reporting_tunnel_manager(std::shared_ptr<net::tunnel_manager> inner)
      : inner_(std::move(inner)) {}
  void set_sink(std::function<void(converge_outcome)> sink);

  net::tunnel_result<net::converge_report> converge(const net::tunnel_spec& spec) override;
  net::tunnel_result<net::cleanup_report> cleanup() override { return inner_->cleanup(); }
  net::tunnel_result<net::cleanup_report> remove(std::string_view name) override {
    return inner_->remove(name);
  }
  net::tunnel_result<std::optional<net::tunnel_state>>
  current_state(std::string_view name) override {
    return inner_->current_state(name);
  }

private:
  std::shared_ptr<net::tunnel_manager> inner_;
  std::mutex mutex_;
  std::function<void(converge_outcome)> sink_;
};

/// The outcome of one converge of `spec` (what readiness_rules look at).
converge_outcome outcome_of(const net::tunnel_spec& spec,
                            const net::tunnel_result<net::converge_report>& result);

struct node_readiness_config {
  std::shared_ptr<const controller_settings> settings; // node_name, overlay network, backoff
  bool remove_taint = false;                           // --readiness-taint
  std::shared_ptr<node_status_port> port;              // never null
  tunnel_supervisor_actor supervisor;                  // where own-Node messages go on
};

/// What node_readiness's state wants done after a message; the behaviour only performs it:
/// nothing, a flush behind the messages already queued, or a retry_atom after the backoff's
/// `delay`.
struct node_readiness_step {
  enum class kind { none, flush, retry };
  kind what = kind::none;
  std::chrono::steady_clock::duration delay{};
  bool operator==(const node_readiness_step&) const = default;
};

/// node_readiness's state and decisions; its only side effects go through `cfg.port`, so it can
/// be driven directly (test/actors/node_readiness_state_test.cpp).
struct node_readiness_state {
  static inline const char* name = "node_readiness";

  node_readiness_config cfg;

  readiness_inputs inputs;
  std::vector<kube::taint> taints;         // the Node's, as last observed
  std::optional<tunnel_condition> written; // what the Node holds after our last write
  bool taint_attempted = false;            // tried on the taints as last observed
  bool flush_queued = false;
  bool retry_armed = false;
  kube::backoff backoff; // failed writes (retry_backoff(settings))

  size_t condition_writes = 0;
  size_t taint_removals = 0;
  size_t failures = 0;

  void init(node_readiness_config config);
  /// The own Node as observed (the behaviour forwards it to the supervisor as well).
  node_readiness_step on_own_node(const own_node_observed& msg);
  node_readiness_step on_outcome(const converge_outcome& o);
  /// One flush however many inputs arrive.
  node_readiness_step flush_soon();
  /// Writes what the rules want and the Node lacks: the condition, then the taint removal; a
  /// failed write says retry after the backoff.
  node_readiness_step on_flush();
  /// The backoff ran out: flushes.
  node_readiness_step on_retry();
  /// Its state as data (status_atom, readiness_atom).
  readiness_status status() const;

private:
  /// Nothing, or a retry when the write failed.
  node_readiness_step write_condition();
  node_readiness_step remove_taint();
  node_readiness_step failed(const char* what, const api_failure& f);
};

node_readiness_actor::behavior_type
node_readiness(node_readiness_actor::stateful_pointer<node_readiness_state> self,
               node_readiness_config cfg);

} // namespace kcr::actors
