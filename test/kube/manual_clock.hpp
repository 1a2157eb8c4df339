// A retry_clock that tests drive: every wait is recorded and lasts until the test advances
// the clock past it (or, with auto_advance, passes at once), so backoff is asserted, not
// slept through.
#pragma once

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "kube/retry_clock.hpp"

namespace kcr::test {

class manual_clock final : public kube::retry_clock {
public:
  time_point now() const override {
    std::lock_guard l(m_);
    return t_;
  }

  bool wait(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
            std::chrono::milliseconds d, const std::function<bool()>& woken) override {
    time_point deadline;
    {
      std::lock_guard l(m_);
      waits_.push_back(d);
      if (auto_advance_)
        t_ += d;
      deadline = t_ + (auto_advance_ ? std::chrono::milliseconds{0} : d);
    }
    // The waiter's own lock stays the one stop() notifies through; the clock's moves are
    // noticed within a poll (one poll at least, so that auto_advance never spins).
    do
      cv.wait_for(lock, std::chrono::milliseconds(5));
    while (!woken() && now() < deadline);
    return !woken();
  }

  void advance(std::chrono::milliseconds d) {
    std::lock_guard l(m_);
    t_ += d;
  }
  void auto_advance(bool on) {
    std::lock_guard l(m_);
    auto_advance_ = on;
  }
  std::vector<std::chrono::milliseconds> waits() const {
    std::lock_guard l(m_);
    return waits_;
  }
  /// Waits (in real time, up to `limit`) until `n` waits have begun.
  bool await_waits(std::size_t n, std::chrono::milliseconds limit = std::chrono::seconds(8)) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (waits().size() < n) {
      if (std::chrono::steady_clock::now() > end)
        return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  }

private:
  mutable std::mutex m_;
  time_point t_{};
  bool auto_advance_ = false;
  std::vector<std::chrono::milliseconds> waits_;
};

} // namespace kcr::test
