// Recording actors for the control-plane actor tests (leader elector, watchers): typed actors of
// the allocator / publisher / node annotator interfaces that push what they receive into a
// shared inbox, plus a helper to ask an actor a question on the test coordinator.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/interfaces.hpp"

namespace kcr::test {

/// Everything a recorder received; `order` lists the messages as one-line tags
/// ("upsert:n1", "delete:n2", "synced:2", "snapshot:<rv>", "leading:true") for sequence checks.
struct inbox {
  std::vector<actors::node_upserted> upserts;
  std::vector<actors::node_deleted> deletes;
  std::vector<actors::nodes_synced> synced;
  std::vector<actors::published_snapshot> snapshots;
  std::vector<actors::leadership> leaderships;
  std::vector<actors::desired_entries> desired;
  std::vector<actors::node_annotation_seen> annotations;
  std::vector<std::string> order;

  void clear() { *this = inbox{}; }
};

inline actors::allocator_actor::behavior_type recording_allocator(std::shared_ptr<inbox> in) {
  return {
      [in](actors::node_upserted& x) {
        in->order.push_back("upsert:" + x.node.name);
        in->upserts.push_back(std::move(x));
      },
      [in](actors::node_deleted& x) {
        in->order.push_back("delete:" + x.name);
        in->deletes.push_back(std::move(x));
      },
      [in](actors::nodes_synced& x) {
        in->order.push_back("synced:" + std::to_string(x.count));
        in->synced.push_back(x);
      },
      [in](actors::published_snapshot& x) {
        in->order.push_back("snapshot:" + x.resource_version);
        in->snapshots.push_back(std::move(x));
      },
      [in](actors::leadership& x) {
        in->order.push_back(std::string{"leading:"} + (x.leading ? "true" : "false"));
        in->leaderships.push_back(std::move(x));
      },
      [](actors::sync_atom) {},
      [](actors::status_atom) { return actors::allocator_status{}; },
  };
}

inline actors::publisher_actor::behavior_type recording_publisher(std::shared_ptr<inbox> in) {
  return {
      [](actors::desired_entries&) {},
      [in](actors::published_snapshot& x) {
        in->order.push_back("snapshot:" + x.resource_version);
        in->snapshots.push_back(std::move(x));
      },
      [in](actors::leadership& x) {
        in->order.push_back(std::string{"leading:"} + (x.leading ? "true" : "false"));
        in->leaderships.push_back(std::move(x));
      },
      [](actors::flush_atom) {},
      [](actors::retry_atom) {},
      [](actors::sync_atom) {},
      [](actors::status_atom) { return actors::publisher_status{}; },
  };
}

inline actors::node_annotator_actor::behavior_type recording_annotator(std::shared_ptr<inbox> in) {
  return {
      [in](actors::desired_entries& x) {
        in->order.push_back(std::string{"desired:"} + (x.full ? "full:" : "delta:") +
                            std::to_string(x.upserted.size()));
        in->desired.push_back(std::move(x));
      },
      [in](actors::published_snapshot& x) {
        in->order.push_back("snapshot:" + x.resource_version);
        in->snapshots.push_back(std::move(x));
      },
      [in](actors::node_annotation_seen& x) {
        in->order.push_back("annotation:" + x.node + "=" +
                            (x.exists ? x.value.value_or("(none)") : std::string{"(gone)"}));
        in->annotations.push_back(std::move(x));
      },
      [in](actors::leadership& x) {
        in->order.push_back(std::string{"leading:"} + (x.leading ? "true" : "false"));
        in->leaderships.push_back(std::move(x));
      },
      [](actors::flush_atom) {},
      [](actors::retry_atom) {},
      [](actors::sync_atom) {},
      [](actors::status_atom) { return actors::node_annotator_status{}; },
  };
}

/// Records node_events (the node_watcher's Warning Events).
inline actors::event_recorder_actor::behavior_type
recording_events(std::shared_ptr<std::vector<actors::node_event>> out) {
  return {
      [out](actors::node_event& e) { out->push_back(std::move(e)); },
  };
}

/// Sends `msg` to `dest` as a request from a helper actor; the reply lands in the returned
/// optional once the test runs the coordinator.
template <class R, class Handle, class... Ts>
std::shared_ptr<std::optional<R>> ask(caf::actor_system& sys, Handle dest, Ts... msg) {
  auto out = std::make_shared<std::optional<R>>();
  sys.spawn([=](caf::event_based_actor* self) {
    self->request(dest, caf::infinite, msg...).then([=](R r) { *out = std::move(r); });
  });
  return out;
}

} // namespace kcr::test
