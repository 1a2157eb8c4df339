// Internal to app/options*.cpp: the raw text of every option as CLI11 reads it, the flag groups
// that fill it (options_flags.cpp) and the checks that turn it into `options`
// (options_checks.cpp).
#pragma once

#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>

#include "app/options.hpp"

namespace kcr::app::detail {

// Raw text of every option that needs checking; validated into `options` after CLI11 is done.
// The initial values are the defaults shown by --help.
struct raw_flags {
  std::string overlay_type = "vxlan";
  std::string overlay_network;
  std::string endpoint_ip;
  std::string remote_vtep;
  std::string remote_vtep_mac;
  std::string vni = "1";
  std::string vxlan_port = "4789";
  std::string tunnel_mtu = "0";
  std::string config_sync_period = "1m";
  std::string tunnel_sync_period = "1m";
  std::string configmap_write_budget = "2Mi";
  std::string annotation_qps = "100";
  std::string lease_duration = "15s";
  std::string renew_deadline = "10s";
  std::string retry_period = "2s";
  std::string log_format = "text";
  std::string pod_cidr_source = "auto";
  std::string pod_network;
};

/// A value that breaks a rule; its message is the one line printed before exiting with 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Registers every flag of the controller, group by group, in --help order.
void add_flags(CLI::App& cli, options& o, raw_flags& raw);

/// Checks `raw` (and the flags CLI11 wrote into `o` directly) and fills `o`; throws usage_error
/// naming the first bad flag.
void validate(const raw_flags& raw, options& o);

} // namespace kcr::app::detail
