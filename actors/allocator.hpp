// The allocator: owns the overlay pool and decides every node's desired ConfigMap entry.
//
// It allocates only while this instance leads, and only once it knows the whole picture: the
// Lease is held, the initial Node list is complete and the published ConfigMap has been seen (so
// a restart restores every published address before handing out a new one). Its decisions leave
// through an outbox: deltas for the publisher and the node annotator, Events.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "actors/interfaces.hpp"
#include "actors/settings.hpp"
#include "actors/telemetry.hpp"
#include "net/overlay_pool.hpp"
#include "net/pod_ranges.hpp"

namespace kcr::actors {

/// What one step of the allocator wants sent.
struct allocator_outbox {
  std::optional<desired_entries> to_publisher; // also to the node annotator
  std::vector<node_event> events;
};

/// The allocator's state and logic; no CAF calls, so it can be driven directly.
struct allocator_state {
  static inline const char* name = "allocator";
  /// Why a node's entry waits (kube_chorus_router_nodes_waiting{reason}).
  static constexpr const char* waiting_kinds[] = {"no-address",     "no-pod-range",
                                                  "duplicate-ip",   "pod-range-refused",
                                                  "pool-exhausted", "allocation-failed"};

  controller_settings settings;
  std::shared_ptr<actors::telemetry> tel;

  std::map<std::string, kube::entry_inputs> nodes; // what decides each Node's entry
  std::optional<published_snapshot> snapshot;      // the latest seen: the restore source
  bool leading = false;
  uint64_t term = 0;   // of the current leadership, stamped on every desired_entries
  bool synced = false; // the initial Node list is complete

  std::optional<net::overlay_pool> pool;             // exists while ready()
  std::map<std::string, kube::node_entry> entries;   // as last sent to the publisher
  std::map<net::ip_address, std::string> by_node_ip; // entries' node IPs -> node (duplicates)
  struct wait_reason {
    std::string kind; // a short label for the metric, one of waiting_kinds
    std::string text; // the log line's reason (logged once)
  };
  std::map<std::string, wait_reason> waiting;           // node -> why it has no entry
  net::range_owners range_owners;                       // entries' pod ranges -> node (overlaps)
  std::multimap<net::ip_address, std::string> node_ips; // every Node's underlay IP -> node
  std::map<std::string, std::string> refused;           // node -> its refused range (metric)
  bool cold_start = false; // allocating for every node at once: per-node logs at debug

  bool ready() const { return pool.has_value(); }

  // Inputs. Each returns what to send.
  allocator_outbox on_upsert(kube::entry_inputs node);
  allocator_outbox on_delete(const std::string& name);
  allocator_outbox on_synced();
  allocator_outbox on_snapshot(const published_snapshot& snap);
  allocator_outbox on_leadership(bool now_leading, uint64_t term);
  allocator_outbox on_sync();

  /// Its state as data (status_atom).
  allocator_status status() const;

private:
  /// Creates the pool, restores the published addresses and computes every entry.
  allocator_outbox try_become_ready();
  void restore_from_snapshot(allocator_outbox& out);
  /// Recomputes one node's entry; records the change in `out` and `delta`.
  void reconcile(const std::string& name, allocator_outbox& out, desired_entries& delta);
  /// The Node is gone: its address is freed and its entry withdrawn.
  void forget(const std::string& name, desired_entries& delta);
  void withdraw(const std::string& name, const std::string& reason, desired_entries& delta);
  /// Why the node may not have an entry now (it waits, with a log line and maybe an Event).
  std::optional<std::string> held_back(const std::string& name, const kube::entry_inputs& node,
                                       allocator_outbox& out);
  /// Its address: kept, or newly allocated (Event); none when the pool refuses (it waits).
  std::optional<net::ip_address> address_for(const std::string& name,
                                             const kube::entry_inputs& node, allocator_outbox& out);
  /// After an address was freed: nodes waiting for one get another chance.
  void retry_waiting(allocator_outbox& out, desired_entries& delta);
  void set_waiting(const std::string& name, const char* kind, const std::string& reason, bool warn,
                   allocator_outbox& out, const char* event_reason = "OverlayEntryWaiting");
  /// The first of the node's pod ranges that may not be published, and why.
  struct range_refused {
    net::cidr range;
    net::range_refusal why;
  };
  std::optional<range_refused> refuse_ranges(const std::string& name,
                                             const kube::entry_inputs& node) const;
  /// Keeps `refused` and the pod_ranges_refused metric in step with the node's verdict.
  void note_refusal(const std::string& name, const range_refused* r);
  void track_node_ip(const std::string& name, const kube::entry_inputs* node);
  void update_metrics() const;
  /// Keep `entries`, `by_node_ip` and `range_owners` in step.
  void set_entry(const kube::node_entry& e);
  bool erase_entry(const std::string& name);
};

allocator_actor::behavior_type allocator(allocator_actor::stateful_pointer<allocator_state> self,
                                         controller_settings settings,
                                         std::shared_ptr<telemetry> tel, publisher_actor publisher,
                                         node_annotator_actor annotator,
                                         event_recorder_actor events);

} // namespace kcr::actors
