#include "app/duration.hpp"

#include <cctype>
#include <cstdint>

namespace kcr::app {

namespace {
constexpr int64_t max_total_ms = 1'000'000'000LL * 3'600'000;
} // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text.empty())
    return std::nullopt;
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i])))
      return std::nullopt;
    int64_t n = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      n = n * 10 + (text[i] - '0');
      if (n > 1'000'000'000)
        return std::nullopt; // far beyond any sane period; also keeps the math in range
      ++i;
    }
    std::string_view rest = text.substr(i);
    int64_t unit = 0;
    if (rest.starts_with("ms")) {
      unit = 1;
      i += 2;
    } else if (rest.starts_with("s")) {
      unit = 1000;
      i += 1;
    } else if (rest.starts_with("m")) {
      unit = 60'000;
      i += 1;
    } else if (rest.starts_with("h")) {
      unit = 3'600'000;
      i += 1;
    } else {
      return std::nullopt;
    }
    // At most 10^9 hours in all: no int64 overflow however many terms, and format_duration
    // never needs a number past the 10^9 a term may have.
    if (total > max_total_ms - n * unit)
      return std::nullopt;
    total += n * unit;
  }
  return std::chrono::milliseconds{total};
}

std::string format_duration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms == 0)
    return "0s";
  if (ms % 1000 != 0 && ms <= 1'000'000'000)
    return std::to_string(ms) + "ms";
  int64_t s = ms / 1000;
  ms %= 1000; // past 10^9 ms (11.6 days) a last "<n>ms" term: parse_duration takes terms <= 10^9
  std::string out;
  if (s >= 3600) {
    out += std::to_string(s / 3600) + "h";
    s %= 3600;
  }
  if (s >= 60) {
    out += std::to_string(s / 60) + "m";
    s %= 60;
  }
  if (s > 0)
    out += std::to_string(s) + "s";
  if (ms > 0)
    out += std::to_string(ms) + "ms";
  return out;
}

} // namespace kcr::app
