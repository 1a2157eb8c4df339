// Small text helpers for log lines and Event messages.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
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

/// A resourceVersion as a number. Resource versions are opaque, but every real server uses
/// integers; when both are integers an older observation (a watch event that trails our own
/// write) is recognised and ignored. nullopt when it is not one.
inline std::optional<uint64_t> resource_version_number(std::string_view rv) {
  uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(rv.data(), rv.data() + rv.size(), n);
  if (rv.empty() || ec != std::errc{} || ptr != rv.data() + rv.size())
    return std::nullopt;
  return n;
}

} // namespace kcr::actors
