// IPv4/IPv6 addresses, CIDR prefixes and MAC addresses: plain values, no I/O.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

namespace kcr::net {

/// An IPv4 or IPv6 address. IPv4 addresses keep their 4 bytes in the first
/// four elements; ordering puts every IPv4 address before every IPv6 one.
class ip_address {
public:
  ip_address() = default;

  /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text (no zone, no prefix).
  static std::optional<ip_address> parse(std::string_view text);
  static ip_address v4(uint32_t host_order);
  static ip_address v6(const std::array<uint8_t, 16>& bytes);

  bool is_v4() const { return v4_; }
  bool is_v6() const { return !v4_; }
  /// The IPv4 address in host byte order. Only for is_v4().
  uint32_t v4_value() const;
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  size_t byte_size() const { return v4_ ? 4 : 16; }

  std::string to_string() const;

  auto operator<=>(const ip_address& other) const {
    if (v4_ != other.v4_)
      return v4_ ? std::strong_ordering::less : std::strong_ordering::greater;
    return bytes_ <=> other.bytes_;
  }
  bool operator==(const ip_address&) const = default;

private:
  std::array<uint8_t, 16> bytes_{};
  bool v4_ = true;
};

/// An address with a prefix length, e.g. 10.244.1.0/24 or 192.168.191.153/24
/// (the address part keeps host bits; network() drops them).
class cidr {
public:
  cidr() = default;
  cidr(ip_address address, int prefix) : address_(address), prefix_(prefix) {}

  /// Parses "ADDR/LEN" with LEN in 0..32 (IPv4) or 0..128 (IPv6).
  static std::optional<cidr> parse(std::string_view text);

  const ip_address& address() const { return address_; }
  int prefix() const { return prefix_; }
  int max_prefix() const { return address_.is_v4() ? 32 : 128; }

  /// The prefix with host bits cleared.
  cidr network() const;
  /// True when the address has no host bits set.
  bool is_network() const { return network().address_ == address_; }
  bool contains(const ip_address& ip) const;

  /// IPv4 only: number of addresses (2^(32-prefix)), network address value,
  /// broadcast address value.
  uint64_t v4_size() const;
  uint32_t v4_first() const;
  uint32_t v4_last() const;

  /// The address at offset `n` from the network address (n < size; IPv6
  /// offsets cover the low 64 bits). Used to iterate and for "first host".
  ip_address at(uint64_t n) const;

  std::string to_string() const;

  bool operator==(const cidr&) const = default;
  auto operator<=>(const cidr&) const = default;

private:
  ip_address address_;
  int prefix_ = 0;
};

/// A 48-bit Ethernet MAC address.
class mac_address {
public:
  mac_address() = default;
  explicit mac_address(const std::array<uint8_t, 6>& bytes) : bytes_(bytes) {}

  /// Parses "aa:bb:cc:dd:ee:ff" (also '-' separated, any case).
  static std::optional<mac_address> parse(std::string_view text);
  /// The tunnel MAC of an overlay address: 0a:58 followed by its four octets.
  static mac_address from_overlay_ip(const ip_address& v4);

  const std::array<uint8_t, 6>& bytes() const { return bytes_; }
  bool is_zero() const { return bytes_ == std::array<uint8_t, 6>{}; }
  std::string to_string() const;

  bool operator==(const mac_address&) const = default;
  auto operator<=>(const mac_address&) const = default;

private:
  std::array<uint8_t, 6> bytes_{};
};

// Stream output (logs, test diagnostics) prints to_string().
std::ostream& operator<<(std::ostream& os, const ip_address& x);
std::ostream& operator<<(std::ostream& os, const cidr& x);
std::ostream& operator<<(std::ostream& os, const mac_address& x);

} // namespace kcr::net
