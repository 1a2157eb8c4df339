// The typed interface of every actor: who takes which message. Messages are in messages.hpp.
// "internal" marks messages an actor only sends to itself (timers, coalescing).
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
    caf::reacts_to<node_removed>>;

/// Decodes the watched ConfigMap and hands it to allocator, publisher and tunnel supervisor.
using configmap_watcher_actor = caf::typed_actor<
    // the ConfigMap as the feeder thread last saw it
    caf::reacts_to<configmap_observed>>;

/// Owns the overlay pool; computes every node's desired entry while leading.
using allocator_actor = caf::typed_actor<caf::reacts_to<node_upserted>,
                                         caf::reacts_to<node_deleted>, caf::reacts_to<nodes_synced>,
                                         // restore source (used when becoming ready)
                                         caf::reacts_to<published_snapshot>,
                                         // allocation only happens while leading
                                         caf::reacts_to<leadership>,
                                         // internal timer: full reconcile
                                         caf::reacts_to<sync_atom>,
                                         // diagnostics: a one-line summary
                                         caf::replies_to<status_atom>::with<std::string>>;

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
                     caf::reacts_to<sync_atom>, caf::replies_to<status_atom>::with<std::string>>;

/// One per node: the node's desired and published entry and its state; the local node's actor
/// also converges the kernel.
using tunnel_actor =
    caf::typed_actor<caf::reacts_to<entry_assigned>, caf::reacts_to<entry_withdrawn>,
                     caf::reacts_to<entries_published>, caf::reacts_to<entry_observed>,
                     caf::reacts_to<link_changed>,
                     // internal: converge now (coalesced)
                     caf::reacts_to<converge_atom>,
                     // internal timer: backoff after a failed converge ended
                     caf::reacts_to<retry_atom>,
                     // internal timer: full reconcile
                     caf::reacts_to<sync_atom>, caf::replies_to<status_atom>::with<std::string>>;

/// Spawns, routes to and stops tunnel actors as nodes come and go.
using tunnel_supervisor_actor =
    caf::typed_actor<caf::reacts_to<entry_assigned>, caf::reacts_to<entry_withdrawn>,
                     caf::reacts_to<entries_published>, caf::reacts_to<published_snapshot>,
                     caf::reacts_to<link_changed>,
                     // diagnostics: state of one node's actor ("" = local node)
                     caf::replies_to<status_atom, std::string>::with<std::string>>;

/// Holds or waits for the Lease; tells the allocator and the publisher.
using leader_elector_actor = caf::typed_actor<
    // internal timer: acquire or renew
    caf::reacts_to<tick_atom>,
    // shutdown: release the Lease if held; replies when done
    caf::replies_to<release_atom>::with<bool>>;

/// Posts Kubernetes Events (deduplicated: repeats raise `count`).
using event_recorder_actor = caf::typed_actor<caf::reacts_to<node_event>>;

} // namespace kcr::actors
