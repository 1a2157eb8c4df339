// Encodes and merges the ConfigMap contract (see configmap_codec.hpp); decoding is in
// configmap_decode.cpp.
#include "kube/configmap_codec.hpp"

#include <algorithm>
#include <ostream>

#include "kube/configmap_keys.hpp"

namespace kcr::kube {

using namespace codec_detail;

net::mac_address node_entry::effective_mac() const {
  return mac.value_or(net::mac_address::from_overlay_ip(overlay_ip));
}

std::string ip_key(const net::ip_address& ip) {
  auto text = ip.to_string();
  std::replace(text.begin(), text.end(), ':', '_');
  return text;
}

std::string cni_value(const std::vector<net::cidr>& pod_cidrs) {
  std::string value;
  for (const auto& c : pod_cidrs) {
    auto net = c.network();
    // The first host is the CNI bridge's gateway; a single-address prefix has only itself.
    auto host = net.prefix() < net.max_prefix() ? net.at(1) : net.address();
    if (!value.empty())
      value += ',';
    value += net::cidr{host, net.prefix()}.to_string();
  }
  return value;
}

std::vector<std::pair<std::string, std::string>> encode_entry(const node_entry& entry,
                                                              net::overlay_type type) {
  auto suffix = ip_key(entry.node_ip);
  auto node_ip = entry.node_ip.to_string();
  std::vector<std::pair<std::string, std::string>> kv;
  kv.reserve(6);
  if (!entry.uid.empty())
    kv.emplace_back(cat(prefix_host, entry.uid), node_ip);
  kv.emplace_back(cat(prefix_interface, suffix), entry.overlay_ip.to_string());
  if (type == net::overlay_type::vxlan)
    kv.emplace_back(cat(prefix_mac, suffix), entry.effective_mac().to_string());
  kv.emplace_back(cat(prefix_cni, suffix), cni_value(entry.pod_cidrs));
  if (!entry.name.empty())
    kv.emplace_back(cat(prefix_name, suffix), entry.name);
  kv.emplace_back(cat(prefix_node, suffix), node_ip);
  return kv;
}

std::map<std::string, std::string> encode(const published_state& state) {
  std::map<std::string, std::string> data;
  auto type = state.type.value_or(net::overlay_type::vxlan);
  if (state.endpoint_ip)
    data.emplace(key_endpoint, state.endpoint_ip->to_string());
  if (state.type)
    data.emplace(key_type, net::configmap_name(*state.type));
  if (state.network)
    data.emplace(key_network, state.network->to_string());
  if (state.vni)
    data.emplace(key_vnid, std::to_string(*state.vni));
  if (state.port)
    data.emplace(key_port, std::to_string(*state.port));
  if (state.remote_vtep)
    data.emplace(key_remote_vtep, state.remote_vtep->to_string());
  if (!state.remote_vteps.empty()) {
    std::string list;
    for (const auto& ip : state.remote_vteps) {
      if (!list.empty())
        list += ',';
      list += ip.to_string();
    }
    data.emplace(key_remote_vteps, std::move(list));
  }
  for (const auto& entry : state.entries)
    for (auto& [k, v] : encode_entry(entry, type))
      data.insert_or_assign(std::move(k), std::move(v));
  return data;
}

bool is_own_key(std::string_view key) {
  for (auto k : fixed_keys)
    if (key == k)
      return true;
  for (auto p : entry_prefixes)
    if (key.starts_with(p))
      return true;
  return false;
}

std::map<std::string, std::string> merge(const std::map<std::string, std::string>& current_data,
                                         const std::map<std::string, std::string>& desired_own) {
  auto result = desired_own;
  for (const auto& [k, v] : current_data)
    if (!is_own_key(k))
      result.emplace(k, v);
  return result;
}

std::ostream& operator<<(std::ostream& os, const node_entry& x) {
  os << "{name=" << x.name << " uid=" << x.uid << " node=" << x.node_ip
     << " overlay=" << x.overlay_ip << " mac=";
  if (x.mac)
    os << *x.mac;
  else
    os << "derived";
  return os << " cni=" << cni_value(x.pod_cidrs) << "}";
}

std::ostream& operator<<(std::ostream& os, const published_state& x) {
  os << "{endpoint=";
  if (x.endpoint_ip)
    os << *x.endpoint_ip;
  os << " type=" << (x.type ? net::configmap_name(*x.type) : "");
  if (x.network)
    os << " network=" << *x.network;
  if (x.vni)
    os << " vni=" << *x.vni;
  if (x.port)
    os << " port=" << *x.port;
  if (x.remote_vtep)
    os << " remote_vtep=" << *x.remote_vtep;
  for (size_t i = 0; i < x.remote_vteps.size(); ++i)
    os << (i ? "," : " remote_vteps=") << x.remote_vteps[i];
  os << " entries=[";
  for (const auto& e : x.entries)
    os << e;
  return os << "]}";
}

} // namespace kcr::kube
