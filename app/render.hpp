// `kube-chorus-router render`: turns the published ConfigMap (decoded into a published_state)
// into the device-side configuration, as command lines for a Linux host (ip/bridge), a Citrix
// ADC / NetScaler (its CLI) or an F5 BIG-IP (tmsh), and the difference between two ConfigMaps as
// commands that remove what went away and add what is new or changed. Route-only (Type NONE):
// one route per pod range via its node's IP, on every target.
// Pure logic: no I/O; the subcommand around it is app/render_cli.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "kube/configmap_codec.hpp"
#include "net/ip.hpp"

namespace kcr::app {

enum class render_target { linux_host, netscaler, bigip };

/// "linux", "netscaler", "bigip" (lower case, as typed on the command line).
std::string_view target_name(render_target t);
std::optional<render_target> parse_render_target(std::string_view text);

/// Device-side settings that the ConfigMap does not carry (or that override it).
struct render_options {
  render_target target = render_target::linux_host;
  /// linux: the tunnel interface created on the device (at most 15 characters).
  std::string device_interface = "kcrdev0";
  /// linux: the underlay interface the tunnel is bound to (`dev X`); empty: none.
  std::string underlay_dev;
  /// linux, VXLAN: the MAC of the device's tunnel interface (`address X`); unset: kernel's choice.
  std::optional<net::mac_address> device_mac;
  /// The device's underlay IP; unset: the ConfigMap's RemoteVTEP. With several devices
  /// (RemoteVTEPs) it must be given and be one of them. Route-only (Type NONE) needs none.
  std::optional<net::ip_address> local_ip;
  /// VXLAN identifier and UDP port; unset: the ConfigMap's VNID / Port, else 1 / 4789.
  std::optional<uint32_t> vni;
  std::optional<uint16_t> port;
};

/// The state or the options cannot be rendered (no EndpointIP, no device underlay IP, IPIP with
/// an IPv6 address, a bad interface name). The message is one line naming what is missing.
struct render_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct rendered {
  std::vector<std::string> commands; // in the order to apply them
  /// One line per entry part left out (an IPv6 pod CIDR, a node whose underlay address family
  /// differs from the device's, a pod CIDR or overlay IP claimed by two nodes).
  std::vector<std::string> warnings;
};

/// The full device configuration for `state` (to apply once on a clean device).
/// Throws render_error.
rendered render(const kube::published_state& state, const render_options& opts);

/// What turns the configuration of `old_state` into that of `new_state`: first the removals
/// (in reverse apply order; an object whose parent is recreated is removed and re-added with it),
/// then the additions in apply order. Empty when both render the same. Warnings are new_state's.
/// Throws render_error when either state cannot be rendered.
rendered render_diff(const kube::published_state& old_state, const kube::published_state& new_state,
                     const render_options& opts);

} // namespace kcr::app
