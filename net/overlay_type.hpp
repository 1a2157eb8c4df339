// The overlay kinds: the two a tunnel can be, and none (route-only: the device routes each pod
// range to its node's own IP, no tunnel). How flags, the ConfigMap and netlink name them.
#pragma once

#include <optional>
#include <string_view>

namespace kcr::net {

enum class overlay_type { vxlan, ipip, none };

/// Flag spelling: "vxlan" / "ipip" / "none" (lower case, as typed on a command line).
constexpr std::string_view flag_name(overlay_type t) {
  return t == overlay_type::vxlan ? "vxlan" : t == overlay_type::ipip ? "ipip" : "none";
}

/// ConfigMap spelling (the seed's `Type` value): "VXLAN" / "IPIP" / "NONE".
constexpr std::string_view configmap_name(overlay_type t) {
  return t == overlay_type::vxlan ? "VXLAN" : t == overlay_type::ipip ? "IPIP" : "NONE";
}

/// Accepts either spelling, any case.
inline std::optional<overlay_type> parse_overlay_type(std::string_view text) {
  auto eq = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size())
      return false;
    for (size_t i = 0; i < a.size(); ++i)
      if ((a[i] | 0x20) != (b[i] | 0x20))
        return false;
    return true;
  };
  if (eq(text, "vxlan"))
    return overlay_type::vxlan;
  if (eq(text, "ipip"))
    return overlay_type::ipip;
  if (eq(text, "none"))
    return overlay_type::none;
  return std::nullopt;
}

} // namespace kcr::net
