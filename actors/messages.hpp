// The vocabulary of the actor system: every atom and message type, in one place.
//
// Domain values (Nodes, ConfigMap entries, addresses) travel inside messages but never leave the
// process, so they are allowed as "unsafe" (not serialisable) message members; the message
// structs themselves have 0.17-style `inspect` overloads so they print in CAF's logs.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include "actors/readiness_rules.hpp"
#include "actors/status.hpp"
#include "kube/configmap_codec.hpp"
#include "kube/node.hpp"
#include "kube/pod_sources.hpp"
#include "net/ip.hpp"

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(kcr::kube::node_info)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(kcr::kube::entry_inputs)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(kcr::kube::node_entry)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(kcr::kube::published_state)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::optional<kcr::kube::node_entry>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::optional<std::string>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<kcr::kube::node_info>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<kcr::kube::node_entry>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(kcr::kube::range_object)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<kcr::kube::range_object>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(kcr::kube::pod_cidr_source)

namespace kcr::actors {

/// The Node annotation that carries a node's overlay address, written by the publishing leader
/// (node_annotator) from the confirmed ConfigMap and read by the node's own agent.
inline constexpr const char* overlay_ip_annotation = "kube-chorus-router.io/overlay-ip";

// --- atoms (at most 10 characters) -------------------------------------------------------------

/// Internal timer: the periodic full reconcile (Sync) of an actor.
using sync_atom = caf::atom_constant<caf::atom("sync")>;
/// Internal: the publisher / node annotator writes what is pending (coalesced OnUpdate).
using flush_atom = caf::atom_constant<caf::atom("flush")>;
/// Internal timer: the leader elector's acquire/renew attempt.
using tick_atom = caf::atom_constant<caf::atom("tick")>;
/// Internal timer: a backoff period ended; try again.
using retry_atom = caf::atom_constant<caf::atom("retry")>;
/// Internal: a tunnel actor converges now (coalesced).
using converge_atom = caf::atom_constant<caf::atom("converge")>;
/// Shutdown: the leader elector gives the Lease up; replies when done.
using release_atom = caf::atom_constant<caf::atom("release")>;
/// Query: an actor's state for diagnostics, liveness and tests; replies with its status struct
/// (status.hpp).
using status_atom = caf::atom_constant<caf::atom("status")>;
/// With status_atom: the tunnel supervisor's own counters (supervisor_status).
using supervisor_atom = caf::atom_constant<caf::atom("supervisor")>;
/// With status_atom: node_readiness's own state (readiness_status).
using readiness_atom = caf::atom_constant<caf::atom("readiness")>;

// --- from the watch feeders (threads running kube::reflector) ----------------------------------

/// The full set of Nodes after a (re)list.
struct nodes_listed {
  std::vector<kube::node_info> nodes;
};
/// One ADDED or MODIFIED Node from the watch.
struct node_changed {
  kube::node_info node;
};
/// One DELETED Node from the watch.
struct node_removed {
  std::string name;
};
/// Where pod ranges come from, as chosen once at start (before any Node is sent).
struct pod_source_chosen {
  kube::pod_cidr_source source = kube::pod_cidr_source::node;
};
/// Every object that assigns pod ranges (BlockAffinities or CiliumNodes) after a (re)list.
struct range_objects_listed {
  std::vector<kube::range_object> objects;
};
/// One ADDED or MODIFIED range object.
struct range_object_changed {
  kube::range_object object;
};
/// One DELETED range object, by name.
struct range_object_removed {
  std::string name;
};
/// The ConfigMap as last seen (after a list or a watch event); exists == false once deleted.
struct configmap_observed {
  bool exists = false;
  std::string resource_version;
  std::map<std::string, std::string> data;
};

// --- between actors ------------------------------------------------------------------------------

/// node_watcher -> allocator: a Node exists with these entry inputs (new or changed in a way that
/// matters for its entry; heartbeat-only updates are not forwarded). Only the slice travels: the
/// node watcher alone holds the whole Node.
struct node_upserted {
  kube::entry_inputs node;
};
/// node_watcher -> allocator: the Node is gone (deleted, or vanished during a relist).
struct node_deleted {
  std::string name;
};
/// node_watcher -> allocator: a (re)list completed; every node_upserted/node_deleted it implies has
/// been sent before this. `count` is the number of Nodes that exist.
struct nodes_synced {
  size_t count = 0;
};

/// A ConfigMap's content, decoded. Immutable once built and shared by every recipient of a
/// snapshot: at 5000 nodes it holds 30000 keys, which must not be copied per recipient.
struct published_content {
  std::map<std::string, std::string> data; // raw, foreign keys included
  kube::decode_result decoded;             // state, partial entries, problems
};

/// configmap_watcher -> allocator, publisher, tunnel supervisor: the decoded ConfigMap. Copies
/// share one content.
struct published_snapshot {
  bool exists = false;
  std::string resource_version;
  std::shared_ptr<const published_content> content = empty();

  const std::map<std::string, std::string>& data() const { return content->data; }
  /// Complete, well-formed own entries; entries without their Node- key; malformed own keys.
  const kube::published_state& state() const { return content->decoded.state; }
  const std::vector<kube::node_entry>& partial() const { return content->decoded.partial; }
  const std::vector<std::string>& problems() const { return content->decoded.problems; }

  /// Decodes a ConfigMap's data; with `previous` (the snapshot before it), only what changed is
  /// decoded again (kube::decode_incremental).
  static published_snapshot decode(bool exists, std::string rv,
                                   std::map<std::string, std::string> data,
                                   const published_snapshot* previous = nullptr) {
    published_snapshot s;
    s.exists = exists;
    s.resource_version = std::move(rv);
    if (exists) {
      auto decoded =
          previous && previous->exists
              ? kube::decode_incremental(previous->data(), previous->content->decoded, data)
              : kube::decode(data);
      s.content = std::make_shared<const published_content>(
          published_content{std::move(data), std::move(decoded)});
    }
    return s;
  }

  /// A snapshot of an existing ConfigMap with exactly this decoded state (tests).
  static published_snapshot of(kube::published_state state, std::string rv = "1") {
    published_snapshot s;
    s.exists = true;
    s.resource_version = std::move(rv);
    s.content =
        std::make_shared<const published_content>(published_content{{}, std::move(state), {}, {}});
    return s;
  }

private:
  static std::shared_ptr<const published_content> empty() {
    static const auto none = std::make_shared<const published_content>();
    return none;
  }
};

/// leader_elector -> allocator, publisher: this instance started or stopped leading.
struct leadership {
  bool leading = false;
  std::string identity;
  /// Counts the times this instance started leading. Allocator and publisher hear the same
  /// sequence, so a desired set stamped with an older term is from a past leadership and dropped.
  uint64_t term = 0;
};

/// allocator -> publisher: changes to the desired entries. `full` replaces the whole desired set
/// (sent when the allocator becomes ready and at every Sync); otherwise `upserted` entries are
/// set and `removed` node names dropped.
struct desired_entries {
  uint64_t term = 0; // the leadership term the allocator computed this in
  bool full = false;
  std::vector<kube::node_entry> upserted;
  std::vector<std::string> removed;
};

/// node_watcher -> node_annotator: a Node's value of `overlay_ip_annotation` as the Node watch
/// last saw it (sent when it changed, or when the Node appeared or went); exists == false: the
/// Node is gone.
struct node_annotation_seen {
  std::string node;
  bool exists = true;
  std::optional<std::string> value; // none: the Node has no such annotation
  std::string resource_version;     // the Node's, to drop an event older than our own patch
};

/// own-Node feeder (an agent's watch of its own Node only) -> tunnel supervisor: the local Node
/// as last seen; exists == false once it was deleted. `node.annotations` holds only
/// `overlay_ip_annotation` (when present).
struct own_node_observed {
  bool exists = false;
  kube::node_info node;
};

/// tunnel supervisor -> tunnel[local]: the local node's entry, derived from its own Node and its
/// overlay annotation (none: the annotation or the Node is gone; the tunnel stays as it was).
struct entry_observed {
  std::optional<kube::node_entry> entry;
  std::string resource_version;
};

/// link monitor -> tunnel supervisor -> tunnel[local]: one of our interfaces changed.
struct link_changed {
  std::string interface;
  std::string what;
};

/// any actor -> event_recorder: a Kubernetes Event about a Node.
struct node_event {
  std::string node;
  std::string uid;
  bool warning = false;
  std::string reason;
  std::string message;
};

// --- inspect (CAF 0.17) --------------------------------------------------------------------------

template <class I>
typename I::result_type inspect(I& f, nodes_listed& x) {
  return f(caf::meta::type_name("nodes_listed"), x.nodes);
}
template <class I>
typename I::result_type inspect(I& f, node_changed& x) {
  return f(caf::meta::type_name("node_changed"), x.node);
}
template <class I>
typename I::result_type inspect(I& f, node_removed& x) {
  return f(caf::meta::type_name("node_removed"), x.name);
}
template <class I>
typename I::result_type inspect(I& f, pod_source_chosen& x) {
  return f(caf::meta::type_name("pod_source_chosen"), x.source);
}
template <class I>
typename I::result_type inspect(I& f, range_objects_listed& x) {
  return f(caf::meta::type_name("range_objects_listed"), x.objects);
}
template <class I>
typename I::result_type inspect(I& f, range_object_changed& x) {
  return f(caf::meta::type_name("range_object_changed"), x.object);
}
template <class I>
typename I::result_type inspect(I& f, range_object_removed& x) {
  return f(caf::meta::type_name("range_object_removed"), x.name);
}
template <class I>
typename I::result_type inspect(I& f, configmap_observed& x) {
  return f(caf::meta::type_name("configmap_observed"), x.exists, x.resource_version, x.data);
}
template <class I>
typename I::result_type inspect(I& f, node_upserted& x) {
  return f(caf::meta::type_name("node_upserted"), x.node);
}
template <class I>
typename I::result_type inspect(I& f, node_deleted& x) {
  return f(caf::meta::type_name("node_deleted"), x.name);
}
template <class I>
typename I::result_type inspect(I& f, nodes_synced& x) {
  return f(caf::meta::type_name("nodes_synced"), x.count);
}
template <class I>
typename I::result_type inspect(I& f, published_snapshot& x) {
  return f(caf::meta::type_name("published_snapshot"), x.exists, x.resource_version);
}
template <class I>
typename I::result_type inspect(I& f, leadership& x) {
  return f(caf::meta::type_name("leadership"), x.leading, x.identity, x.term);
}
template <class I>
typename I::result_type inspect(I& f, desired_entries& x) {
  return f(caf::meta::type_name("desired_entries"), x.term, x.full, x.upserted, x.removed);
}
template <class I>
typename I::result_type inspect(I& f, node_annotation_seen& x) {
  return f(caf::meta::type_name("node_annotation_seen"), x.node, x.exists, x.value,
           x.resource_version);
}
template <class I>
typename I::result_type inspect(I& f, own_node_observed& x) {
  return f(caf::meta::type_name("own_node_observed"), x.exists, x.node);
}
template <class I>
typename I::result_type inspect(I& f, entry_observed& x) {
  return f(caf::meta::type_name("entry_observed"), x.entry, x.resource_version);
}
template <class I>
typename I::result_type inspect(I& f, link_changed& x) {
  return f(caf::meta::type_name("link_changed"), x.interface, x.what);
}
// reporting_tunnel_manager -> node_readiness: one converge of the local tunnel.
template <class I>
typename I::result_type inspect(I& f, converge_outcome& x) {
  return f(caf::meta::type_name("converge_outcome"), x.ok, x.overlay_ip, x.interface, x.error,
           x.rp_filter_fix);
}
template <class I>
typename I::result_type inspect(I& f, node_event& x) {
  return f(caf::meta::type_name("node_event"), x.node, x.uid, x.warning, x.reason, x.message);
}

} // namespace kcr::actors
