// The thread that settles where pod ranges come from and, for the sources that need it, feeds
// the objects that carry them (BlockAffinities, CiliumNodes) to the node watcher.
//
// With --pod-cidr-source auto it first asks the API server what the cluster has (API
// discovery, one small LIST) and logs what it chose and why; until an answer comes (API down,
// RBAC missing) it retries with backoff, and no Node is parsed: publishing with the wrong source
// would route the wrong ranges, publishing nothing changes nothing on the device.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "actors/interfaces.hpp"
#include "actors/telemetry.hpp"
#include "kube/api_failure.hpp"
#include "kube/client_config.hpp"
#include "kube/node.hpp"

namespace kcr::kube {
class api_client;
class reflector;
} // namespace kcr::kube

namespace kcr::app {

/// What `auto` chose and why (a phrase for the log).
struct pod_source_choice {
  kube::pod_cidr_source source = kube::pod_cidr_source::node;
  std::string why;
};

/// One detection attempt: the choice, or the failure to retry after.
kube::api_result<pod_source_choice> detect_pod_source(kube::api_client& client);

class pod_source_feeder {
public:
  /// `on_chosen` runs on the feeder's thread once the source is settled (before any range
  /// object is sent): the controller starts the Node feeder with it.
  pod_source_feeder(std::shared_ptr<const kube::client_config> cfg, kube::pod_cidr_source requested,
                    actors::node_watcher_actor target, std::shared_ptr<actors::telemetry> tel,
                    std::function<void(kube::pod_cidr_source)> on_chosen);
  ~pod_source_feeder();
  void start();
  /// Prompt: interrupts a detection attempt, a backoff or the object watch.
  void stop();

private:
  void run();
  std::optional<pod_source_choice> settle();
  void feed_objects(kube::pod_cidr_source source);

  std::shared_ptr<const kube::client_config> cfg_;
  kube::pod_cidr_source requested_;
  actors::node_watcher_actor target_;
  std::shared_ptr<actors::telemetry> tel_;
  std::function<void(kube::pod_cidr_source)> on_chosen_;

  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::unique_ptr<kube::api_client> client_;   // detection
  std::unique_ptr<kube::reflector> reflector_; // objects
  std::thread thread_;
};

} // namespace kcr::app
