// Internal to kube/configmap_*.cpp: the ConfigMap's key names, shared by the encoder
// (configmap_codec.cpp) and the decoder (configmap_decode.cpp).
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace kcr::kube::codec_detail {

constexpr std::string_view key_endpoint = "EndpointIP";
constexpr std::string_view key_type = "Type";
constexpr std::string_view key_network = "Network";
constexpr std::string_view key_vnid = "VNID";
constexpr std::string_view key_port = "Port";
constexpr std::string_view key_remote_vtep = "RemoteVTEP";
constexpr std::string_view key_remote_vteps = "RemoteVTEPs";

constexpr std::string_view prefix_host = "Host-";
constexpr std::string_view prefix_interface = "Interface-";
constexpr std::string_view prefix_mac = "Mac-";
constexpr std::string_view prefix_cni = "CNI-";
constexpr std::string_view prefix_name = "Name-";
constexpr std::string_view prefix_node = "Node-";

constexpr std::array fixed_keys{key_endpoint, key_type,        key_network,     key_vnid,
                                key_port,     key_remote_vtep, key_remote_vteps};
constexpr std::array entry_prefixes{prefix_host, prefix_interface, prefix_mac,
                                    prefix_cni,  prefix_name,      prefix_node};

inline std::string cat(std::string_view a, std::string_view b) {
  std::string s;
  s.reserve(a.size() + b.size());
  s.append(a).append(b);
  return s;
}

} // namespace kcr::kube::codec_detail
