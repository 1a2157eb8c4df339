// The overlay address pool: which node holds which address of the IPv4 overlay
// network. Pure logic (no I/O, no CAF, no logging) owned by the allocator actor.
//
// Every node gets the lowest free address and keeps it while it holds one; the
// network address, the broadcast address and the EndpointIP (the device's side)
// are never handed out. Published assignments are restored at startup so that
// a restart republishes the same addresses.
//
// Cost: allocate / release / restore / lookup / holder are O(log n) in the
// number of assignments, and memory is proportional to the assignments, not
// to the network size (a /8 has 16M addresses).
#pragma once

#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "net/ip.hpp"
#include "net/result.hpp"

namespace kcr::net {

/// What went wrong in create() or allocate().
enum class pool_errc {
  invalid_network,  ///< not IPv4, prefix outside /8../30, or host bits set
  invalid_endpoint, ///< endpoint not IPv4, outside the network, or network/broadcast
  empty_key,        ///< allocate("") : a node name is never empty
  exhausted,        ///< no free address left
};

/// A code and a one-line message naming the input and what was expected.
struct pool_error {
  pool_errc code;
  std::string message;
};

template <class T>
using pool_result = result<T, pool_error>;

/// Why restore() refused a published assignment.
enum class restore_reason {
  not_in_network,  ///< not an IPv4 address inside the overlay network
  reserved,        ///< the network, broadcast or EndpointIP address
  held_by_other,   ///< another key already holds the address
  key_holds_other, ///< the key already holds a different address
  empty_key,       ///< the key is empty (a node name never is)
};

/// "not_in_network", "reserved", "held_by_other", "key_holds_other",
/// "empty_key".
const char* to_string(restore_reason reason);

/// A refused restore: which pair, why, and a one-line message.
struct restore_rejection {
  std::string key;
  ip_address ip;
  restore_reason reason;
  std::string message;
};

/// One assignment as seen when iterating the pool.
struct assignment {
  ip_address ip;
  const std::string& key;
};

class overlay_pool {
  using offset_map = std::map<uint32_t, std::string>;

public:
  /// Validates `network` (IPv4, /8../30, no host bits) and `endpoint` (inside,
  /// neither network nor broadcast address).
  static pool_result<overlay_pool> create(const cidr& network, const ip_address& endpoint);
  /// The same from text, e.g. create("192.168.254.0/24", "192.168.254.254").
  static pool_result<overlay_pool> create(std::string_view network, std::string_view endpoint);

  /// The address `key` holds, or the lowest free one, now held by `key`.
  /// Idempotent. Errors: exhausted (names the network and its capacity), empty_key.
  pool_result<ip_address> allocate(std::string_view key);

  /// Frees the address of `key`; returns it, or nullopt if `key` held none.
  std::optional<ip_address> release(std::string_view key);

  /// Takes over a published assignment. Empty when accepted (restoring the
  /// same pair twice is accepted); otherwise why not. Never overwrites a holder.
  std::optional<restore_rejection> restore(std::string_view key, const ip_address& ip);
  /// restore() for each pair in order; returns the rejected ones.
  std::vector<restore_rejection>
  restore_all(const std::vector<std::pair<std::string, ip_address>>& published);

  /// The address `key` holds.
  std::optional<ip_address> lookup(std::string_view key) const;
  /// The key holding `ip`.
  std::optional<std::string> holder(const ip_address& ip) const;
  /// True for the network, broadcast and EndpointIP addresses.
  bool is_reserved(const ip_address& ip) const;

  const cidr& network() const { return network_; }
  const ip_address& endpoint() const { return endpoint_; }
  /// Addresses in use.
  size_t size() const { return by_offset_.size(); }
  /// Addresses that can be handed out: all minus network, broadcast, EndpointIP.
  uint64_t capacity() const { return size_ - 3; }
  uint64_t free_count() const { return capacity() - size(); }
  bool empty() const { return by_offset_.empty(); }

  /// Iterates assignments sorted by address, yielding `assignment` values.
  class const_iterator {
  public:
    using iterator_category = std::bidirectional_iterator_tag;
    using value_type = assignment;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = assignment;

    const_iterator() = default;
    assignment operator*() const { return {ip_address::v4(base_ + it_->first), it_->second}; }
    const_iterator& operator++() {
      ++it_;
      return *this;
    }
    const_iterator operator++(int) {
      auto old = *this;
      ++it_;
      return old;
    }
    const_iterator& operator--() {
      --it_;
      return *this;
    }
    const_iterator operator--(int) {
      auto old = *this;
      --it_;
      return old;
    }
    bool operator==(const const_iterator& other) const { return it_ == other.it_; }

  private:
    friend class overlay_pool;
    const_iterator(offset_map::const_iterator it, uint32_t base) : it_(it), base_(base) {}
    offset_map::const_iterator it_;
    uint32_t base_ = 0;
  };
  const_iterator begin() const { return {by_offset_.begin(), base_}; }
  const_iterator end() const { return {by_offset_.end(), base_}; }

  /// A copy of all assignments sorted by address (for logs and publishing).
  std::vector<std::pair<ip_address, std::string>> assignments() const;

  /// Number of free ranges kept (test hook: bounded by size() + 2).
  size_t free_range_count() const { return free_.size(); }

private:
  overlay_pool(const cidr& network, const ip_address& endpoint);

  std::optional<uint32_t> offset_of(const ip_address& ip) const;
  bool is_reserved_offset(uint64_t offset) const;
  void take(uint32_t offset);
  void give_back(uint32_t offset);
  void assign(std::string_view key, uint32_t offset);

  cidr network_;
  ip_address endpoint_;
  uint32_t base_ = 0;         // network address value
  uint64_t size_ = 0;         // addresses in the network, 2^(32-prefix)
  uint32_t endpoint_off_ = 0; // offset of the EndpointIP
  // Both directions of the assignment relation; by_offset_ also gives the
  // address order for iteration.
  std::map<std::string, uint32_t, std::less<>> by_key_;
  offset_map by_offset_;
  // Free, non-reserved offsets as disjoint inclusive ranges first -> last,
  // merged on release. The lowest free offset is free_.begin()->first.
  std::map<uint32_t, uint32_t> free_;
};

} // namespace kcr::net
