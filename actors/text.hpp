// Small text helpers for log lines and Event messages.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kcr::actors {

/// "a; b; c" — problems and changes are reported as one line.
inline std::string join(const std::vector<std::string>& parts, std::string_view sep = "; ") {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty())
      out += sep;
    out += p;
  }
  return out;
}

} // namespace kcr::actors
