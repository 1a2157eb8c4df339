// The publisher's write budget and the ConfigMap's size limits. Pure logic: no CAF, no I/O, time
// passed in, so both are tested with tables.
//
// Every ConfigMap write costs the whole object, whatever the patch size: etcd stores a full new
// revision (compacted only every 5 minutes), and the API server encodes and sends the whole object
// back. The budget bounds those bytes per second with a token bucket over the encoded object size:
// a write of `cost` bytes waits until the bucket holds `cost` tokens. The bucket holds at most
// max(2 x cost, one second of budget), so after a quiet moment an isolated change goes out at once
// (twice: a change and its correction), while under churn writes are spaced at cost / rate and
// every write carries all changes pending by then. Nothing is dropped: a change waits and
// coalesces with later ones. Over any time T the bytes written are at most rate x T plus one
// bucket.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>

namespace kcr::actors {

class write_budget {
public:
  using clock = std::chrono::steady_clock;

  /// `bytes_per_second` 0 = unlimited (every write goes at once).
  explicit write_budget(double bytes_per_second = 0);

  bool unlimited() const { return rate_ <= 0; }
  double rate() const { return rate_; }
  /// The bucket's size for writes of `cost` bytes.
  double capacity(std::size_t cost) const;

  /// How long a write of `cost` bytes must wait at `now` (zero: it may go now).
  clock::duration wait(std::size_t cost, clock::time_point now);
  /// A write of `cost` bytes went out at `now`.
  void spend(std::size_t cost, clock::time_point now);

  /// Tokens held at `now` for writes of `cost` bytes (tests, diagnostics).
  double tokens(std::size_t cost, clock::time_point now);

private:
  void refill(clock::time_point now);

  double rate_;
  // Kept as what was spent and not yet refilled, not as tokens: the bucket's size follows the
  // object's, and an idle bucket must be full for whatever size the next write has (the first
  // write after a create is the whole object, the create itself only the fixed keys).
  double debt_ = 0;
  std::optional<clock::time_point> last_; // the last refill
};

/// What the API server checks before storing a ConfigMap: its 1 MiB limit on the data, and
/// etcd's 1.5 MiB request limit.
struct configmap_size {
  std::size_t values = 0;  // the sum of the values: over 1 MiB is refused with 422
  std::size_t encoded = 0; // the object as JSON (keys, values, metadata): what etcd stores

  /// Counts one data entry ("key":"value", in JSON).
  void add(const std::string& key, const std::string& value) {
    values += value.size();
    encoded += key.size() + value.size() + 6;
  }
};

/// Sizes of a ConfigMap holding `data` (no managedFields: every write of ours resets them).
configmap_size size_of(const std::map<std::string, std::string>& data);

/// The API server's limit on the sum of a ConfigMap's values (422 "Too long" above it).
inline constexpr std::size_t configmap_values_limit = 1048576;
/// etcd's default --max-request-bytes: a bigger stored object fails with 500 "request is too
/// large".
inline constexpr std::size_t etcd_request_limit = 1572864;
/// Above this encoded size the object is near etcd's limit (protobuf framing, metadata growth).
inline constexpr std::size_t etcd_warning_size = 1468006; // 1.4 MiB

enum class size_verdict {
  fits,
  near_etcd_limit, // written, with a warning
  too_large,       // over the values limit: the server would refuse it, so it is not sent
};

size_verdict judge(const configmap_size& s);
/// One line naming the size and the limit concerned (empty for `fits`).
std::string describe(const configmap_size& s, size_verdict v);

} // namespace kcr::actors
