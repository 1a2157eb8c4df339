// Base64 for kubeconfig data fields, ExecCredential cluster info and proxy credentials.
#pragma once

#include <optional>
#include <string>

namespace kcr::kube {

/// Standard base64 with padding.
std::string base64_encode(const std::string& in);
/// Standard base64 (with or without padding, whitespace ignored; the URL-safe alphabet too);
/// nullopt on bad input.
std::optional<std::string> base64_decode(const std::string& text);

} // namespace kcr::kube
