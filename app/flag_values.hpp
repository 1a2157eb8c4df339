// What the controller's command line (options_checks.cpp) and `render` (render_cli.cpp) share
// when they check flag values: the wording of a usage error and the integer rule.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kcr::app {

/// `invalid value "VALUE" for FLAG: expected EXPECTED`, the one line a bad value exits with.
std::string invalid_value(const std::string& flag, const std::string& value,
                          const std::string& expected);

/// A decimal integer in [lo, hi] with nothing around it (no sign, no spaces); nullopt otherwise.
std::optional<int64_t> integer_in(std::string_view text, int64_t lo, int64_t hi);

} // namespace kcr::app
