// The overlay address pool: validation, lowest-free allocation over a map of
// free ranges, and restore of published assignments.
#include "net/overlay_pool.hpp"

#include <cassert>
#include <iterator>

namespace kcr::net {

namespace {

constexpr int min_prefix = 8;
constexpr int max_prefix = 30;

std::string addresses(uint64_t n) {
  return std::to_string(n) + (n == 1 ? " usable address" : " usable addresses");
}

pool_error network_error(std::string message) {
  return {pool_errc::invalid_network, std::move(message)};
}

pool_error endpoint_error(std::string message) {
  return {pool_errc::invalid_endpoint, std::move(message)};
}

} // namespace

const char* to_string(restore_reason reason) {
  switch (reason) {
  case restore_reason::not_in_network:
    return "not_in_network";
  case restore_reason::reserved:
    return "reserved";
  case restore_reason::held_by_other:
    return "held_by_other";
  case restore_reason::key_holds_other:
    return "key_holds_other";
  case restore_reason::empty_key:
    return "empty_key";
  }
  return "unknown";
}

pool_result<overlay_pool> overlay_pool::create(const cidr& network, const ip_address& endpoint) {
  const std::string net = network.to_string();
  if (!network.address().is_v4())
    return network_error("overlay network " + net + " is not IPv4: expected an IPv4 network");
  if (network.prefix() < min_prefix || network.prefix() > max_prefix)
    return network_error("overlay network " + net + " has prefix /" +
                         std::to_string(network.prefix()) + ": expected /8 to /30");
  if (!network.is_network())
    return network_error("overlay network " + net +
                         " has host bits set: expected a network address such as " +
                         network.network().to_string());
  const std::string ep = endpoint.to_string();
  if (!endpoint.is_v4() || !network.contains(endpoint))
    return endpoint_error("endpoint IP " + ep + " is not inside overlay network " + net);
  if (endpoint.v4_value() == network.v4_first())
    return endpoint_error("endpoint IP " + ep + " is the network address of " + net);
  if (endpoint.v4_value() == network.v4_last())
    return endpoint_error("endpoint IP " + ep + " is the broadcast address of " + net);
  return overlay_pool{network, endpoint};
}

pool_result<overlay_pool> overlay_pool::create(std::string_view network,
                                               std::string_view endpoint) {
  auto net = cidr::parse(network);
  if (!net)
    return network_error("overlay network '" + std::string(network) +
                         "' is not a CIDR: expected e.g. 192.168.254.0/24");
  auto ep = ip_address::parse(endpoint);
  if (!ep)
    return endpoint_error("endpoint IP '" + std::string(endpoint) +
                          "' is not an IP address: expected e.g. 192.168.254.254");
  return create(*net, *ep);
}

overlay_pool::overlay_pool(const cidr& network, const ip_address& endpoint)
    : network_(network), endpoint_(endpoint), base_(network.v4_first()), size_(network.v4_size()),
      endpoint_off_(endpoint.v4_value() - network.v4_first()) {
  // Usable offsets are 1 .. size-2 with the EndpointIP cut out: at most two
  // ranges. create() guarantees 1 <= endpoint_off_ <= size-2 and size >= 4.
  auto last = static_cast<uint32_t>(size_ - 2);
  if (endpoint_off_ > 1)
    free_.emplace(1, endpoint_off_ - 1);
  if (endpoint_off_ < last)
    free_.emplace(endpoint_off_ + 1, last);
}

std::optional<uint32_t> overlay_pool::offset_of(const ip_address& ip) const {
  if (!ip.is_v4() || !network_.contains(ip))
    return std::nullopt;
  return ip.v4_value() - base_;
}

bool overlay_pool::is_reserved_offset(uint64_t offset) const {
  return offset == 0 || offset == size_ - 1 || offset == endpoint_off_;
}

bool overlay_pool::is_reserved(const ip_address& ip) const {
  auto off = offset_of(ip);
  return off && is_reserved_offset(*off);
}

// Removes `offset` from the free ranges; it must be free.
void overlay_pool::take(uint32_t offset) {
  auto it = free_.upper_bound(offset);
  assert(it != free_.begin());
  --it;
  const uint32_t first = it->first;
  const uint32_t last = it->second;
  assert(first <= offset && offset <= last);
  if (first == offset) {
    free_.erase(it);
    if (offset < last)
      free_.emplace(offset + 1, last);
  } else {
    it->second = offset - 1;
    if (offset < last)
      free_.emplace(offset + 1, last);
  }
}

// Adds `offset` to the free ranges, merging with free neighbours. Reserved
// offsets are never free, so ranges never merge across the EndpointIP.
void overlay_pool::give_back(uint32_t offset) {
  auto next = free_.lower_bound(offset);
  assert(next == free_.end() || next->first > offset);
  auto it = next;
  bool merged_prev = false;
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->second + 1 == offset) {
      prev->second = offset;
      it = prev;
      merged_prev = true;
    }
  }
  if (!merged_prev)
    it = free_.emplace_hint(next, offset, offset);
  if (next != free_.end() && next->first == offset + 1) {
    it->second = next->second;
    free_.erase(next);
  }
}

void overlay_pool::assign(std::string_view key, uint32_t offset) {
  take(offset);
  auto [pos, inserted] = by_key_.emplace(std::string(key), offset);
  assert(inserted);
  (void)inserted;
  by_offset_.emplace(offset, pos->first);
}

pool_result<ip_address> overlay_pool::allocate(std::string_view key) {
  if (key.empty())
    return pool_error{pool_errc::empty_key, "cannot allocate an overlay address for an empty key"};
  if (auto it = by_key_.find(key); it != by_key_.end())
    return ip_address::v4(base_ + it->second);
  if (free_.empty())
    return pool_error{pool_errc::exhausted, "overlay network " + network_.to_string() +
                                                " is exhausted: " + addresses(capacity()) + ", " +
                                                std::to_string(size()) + " in use"};
  const uint32_t offset = free_.begin()->first;
  assign(key, offset);
  return ip_address::v4(base_ + offset);
}

std::optional<ip_address> overlay_pool::release(std::string_view key) {
  auto it = by_key_.find(key);
  if (it == by_key_.end())
    return std::nullopt;
  const uint32_t offset = it->second;
  by_offset_.erase(offset);
  by_key_.erase(it);
  give_back(offset);
  return ip_address::v4(base_ + offset);
}

std::optional<restore_rejection> overlay_pool::restore(std::string_view key, const ip_address& ip) {
  auto reject = [&](restore_reason reason, std::string why) {
    return restore_rejection{std::string(key), ip, reason,
                             "cannot restore " + ip.to_string() + " for '" + std::string(key) +
                                 "': " + why};
  };
  if (key.empty())
    return reject(restore_reason::empty_key, "the key is empty");
  auto off = offset_of(ip);
  if (!off)
    return reject(restore_reason::not_in_network,
                  "not inside overlay network " + network_.to_string());
  if (is_reserved_offset(*off)) {
    const char* what = *off == 0 ? "network" : *off == endpoint_off_ ? "EndpointIP" : "broadcast";
    return reject(restore_reason::reserved, std::string("it is the reserved ") + what +
                                                " address of " + network_.to_string());
  }
  if (auto it = by_key_.find(key); it != by_key_.end()) {
    if (it->second == *off)
      return std::nullopt; // the same pair again: nothing to do
    return reject(restore_reason::key_holds_other,
                  "the key already holds " + ip_address::v4(base_ + it->second).to_string());
  }
  if (auto it = by_offset_.find(*off); it != by_offset_.end())
    return reject(restore_reason::held_by_other, "already held by '" + it->second + "'");
  assign(key, *off);
  return std::nullopt;
}

std::vector<restore_rejection>
overlay_pool::restore_all(const std::vector<std::pair<std::string, ip_address>>& published) {
  std::vector<restore_rejection> rejected;
  for (const auto& [key, ip] : published)
    if (auto r = restore(key, ip))
      rejected.push_back(std::move(*r));
  return rejected;
}

std::optional<ip_address> overlay_pool::lookup(std::string_view key) const {
  auto it = by_key_.find(key);
  if (it == by_key_.end())
    return std::nullopt;
  return ip_address::v4(base_ + it->second);
}

std::optional<std::string> overlay_pool::holder(const ip_address& ip) const {
  auto off = offset_of(ip);
  if (!off)
    return std::nullopt;
  auto it = by_offset_.find(*off);
  if (it == by_offset_.end())
    return std::nullopt;
  return it->second;
}

std::vector<std::pair<ip_address, std::string>> overlay_pool::assignments() const {
  std::vector<std::pair<ip_address, std::string>> out;
  out.reserve(size());
  for (const auto& [offset, key] : by_offset_)
    out.emplace_back(ip_address::v4(base_ + offset), key);
  return out;
}

} // namespace kcr::net
