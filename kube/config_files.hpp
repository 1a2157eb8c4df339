// Reading the small files a client configuration names (kubeconfig, token, CA, namespace).
// Internal to kube/: shared by kubeconfig.cpp, token_source.cpp and client_config.cpp.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace kcr::kube::detail {

/// Reads a whole file; nullopt with the errno text in `err` when it cannot.
std::optional<std::string> slurp(const std::string& path, std::string& err);

/// `s` without leading and trailing spaces, tabs and line ends.
std::string trim(std::string s);

/// The non-empty items of a ':'-separated list of files (KUBECONFIG, --kubeconfig).
std::vector<std::string> split_file_list(const std::string& list);

} // namespace kcr::kube::detail
