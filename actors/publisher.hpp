// The publisher: the single writer of the ConfigMap.
//
// It keeps the desired entries (from the allocator) and the ConfigMap as last observed, and makes
// the second equal the first with as few writes as possible: all changes pending when it gets to
// write go out in one compare-and-swap merge patch; nothing is written when nothing differs;
// foreign keys are kept; a 409 re-reads and re-applies; other failures back off. It writes only
// while leading and only after the allocator handed it a complete desired set, so a new leader
// never publishes a partial picture.
//
// Every write costs the whole object in etcd, so writes spend a byte budget (write_budget.hpp):
// while it is short, changes wait for a timer and coalesce; none is dropped. Every patch resets
// managedFields. A missing ConfigMap is created with the fixed keys only and the entries follow
// in a patch at once: a POST cannot reset managedFields, and at 5000 nodes the full object with
// them is over etcd's limit. An object over the API server's size limit is not sent: the
// publisher says so (log line, Warning Event on the ConfigMap, metrics) and tries again later.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "actors/interfaces.hpp"
#include "actors/ports.hpp"
#include "actors/retry_backoff.hpp"
#include "actors/settings.hpp"
#include "actors/telemetry.hpp"
#include "actors/write_budget.hpp"

namespace kcr::actors {

/// What the publisher's state wants done after a message; the behaviour only performs it (as the
/// allocator's outbox): nothing, a flush behind the messages already queued, or a retry_atom after
/// `delay` (the budget's wait or the backoff's).
struct publisher_step {
  enum class kind { none, flush, retry };
  kind what = kind::none;
  write_budget::clock::duration delay{};
  bool operator==(const publisher_step&) const = default;
};

/// The publisher's state and decisions; its only side effects go through `port` and `tel`, so it
/// can be driven directly (test/actors/publisher_state_test.cpp).
struct publisher_state {
  static inline const char* name = "publisher";

  controller_settings settings;
  std::shared_ptr<actors::telemetry> tel;
  std::shared_ptr<configmap_port> port;

  bool leading = false;
  uint64_t term = 0;         // of the current leadership
  uint64_t desired_term = 0; // of the desired set held
  bool have_desired = false; // a full desired set of desired_term arrived
  /// The desired entries are held once, as their keys in `own`; this says which of those keys
  /// each node's entry encodes to, so that a changed or withdrawn entry's old keys go.
  std::map<std::string, std::vector<std::string>> entry_keys;
  std::set<std::string> unpublished; // nodes whose entry changed since the last successful write

  // The ConfigMap as last observed (watch, GET or our own write).
  bool observed = false;
  bool exists = false;
  std::string resource_version;
  /// Its own keys (kube::is_own_key): the foreign ones are never written, only counted for the
  /// size of the next write, so a ConfigMap hand-edited to 100 000 foreign keys is not held twice.
  std::map<std::string, std::string> data;
  configmap_size foreign; // the foreign keys' share of the object's size

  bool flush_scheduled = false;
  bool retry_scheduled = false; // a backoff timer is pending
  bool budget_timer = false;    // a timer until the budget allows the next write is pending
  write_budget budget;
  std::optional<write_budget::clock::time_point> waiting_since; // for the budget, if waiting
  size_verdict last_verdict = size_verdict::fits; // logged and reported when it changes
  int deferrals = 0;
  kube::backoff backoff; // after a failed write (retry_backoff(settings))

  // Counters for status and tests.
  int writes = 0;
  int conflicts = 0;
  int failures = 0;

  /// Own keys as they must be: the fixed keys from the settings plus every desired entry's keys.
  /// Kept up to date key by key as entries change, so one Node change costs a handful of map
  /// operations, not a re-encoding of every entry (5000 nodes are 30000 keys).
  std::map<std::string, std::string> own;
  /// The fixed keys alone (EndpointIP, Type, ...): what a missing ConfigMap is created with.
  std::map<std::string, std::string> fixed;

  /// True when the observed ConfigMap is missing or its own keys differ from `own`; one
  /// allocation-free pass over both sorted maps.
  bool drifted() const;
  /// The sizes of the ConfigMap once it is right: the observed foreign keys and `own`.
  configmap_size next_size() const;
  /// What the next write costs of the budget: the whole object it stores (a create: the fixed
  /// keys).
  std::size_t write_cost(const configmap_size& next) const;
  /// The own-key changes that make the observed data right (empty: nothing to write).
  data_changes changes() const;
  /// `own` and `fixed` hold the fixed keys from the settings only (no entry).
  void reset_own();
  /// Adds (or replaces) one node's entry in `own`.
  void add_own(const kube::node_entry& e);
  /// Withdraws one node's entry from `own`.
  void remove_own(const std::string& node);
  /// True when `e` encodes to exactly the keys and values its node has in `own`.
  bool holds(const kube::node_entry& e) const;

  /// Takes the settings and the ports, as the behaviour does when spawned.
  void setup(controller_settings s, std::shared_ptr<actors::telemetry> t,
             std::shared_ptr<configmap_port> p);

  /// Writes are allowed: leading, and holding a complete desired set of this leadership.
  bool may_write() const { return leading && have_desired && desired_term == term; }
  void apply(desired_entries delta);

  // The handlers (kube-router's OnUpdate / Sync): each updates the state and says what to send.
  publisher_step on_desired(desired_entries delta);
  /// The watch's view of the ConfigMap: drift (a hand edit, a deleted key or ConfigMap) flushes.
  publisher_step on_snapshot(const published_snapshot& m);
  publisher_step on_leadership(bool now_leading, uint64_t new_term);
  /// Writes what is pending unless a timer is pending or `more_queued` messages should go into the
  /// same write first; then a budget wait or a backoff says when to try again.
  publisher_step on_flush(bool more_queued, write_budget::clock::time_point now);
  /// A budget or backoff timer fired (never both pending): ends the wait, then flushes.
  publisher_step on_retry(bool more_queued, write_budget::clock::time_point now);
  /// The periodic reconcile: compares against a fresh read, so drift is repaired even when the
  /// watch is broken; idle followers beat as healthy.
  publisher_step on_sync();
  /// One flush however many changes arrive (nothing while writes are not allowed).
  publisher_step flush_soon();
  /// Takes a newer observation; ignores one older than what we already know.
  void observe(bool exists, const std::string& rv, const std::map<std::string, std::string>& data);
  /// True when an observation at `rv` is older than what we already know (numeric RVs).
  bool is_older(bool exists, const std::string& rv) const;
  /// GETs the ConfigMap; false on failure (logged).
  bool refresh();

  enum class write_result { nothing, written, conflict, failed, waiting, too_large };
  /// One write towards the right ConfigMap: a create (fixed keys only) or a patch.
  write_result write_once();
  write_result create_missing();
  write_result patch_changes();
  /// Counts and logs a failed write (RBAC, size, other).
  write_result write_failed(const api_failure& f, const char* verb);
  /// Counts a conflict (someone else wrote) and re-reads.
  write_result write_conflicted();
  /// The bookkeeping after write_pending (metrics, health, backoff) and when to try again.
  publisher_step after_write(write_result result, std::chrono::steady_clock::duration took);
  /// Writes until the ConfigMap is right, as far as size and budget allow: `waiting` when the
  /// budget is short (then `budget_wait` says for how long), `too_large` when the object must
  /// not be sent.
  write_result write_pending(write_budget::clock::time_point now);
  write_budget::clock::duration budget_wait{};
  /// Judges the next object's size; says so when the verdict changes (log line, Warning Event);
  /// false when it must not be sent.
  bool size_allows(const configmap_size& next);
  /// The ConfigMap's size as the server last answered it (0: unknown).
  std::size_t stored_bytes = 0;
  void stored(std::size_t bytes);

  /// Its state as data (status_atom).
  publisher_status status() const;
};

publisher_actor::behavior_type publisher(publisher_actor::stateful_pointer<publisher_state> self,
                                         controller_settings settings,
                                         std::shared_ptr<telemetry> tel,
                                         std::shared_ptr<configmap_port> port);

} // namespace kcr::actors
