// The node annotator: mirrors every node's overlay address onto its Node as the annotation
// `kube-chorus-router.io/overlay-ip`, so that the node's agent can learn its entry from its own
// Node alone (an O(1) watch) instead of the whole ConfigMap.
//
// Authority: the ConfigMap is the truth, the annotations a cache of it. A node's annotation is
// set to X only when the ConfigMap *as observed by its watch* (so the write is stored) holds X for
// it and the allocator's desired entry agrees (so a hand edit the publisher is about to undo is
// not mirrored); it is removed when neither has an entry; otherwise it is left alone until they
// agree. Only while leading, with a desired set of the current term and a snapshot.
//
// Cost: a Node is patched only when its annotation (as the full Node watch last saw it) differs;
// pending Nodes form one set (coalescing); patches leave through a token bucket
// (settings.annotation_qps, burst one second's worth), removals first; failures back off.
//
// The state decides and returns a node_annotator_step (time passed in); the behaviour alone sends
// it, as the publisher does.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "actors/interfaces.hpp"
#include "actors/ports.hpp"
#include "actors/retry_backoff.hpp"
#include "actors/settings.hpp"
#include "actors/telemetry.hpp"

namespace kcr::actors {

/// What the annotator's state wants done after a message; the behaviour only performs it: nothing,
/// a flush behind the messages already queued, a retry_atom after the backoff's `delay`, or a
/// flush_atom after `delay`, when the token bucket holds a token again.
struct node_annotator_step {
  enum class kind { none, flush, retry, wait };
  using clock = std::chrono::steady_clock;
  kind what = kind::none;
  clock::duration delay{};
  bool operator==(const node_annotator_step&) const = default;
};

/// The annotator's state and decisions; its only side effects go through `port` and `tel`, so it
/// can be driven directly (test/actors/node_annotator_state_test.cpp).
struct node_annotator_state {
  static inline const char* name = "node_annotator";
  using clock = node_annotator_step::clock;

  controller_settings settings;
  std::shared_ptr<telemetry> tel;
  std::shared_ptr<node_annotation_port> port;

  bool leading = false;
  uint64_t term = 0;
  uint64_t desired_term = 0; // of the desired set held
  bool have_desired = false; // a full desired set of desired_term arrived
  bool have_snapshot = false;
  std::map<std::string, net::ip_address> desired;   // allocator: node -> overlay IP
  std::map<std::string, net::ip_address> confirmed; // the observed ConfigMap: node -> overlay IP

  /// A Node's annotation as last seen (watch or our own patch), with the Node's resourceVersion.
  struct seen_value {
    std::optional<std::string> value;
    std::string resource_version;
  };
  std::map<std::string, seen_value> seen; // every existing Node

  std::set<std::string> pending; // nodes to look at in the next flush

  // Token bucket.
  double tokens = 0;
  clock::time_point refilled{};
  bool bucket_started = false;

  bool flush_scheduled = false; // a flush_atom is queued or a delayed one is armed
  bool retry_scheduled = false;
  kube::backoff backoff; // after a failed patch (retry_backoff(settings))

  // Counters for status and tests.
  size_t patches = 0;
  size_t failures = 0;

  /// Takes the settings and the ports, as the behaviour does when spawned.
  void setup(controller_settings s, std::shared_ptr<telemetry> t,
             std::shared_ptr<node_annotation_port> p);

  /// Inputs; each marks the nodes it may have changed as pending and asks for a flush.
  node_annotator_step on_desired(desired_entries msg);
  node_annotator_step on_snapshot(const published_snapshot& snap);
  node_annotator_step on_seen(const node_annotation_seen& msg);
  node_annotator_step on_leadership(bool now_leading, uint64_t new_term);
  /// The periodic full reconcile: every Node is looked at again; beats while no retry is pending.
  node_annotator_step on_sync();

  /// Writes are allowed: leading, a desired set of this term, a ConfigMap seen.
  bool active() const { return leading && have_desired && desired_term == term && have_snapshot; }

  /// What node's annotation must be: nullopt = leave it alone (the two views disagree, or the
  /// Node is unknown); an inner nullopt = remove it; else this value.
  std::optional<std::optional<std::string>> target(const std::string& node) const;

  /// Patches pending nodes while tokens last at `now` (removals first): then a failure says
  /// retry after the backoff, tokens running out say wait until the bucket holds one again.
  node_annotator_step on_flush(clock::time_point now);
  /// The backoff ran out: flushes what is pending by now.
  node_annotator_step on_retry(clock::time_point now);
  /// One flush however many inputs arrive (nothing while inactive, retrying or nothing pending).
  node_annotator_step flush_soon();

  /// Its state as data (status_atom).
  node_annotator_status status() const;

private:
  void mark_all();
  void refill(clock::time_point now);
  /// Pending nodes whose target differs from what the Node holds: removals, then sets.
  std::vector<std::pair<std::string, std::optional<std::string>>> take_due();
  /// One patch; false when it failed in a way that calls for a backoff.
  bool patch(const std::string& node, const std::optional<std::string>& value);
  bool is_older(const seen_value& have, const std::string& rv) const;
};

/// `port` patches Nodes (blocking: production spawns this actor detached). `tel` may be null.
node_annotator_actor::behavior_type
node_annotator(node_annotator_actor::stateful_pointer<node_annotator_state> self,
               controller_settings settings, std::shared_ptr<telemetry> tel,
               std::shared_ptr<node_annotation_port> port);

} // namespace kcr::actors
