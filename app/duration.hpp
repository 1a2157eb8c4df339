// Go-style durations for sync periods and lease timings: "500ms", "30s", "1m", "1h30m".
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace kcr::app {

/// Parses a sequence of <integer><unit> with unit ms, s, m or h. Returns nullopt
/// on anything else (empty text, missing unit, unknown unit, overflow).
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

/// Formats the shortest exact spelling: 90000ms -> "1m30s", 1500ms -> "1500ms".
std::string format_duration(std::chrono::milliseconds d);

} // namespace kcr::app
