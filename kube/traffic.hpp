// Bytes exchanged with the API server by this process, per resource and direction, counted on the
// wire side of the HTTP layer (request line, headers and body out; status line, headers and body
// in, watch streams included; before TLS). Header-only and lock-free: every api_client adds to
// the one process-wide meter, the metrics endpoint reads it at scrape time.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace kcr::kube {

class traffic_meter {
public:
  /// The resources counted apart; anything else is "other".
  static constexpr std::array<std::string_view, 5> resources{"nodes", "configmaps", "leases",
                                                             "events", "other"};

  static traffic_meter& process() {
    static traffic_meter meter;
    return meter;
  }

  void sent(std::string_view resource, std::size_t bytes) {
    slot(resource).sent.fetch_add(bytes, std::memory_order_relaxed);
  }
  void received(std::string_view resource, std::size_t bytes) {
    slot(resource).received.fetch_add(bytes, std::memory_order_relaxed);
  }

  struct totals {
    std::uint64_t sent = 0;
    std::uint64_t received = 0;
  };
  totals of(std::string_view resource) const {
    const auto& c = counters_[index(resource)];
    return {c.sent.load(std::memory_order_relaxed), c.received.load(std::memory_order_relaxed)};
  }

private:
  struct counter_pair {
    std::atomic<std::uint64_t> sent{0};
    std::atomic<std::uint64_t> received{0};
  };
  static std::size_t index(std::string_view resource) {
    for (std::size_t i = 0; i + 1 < resources.size(); ++i)
      if (resources[i] == resource)
        return i;
    return resources.size() - 1;
  }
  counter_pair& slot(std::string_view resource) { return counters_[index(resource)]; }

  std::array<counter_pair, resources.size()> counters_;
};

} // namespace kcr::kube
