// Small helpers shared by the tests of the Node model and the pod range sources.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kube/node.hpp"
#include "net/ip.hpp"

namespace kcr::test {

/// "10.244.1.0/24,fd00::/64": CIDRs as one comparable string.
inline std::string join(const std::vector<net::cidr>& cidrs) {
  std::string s;
  for (const auto& c : cidrs) {
    if (!s.empty())
      s += ',';
    s += c.to_string();
  }
  return s;
}

/// One line per entry, for messages of failed checks.
inline std::string join(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines)
    s += l + "\n";
  return s;
}

inline bool has_problem(const kube::node_info& n, std::string_view part) {
  for (const auto& p : n.problems)
    if (p.find(part) != std::string::npos)
      return true;
  return false;
}

} // namespace kcr::test
