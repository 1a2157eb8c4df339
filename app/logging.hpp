// Process-wide logging setup: spdlog in text or JSON lines, to stderr.
#pragma once

#include <string>
#include <string_view>

#include "app/options.hpp"

namespace kcr::app {

/// Installs the default logger. Call once, before anything logs.
void setup_logging(log_format format, const std::string& level);

/// Escapes text for a JSON string literal (quotes, backslashes, control bytes).
std::string json_escape(std::string_view text);

} // namespace kcr::app
