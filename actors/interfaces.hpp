// The typed interface of every actor: who takes which message. Messages are in messages.hpp.
// "internal" marks messages an actor only sends to itself (timers, coalescing).
//
// The flow (docs/architecture.md draws it):
//   publisher role (leader):  node feeder -> node_watcher -> allocator -> publisher -> ConfigMap
//                             pod source feeder -> node_watcher (BlockAffinities / CiliumNodes)
//                             configmap feeder -> configmap_watcher -> allocator, publisher,
//                                                                      node_annotator
//                             allocator -> node_annotator; node_watcher -> node_annotator
//                             node_annotator -> Node annotations (after the ConfigMap has them)
//                             leader_elector -> allocator, publisher, node_annotator
//   tunnel role (agent):      own-Node feeder -> tunnel_supervisor -> tunnel[local] -> netlink
//                             link feeder -> tunnel_supervisor -> tunnel[local]
//   both:                     any actor -> event_recorder
#pragma once

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/messages.hpp"

namespace kcr::actors {

/// Turns the Node watch into entry-relevant changes for the allocator.
using node_watcher_actor = caf::typed_actor<
    // a full (re)list from the feeder thread: diffs against what it knew, emits upserts and deletes
    caf::reacts_to<nodes_listed>,
    // one ADDED/MODIFIED watch event
    caf::reacts_to<node_changed>,
    // one DELETED watch event
    caf::reacts_to<node_removed>,
    // where pod ranges come from (once, before the first Node)
    caf::reacts_to<pod_source_chosen>,
    // BlockAffinities / CiliumNodes: a (re)list, a change, a delete
    caf::reacts_to<range_objects_listed>, caf::reacts_to<range_object_changed>,
    caf::reacts_to<range_object_removed>>;

/// Decodes the watched ConfigMap and hands it to allocator, publisher and node annotator.
using configmap_watcher_actor = caf::typed_actor<
    // the ConfigMap as the feeder thread last saw it
    caf::reacts_to<configmap_observed>>;

/// Owns the overlay pool; computes every node's desired entry while leading. It receives each
/// Node's entry inputs (kube::entry_inputs), never the whole Node.
using allocator_actor = caf::typed_actor<caf::reacts_to<node_upserted>,
                                         caf::reacts_to<node_deleted>, caf::reacts_to<nodes_synced>,
                                         // restore source (used when becoming ready)
                                         caf::reacts_to<published_snapshot>,
                                         // allocation only happens while leading
                                         caf::reacts_to<leadership>,
                                         // internal timer: full reconcile
                                         caf::reacts_to<sync_atom>,
                                         // diagnostics: its state as data
                                         caf::replies_to<status_atom>::with<allocator_status>>;

/// Writes the ConfigMap: coalesced, compare-and-swap, only while leading.
using publisher_actor =
    caf::typed_actor<caf::reacts_to<desired_entries>,
                     // the ConfigMap as observed by the watcher (drift detection, fresh
                     // resourceVersion)
                     caf::reacts_to<published_snapshot>, caf::reacts_to<leadership>,
                     // internal: write what is pending
                     caf::reacts_to<flush_atom>,
                     // internal timer: backoff after a failed write ended
                     caf::reacts_to<retry_atom>,
                     // internal timer: full reconcile against a fresh GET
                     caf::reacts_to<sync_atom>,
                     // diagnostics: its state as data
                     caf::replies_to<status_atom>::with<publisher_status>>;

/// Mirrors every node's confirmed overlay address onto its Node (annotation
/// `overlay_ip_annotation`), only while leading: coalesced, rate-limited, only when different.
using node_annotator_actor =
    caf::typed_actor<caf::reacts_to<desired_entries>,
                     // the ConfigMap as stored: what is confirmed
                     caf::reacts_to<published_snapshot>,
                     // a Node's annotation as the full Node watch sees it
                     caf::reacts_to<node_annotation_seen>, caf::reacts_to<leadership>,
                     // internal: patch what is pending, as far as the rate limit allows
                     caf::reacts_to<flush_atom>,
                     // internal timer: backoff after a failed patch ended
                     caf::reacts_to<retry_atom>,
                     // internal timer: full reconcile against what the watches hold
                     caf::reacts_to<sync_atom>,
                     // diagnostics: its state as data
                     caf::replies_to<status_atom>::with<node_annotator_status>>;

/// The local node's tunnel: its entry (from its own Node) and its state; converges the kernel.
using tunnel_actor = caf::typed_actor<caf::reacts_to<entry_observed>, caf::reacts_to<link_changed>,
                                      // internal: converge now (coalesced)
                                      caf::reacts_to<converge_atom>,
                                      // internal timer: backoff after a failed converge ended
                                      caf::reacts_to<retry_atom>,
                                      // internal timer: full reconcile
                                      caf::reacts_to<sync_atom>,
                                      // diagnostics: its state as data
                                      caf::replies_to<status_atom>::with<tunnel_status>>;

/// Turns the own Node (watched alone) into the local tunnel's entry; keeps the local tunnel actor
/// alive (respawns it) and routes link changes to it.
using tunnel_supervisor_actor =
    caf::typed_actor<caf::reacts_to<own_node_observed>, caf::reacts_to<link_changed>,
                     // diagnostics and liveness: the local tunnel actor's status, answered by
                     // it (by the supervisor while there is none yet)
                     caf::replies_to<status_atom>::with<tunnel_status>,
                     // diagnostics: the supervisor's own counters
                     caf::replies_to<status_atom, supervisor_atom>::with<supervisor_status>>;

/// Keeps the local Node's condition ChorusTunnelReady (and removes the startup taint). Takes the
/// tunnel supervisor's messages too: it sits in front of it on the own-Node stream and forwards.
using node_readiness_actor = tunnel_supervisor_actor::extend<
    // reporting_tunnel_manager: the outcome of one converge of the local tunnel
    caf::reacts_to<converge_outcome>,
    // internal: write what the rules want (coalesced)
    caf::reacts_to<flush_atom>,
    // internal timer: backoff after a failed write ended
    caf::reacts_to<retry_atom>,
    // diagnostics: the condition and taint writes
    caf::replies_to<status_atom, readiness_atom>::with<readiness_status>>;

/// Holds or waits for the Lease; tells the allocator and the publisher.
using leader_elector_actor = caf::typed_actor<
    // internal timer: acquire or renew
    caf::reacts_to<tick_atom>,
    // shutdown: release the Lease if held; replies when done
    caf::replies_to<release_atom>::with<bool>>;

/// Posts Kubernetes Events (deduplicated: repeats raise `count`).
using event_recorder_actor = caf::typed_actor<caf::reacts_to<node_event>>;

} // namespace kcr::actors
