// The flags that name the cluster and the published ConfigMap, shared by the controller's command
// line and `render`, so both read the same flags and environment variables.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace kcr::app {

/// --kubeconfig (env KUBECONFIG; ':'-separated lists work) and --master (env KCR_MASTER).
void add_cluster_access_flags(CLI::App& cli, std::string& kubeconfig, std::string& master,
                              const std::string& group);

/// --configmap-name (env KCR_CONFIGMAP_NAME) and --configmap-namespace (env
/// KCR_CONFIGMAP_NAMESPACE); the defaults are the strings' current values.
void add_configmap_flags(CLI::App& cli, std::string& name, std::string& ns,
                         const std::string& group);

} // namespace kcr::app
