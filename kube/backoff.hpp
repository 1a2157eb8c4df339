// Exponential backoff with jitter, as client-go's reflector uses it: 0.8 s doubling to 30 s,
// jittered, back to the start after 2 min without a failure. Pure: the clock and the random
// source are injected so tests can drive it.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <random>

namespace kcr::kube {

class backoff {
public:
  using clock = std::chrono::steady_clock;
  using clock_fn = std::function<clock::time_point()>;
  /// Returns a number in [0, 1).
  using random_fn = std::function<double()>;

  struct params {
    std::chrono::milliseconds initial{800};
    std::chrono::milliseconds max{30000};
    /// A failure after this much quiet time starts again at `initial`.
    std::chrono::milliseconds reset_after{120000};
    double factor = 2.0;
    /// Each delay is base * (1 + jitter * random), capped at `max`, so that many clients
    /// restarted together do not hit the API server in lockstep.
    double jitter = 0.25;
  };

  backoff() : backoff(params{}) {}
  explicit backoff(params p, clock_fn now = &clock::now, random_fn rnd = default_random())
      : p_(p), now_(std::move(now)), rnd_(std::move(rnd)), base_(p.initial) {}

  /// Called after a failure: how long to wait before the next attempt.
  std::chrono::milliseconds next() {
    auto t = now_();
    if (has_failed_ && t - last_failure_ > p_.reset_after)
      base_ = p_.initial;
    has_failed_ = true;
    last_failure_ = t;
    double r = std::clamp(rnd_(), 0.0, 1.0);
    auto delay = std::chrono::milliseconds(
        static_cast<long long>(static_cast<double>(base_.count()) * (1.0 + p_.jitter * r)));
    delay = std::min(delay, p_.max);
    auto grown = std::chrono::milliseconds(
        static_cast<long long>(static_cast<double>(base_.count()) * p_.factor));
    base_ = std::min(grown, p_.max);
    return delay;
  }

  /// Forget past failures (e.g. after a watch delivered events for a while).
  void reset() {
    base_ = p_.initial;
    has_failed_ = false;
  }

  /// The un-jittered delay the next failure would start from.
  std::chrono::milliseconds current_base() const { return base_; }
  const params& parameters() const { return p_; }

  static random_fn default_random() {
    return [] {
      thread_local std::mt19937_64 gen{std::random_device{}()};
      return std::uniform_real_distribution<double>(0.0, 1.0)(gen);
    };
  }

private:
  params p_;
  clock_fn now_;
  random_fn rnd_;
  std::chrono::milliseconds base_;
  clock::time_point last_failure_{};
  bool has_failed_ = false;
};

} // namespace kcr::kube
