#include "actors/write_budget.hpp"

#include <algorithm>
#include <cmath>

namespace kcr::actors {

write_budget::write_budget(double bytes_per_second) : rate_(std::max(0.0, bytes_per_second)) {}

double write_budget::capacity(std::size_t cost) const {
  return std::max(2.0 * static_cast<double>(cost), rate_);
}

void write_budget::refill(clock::time_point now) {
  if (last_ && now > *last_) {
    std::chrono::duration<double> dt = now - *last_;
    debt_ = std::max(0.0, debt_ - dt.count() * rate_);
  }
  if (!last_ || now > *last_)
    last_ = now;
}

double write_budget::tokens(std::size_t cost, clock::time_point now) {
  if (!unlimited())
    refill(now);
  return capacity(cost) - debt_;
}

write_budget::clock::duration write_budget::wait(std::size_t cost, clock::time_point now) {
  if (unlimited())
    return clock::duration::zero();
  refill(now);
  double missing = static_cast<double>(cost) - tokens(cost, now);
  if (missing <= 0)
    return clock::duration::zero();
  // Rounded up, so that the timer never fires a hair too early and has to wait again.
  return std::chrono::ceil<clock::duration>(std::chrono::duration<double>(missing / rate_));
}

void write_budget::spend(std::size_t cost, clock::time_point now) {
  if (unlimited())
    return;
  refill(now);
  debt_ += static_cast<double>(cost);
}

configmap_size size_of(const std::map<std::string, std::string>& data) {
  // {"kind":"ConfigMap","apiVersion":"v1","metadata":{name, namespace, uid, resourceVersion,
  // creationTimestamp, labels},"data":{...}} without managedFields is about 300 bytes besides the
  // data; each entry is "key":"value", (6 bytes of quotes, colon and comma).
  constexpr std::size_t metadata = 320;
  configmap_size s;
  s.encoded = metadata;
  for (const auto& [k, v] : data)
    s.add(k, v);
  return s;
}

size_verdict judge(const configmap_size& s) {
  if (s.values > configmap_values_limit)
    return size_verdict::too_large;
  if (s.encoded > etcd_warning_size)
    return size_verdict::near_etcd_limit;
  return size_verdict::fits;
}

std::string describe(const configmap_size& s, size_verdict v) {
  switch (v) {
  case size_verdict::fits:
    return {};
  case size_verdict::near_etcd_limit:
    return "the ConfigMap is " + std::to_string(s.encoded) +
           " bytes encoded, near etcd's request limit of " + std::to_string(etcd_request_limit) +
           " bytes (warning above " + std::to_string(etcd_warning_size) +
           "); it is still written, but a few more nodes will make writes fail";
  case size_verdict::too_large:
    return "the ConfigMap's values are " + std::to_string(s.values) +
           " bytes, over the API server's limit of " + std::to_string(configmap_values_limit) +
           " bytes per ConfigMap; it is not written (the API server would refuse it) until it "
           "fits again";
  }
  return {};
}

} // namespace kcr::actors
