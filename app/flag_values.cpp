// See flag_values.hpp.
#include "app/flag_values.hpp"

#include <charconv>

namespace kcr::app {

std::string invalid_value(const std::string& flag, const std::string& value,
                          const std::string& expected) {
  return "invalid value \"" + value + "\" for " + flag + ": expected " + expected;
}

std::optional<int64_t> integer_in(std::string_view text, int64_t lo, int64_t hi) {
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size() || n < lo || n > hi)
    return std::nullopt;
  return n;
}

} // namespace kcr::app
