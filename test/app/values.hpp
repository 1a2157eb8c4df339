// Small value builders shared by the app/ suites (render, overlay modes).
#pragma once

#include <string>
#include <vector>

#include "net/ip.hpp"

namespace kcr::test {

inline net::ip_address ip(const char* text) {
  return *net::ip_address::parse(text);
}
inline net::cidr cidr(const char* text) {
  return *net::cidr::parse(text);
}
/// The lines, each ended by a newline (as render prints them).
inline std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& l : v)
    s += l + "\n";
  return s;
}

} // namespace kcr::test
