// The time source of the API client's retry loops (client-go's ReflectorOptions.Clock): the
// steady clock in production; tests pass a manual clock so that a backoff is asserted, not
// waited for.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>

namespace kcr::kube {

class retry_clock {
public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~retry_clock() = default;
  virtual time_point now() const = 0;
  /// Waits `d` on `cv` (with `lock` held) unless `woken()` turns true first; true when the
  /// full time passed, false when woken.
  virtual bool wait(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                    std::chrono::milliseconds d, const std::function<bool()>& woken) = 0;
};

class steady_retry_clock final : public retry_clock {
public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
  bool wait(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
            std::chrono::milliseconds d, const std::function<bool()>& woken) override {
    return !cv.wait_for(lock, d, woken);
  }
};

} // namespace kcr::kube
