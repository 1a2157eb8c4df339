#include "net/ip.hpp"

#include <arpa/inet.h>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ostream>

namespace kcr::net {

namespace {

// inet_pton needs a NUL-terminated string; addresses are short.
bool copy_bounded(std::string_view text, char (&buf)[64]) {
  if (text.empty() || text.size() >= sizeof buf)
    return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  return true;
}

std::optional<int> parse_int(std::string_view text) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr != text.data() + text.size() || text.empty())
    return std::nullopt;
  return value;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

} // namespace

std::optional<ip_address> ip_address::parse(std::string_view text) {
  char buf[64];
  if (!copy_bounded(text, buf))
    return std::nullopt;
  ip_address result;
  if (text.find(':') == std::string_view::npos) {
    // inet_pton(AF_INET) accepts exactly dotted-quad decimal.
    if (inet_pton(AF_INET, buf, result.bytes_.data()) != 1)
      return std::nullopt;
    result.v4_ = true;
    return result;
  }
  if (inet_pton(AF_INET6, buf, result.bytes_.data()) != 1)
    return std::nullopt;
  result.v4_ = false;
  return result;
}

ip_address ip_address::v4(uint32_t host_order) {
  ip_address result;
  result.v4_ = true;
  result.bytes_[0] = static_cast<uint8_t>(host_order >> 24);
  result.bytes_[1] = static_cast<uint8_t>(host_order >> 16);
  result.bytes_[2] = static_cast<uint8_t>(host_order >> 8);
  result.bytes_[3] = static_cast<uint8_t>(host_order);
  return result;
}

ip_address ip_address::v6(const std::array<uint8_t, 16>& bytes) {
  ip_address result;
  result.v4_ = false;
  result.bytes_ = bytes;
  return result;
}

uint32_t ip_address::v4_value() const {
  return (uint32_t{bytes_[0]} << 24) | (uint32_t{bytes_[1]} << 16) | (uint32_t{bytes_[2]} << 8) |
         uint32_t{bytes_[3]};
}

std::string ip_address::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v4_ ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof buf);
  return buf;
}

std::optional<cidr> cidr::parse(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos)
    return std::nullopt;
  auto address = ip_address::parse(text.substr(0, slash));
  auto prefix = parse_int(text.substr(slash + 1));
  if (!address || !prefix)
    return std::nullopt;
  int max = address->is_v4() ? 32 : 128;
  if (*prefix < 0 || *prefix > max)
    return std::nullopt;
  return cidr{*address, *prefix};
}

cidr cidr::network() const {
  auto bytes = address_.bytes();
  size_t size = address_.byte_size();
  for (size_t i = 0; i < size; ++i) {
    int bits = prefix_ - static_cast<int>(i) * 8;
    if (bits >= 8)
      continue;
    bytes[i] = bits <= 0 ? 0 : static_cast<uint8_t>(bytes[i] & (0xFF << (8 - bits)));
  }
  ip_address net = address_.is_v4()
                       ? ip_address::v4((uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) |
                                        (uint32_t{bytes[2]} << 8) | uint32_t{bytes[3]})
                       : ip_address::v6(bytes);
  return cidr{net, prefix_};
}

bool cidr::contains(const ip_address& ip) const {
  if (ip.is_v4() != address_.is_v4())
    return false;
  return cidr{ip, prefix_}.network().address() == network().address();
}

uint64_t cidr::v4_size() const {
  return uint64_t{1} << (32 - prefix_);
}

uint32_t cidr::v4_first() const {
  return network().address().v4_value();
}

uint32_t cidr::v4_last() const {
  return static_cast<uint32_t>(v4_first() + v4_size() - 1);
}

ip_address cidr::at(uint64_t n) const {
  if (address_.is_v4())
    return ip_address::v4(static_cast<uint32_t>(v4_first() + n));
  auto bytes = network().address().bytes();
  // Add n to the low 64 bits, carrying within them.
  for (int i = 15; i >= 8 && n != 0; --i) {
    uint64_t sum = uint64_t{bytes[i]} + (n & 0xFF);
    bytes[i] = static_cast<uint8_t>(sum);
    n = (n >> 8) + (sum >> 8);
  }
  return ip_address::v6(bytes);
}

std::string cidr::to_string() const {
  return address_.to_string() + "/" + std::to_string(prefix_);
}

std::optional<mac_address> mac_address::parse(std::string_view text) {
  // Exactly six pairs of hex digits separated by ':' or '-'.
  if (text.size() != 17)
    return std::nullopt;
  std::array<uint8_t, 6> bytes{};
  for (size_t i = 0; i < 6; ++i) {
    int hi = hex_digit(text[i * 3]);
    int lo = hex_digit(text[i * 3 + 1]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    if (i < 5 && text[i * 3 + 2] != ':' && text[i * 3 + 2] != '-')
      return std::nullopt;
    bytes[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return mac_address{bytes};
}

mac_address mac_address::from_overlay_ip(const ip_address& v4) {
  const auto& b = v4.bytes();
  return mac_address{{0x0a, 0x58, b[0], b[1], b[2], b[3]}};
}

std::string mac_address::to_string() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", bytes_[0], bytes_[1], bytes_[2],
                bytes_[3], bytes_[4], bytes_[5]);
  return buf;
}

std::ostream& operator<<(std::ostream& os, const ip_address& x) {
  return os << x.to_string();
}
std::ostream& operator<<(std::ostream& os, const cidr& x) {
  return os << x.to_string();
}
std::ostream& operator<<(std::ostream& os, const mac_address& x) {
  return os << x.to_string();
}

} // namespace kcr::net
