// The running controller: spawns the actors for the roles this instance has, starts the watch
// and link feeders, the health and metrics endpoints, and shuts it all down on SIGTERM/SIGINT
// while leaving the data plane up.
#pragma once

#include <string>

#include "actors/settings.hpp"
#include "app/options.hpp"

namespace kcr::app {

/// The actor settings for these options (identity made unique with a random suffix).
actors::controller_settings make_settings(const options& o, const std::string& node_name);

/// This node's name: --hostname-override / NODE_NAME, else the OS hostname.
std::string local_node_name(const options& o);

/// Runs until SIGTERM/SIGINT. Returns the process exit status. Call with SIGTERM and SIGINT
/// blocked in every thread (main does this before anything starts).
int run_controller(const options& o);

/// --cleanup-config: removes every interface this project created on this node (and only
/// those), then returns 0; needs no API server. Idempotent.
int run_cleanup(const options& o);

} // namespace kcr::app
