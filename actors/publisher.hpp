// The publisher: the single writer of the ConfigMap.
//
// It keeps the desired entries (from the allocator) and the ConfigMap as last observed, and makes
// the second equal the first with as few writes as possible: all changes pending when it gets to
// write go out in one compare-and-swap PUT; nothing is written when nothing differs; foreign keys
// are kept; a 409 re-reads and re-applies; other failures back off. It writes only while leading
// and only after the allocator handed it a complete desired set, so a new leader never publishes
// a partial picture.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "actors/interfaces.hpp"
#include "actors/ports.hpp"
#include "actors/settings.hpp"
#include "actors/telemetry.hpp"

namespace kcr::actors {

struct publisher_state {
  static inline const char* name = "publisher";

  controller_settings settings;
  std::shared_ptr<actors::telemetry> tel;
  std::shared_ptr<configmap_port> port;

  bool leading = false;
  uint64_t term = 0;         // of the current leadership
  uint64_t desired_term = 0; // of the desired set held
  bool have_desired = false; // a full desired set of desired_term arrived
  std::map<std::string, kube::node_entry> desired;
  std::set<std::string> unpublished; // nodes whose entry changed since the last successful write

  // The ConfigMap as last observed (watch, GET or our own write).
  bool observed = false;
  bool exists = false;
  std::string resource_version;
  std::map<std::string, std::string> data;

  bool flush_scheduled = false;
  bool retry_scheduled = false;
  int deferrals = 0;
  std::chrono::milliseconds backoff{0};

  // Counters for status and tests.
  int writes = 0;
  int conflicts = 0;
  int failures = 0;

  /// Own keys as they must be: the fixed keys from the settings plus every desired entry's keys.
  /// Kept up to date key by key as entries change, so one Node change costs a handful of map
  /// operations, not a re-encoding of every entry (5000 nodes are 30000 keys).
  std::map<std::string, std::string> own;

  /// True when the observed ConfigMap is missing or its own keys differ from `own`; one
  /// allocation-free pass over both sorted maps.
  bool drifted() const;
  /// The data to create the ConfigMap with: the observed foreign keys and `own`.
  std::map<std::string, std::string> next_data() const;
  /// The own-key changes that make the observed data right (empty: nothing to write).
  data_changes changes() const;
  /// Rebuilds `own` from the settings and `desired`.
  void rebuild_own();
  void add_own(const kube::node_entry& e);
  void remove_own(const kube::node_entry& e);

  /// Writes are allowed: leading, and holding a complete desired set of this leadership.
  bool may_write() const { return leading && have_desired && desired_term == term; }
  void apply(desired_entries delta);
  void on_leadership(bool now_leading, uint64_t new_term);
  /// Takes a newer observation; ignores one older than what we already know.
  void observe(bool exists, const std::string& rv, std::map<std::string, std::string> data);
  /// True when an observation at `rv` is older than what we already know (numeric RVs).
  bool is_older(bool exists, const std::string& rv) const;
  /// GETs the ConfigMap; false on failure (logged).
  bool refresh();

  enum class write_result { nothing, written, conflict, failed };
  /// One attempt to make the ConfigMap right.
  write_result write_once();

  std::string status() const;
};

publisher_actor::behavior_type publisher(publisher_actor::stateful_pointer<publisher_state> self,
                                         controller_settings settings,
                                         std::shared_ptr<telemetry> tel,
                                         std::shared_ptr<configmap_port> port,
                                         tunnel_supervisor_actor supervisor);

} // namespace kcr::actors
