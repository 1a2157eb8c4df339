// The Node's underlay IP and pod CIDR rules (see node.hpp) and the JSON field reader they use.
#include "kube/node_rules.hpp"

#include "net/pod_ranges.hpp"

namespace kcr::kube::detail {

namespace {

constexpr std::string_view flannel_public_ip = "flannel.alpha.coreos.com/public-ip";
constexpr std::string_view calico_ipv4_address = "projectcalico.org/IPv4Address";
constexpr std::string_view cilium_ipv4_cidr = "network.cilium.io/ipv4-pod-cidr";
constexpr std::string_view cilium_ipv6_cidr = "network.cilium.io/ipv6-pod-cidr";
constexpr std::string_view ovn_node_subnets = "k8s.ovn.org/node-subnets";

std::string annotation_field(std::string_view key) {
  return "metadata.annotations[\"" + std::string{key} + "\"]";
}

// Parses one pod CIDR text from `field`; records a problem for malformed text or host bits.
std::optional<net::cidr> pod_cidr(std::string_view text, const std::string& field,
                                  std::vector<std::string>& problems) {
  auto c = net::cidr::parse(text);
  if (!c) {
    problems.push_back(field + ": " + quote(text) + " is not a CIDR");
    return std::nullopt;
  }
  if (!c->is_network()) {
    problems.push_back(field + ": " + quote(text) + " has host bits set; using " +
                       c->network().to_string());
  }
  return c->network();
}

void cilium_annotation_cidrs(node_info& n) {
  for (auto key : {cilium_ipv4_cidr, cilium_ipv6_cidr}) {
    auto it = n.annotations.find(std::string{key});
    if (it == n.annotations.end())
      continue;
    if (auto c = pod_cidr(it->second, annotation_field(key), n.problems))
      n.pod_cidrs.push_back(*c);
  }
  if (!n.pod_cidrs.empty())
    n.pod_cidr_source = "annotation network.cilium.io";
}

void ovn_annotation_cidrs(node_info& n) {
  auto it = n.annotations.find(std::string{ovn_node_subnets});
  if (it == n.annotations.end())
    return;
  auto field = annotation_field(ovn_node_subnets);
  json::error_code ec;
  auto doc = json::parse(it->second, ec);
  const json::value* def =
      ec || !doc.is_object() ? nullptr : doc.get_object().if_contains("default");
  std::vector<std::string_view> texts;
  if (def != nullptr && def->is_string()) {
    texts.push_back(def->get_string());
  } else if (def != nullptr && def->is_array()) {
    for (const auto& v : def->get_array())
      if (v.is_string())
        texts.push_back(v.get_string());
  }
  if (texts.empty() && (def == nullptr || !def->is_array())) {
    n.problems.push_back(field + ": " + quote(it->second) +
                         " is not {\"default\": CIDR or [CIDR, ...]}");
    return;
  }
  for (auto text : texts)
    if (auto c = pod_cidr(text, field, n.problems))
      n.pod_cidrs.push_back(*c);
  if (!n.pod_cidrs.empty())
    n.pod_cidr_source = "annotation " + std::string{ovn_node_subnets};
}

// spec.podCIDRs, else spec.podCIDR.
void spec_pod_cidrs(reader& r, const json::object* spec, node_info& n) {
  if (auto list = r.array(spec, "podCIDRs", "spec.podCIDRs")) {
    for (size_t i = 0; i < list->size(); ++i) {
      auto field = "spec.podCIDRs[" + std::to_string(i) + "]";
      const auto& v = (*list)[i];
      if (!v.is_string()) {
        n.problems.push_back(field + " is not a string: " + quote(v));
        continue;
      }
      if (auto c = pod_cidr(v.get_string(), field, n.problems))
        n.pod_cidrs.push_back(*c);
    }
    if (!n.pod_cidrs.empty()) {
      n.pod_cidr_source = "spec.podCIDRs";
      return;
    }
  }
  if (auto text = r.string(spec, "podCIDR", "spec.podCIDR"); text && !text->empty()) {
    if (auto c = pod_cidr(*text, "spec.podCIDR", n.problems)) {
      n.pod_cidrs.push_back(*c);
      n.pod_cidr_source = "spec.podCIDR";
    }
  }
}

// The `node` source: spec first, the CNI annotations as fallbacks.
void node_pod_cidrs(reader& r, const json::object* spec, node_info& n) {
  spec_pod_cidrs(r, spec, n);
  if (n.pod_cidrs.empty())
    cilium_annotation_cidrs(n);
  if (n.pod_cidrs.empty())
    ovn_annotation_cidrs(n);
  if (n.pod_cidrs.empty())
    n.problems.push_back("no pod CIDR: spec.podCIDRs and spec.podCIDR are empty and no CNI "
                         "annotation (" +
                         std::string{cilium_ipv4_cidr} + ", " + std::string{ovn_node_subnets} +
                         ") gives one");
}

} // namespace

// A value as it appears in a message: JSON-quoted (so control characters stay visible) and cut
// short, because a hand-edited annotation may be arbitrarily long.
std::string quote(std::string_view text) {
  constexpr size_t limit = 100;
  bool cut = text.size() > limit;
  auto q = json::serialize(json::string(text.substr(0, limit)));
  return cut ? q + "..." : q;
}

std::string quote(const json::value& v) {
  if (v.is_string())
    return quote(std::string_view{v.get_string()});
  auto text = json::serialize(v);
  return text.size() > 100 ? text.substr(0, 100) + "..." : text;
}

const json::value* member(const json::object* o, std::string_view key) {
  if (o == nullptr)
    return nullptr;
  auto it = o->find(key);
  return it == o->end() ? nullptr : &it->value();
}

void parse_addresses(reader& r, const json::object* status, node_info& n) {
  r.objects(status, "addresses", "status.addresses",
            [&](const json::object& item, const std::string& field) {
              auto type = r.string(&item, "type", field + ".type");
              if (!type || (*type != "InternalIP" && *type != "ExternalIP"))
                return; // Hostname, InternalDNS, ExternalDNS: not addresses we can tunnel to
              auto text = r.string(&item, "address", field + ".address");
              if (!text)
                return;
              auto ip = net::ip_address::parse(*text);
              if (!ip) {
                n.problems.push_back(field + " (" + std::string{*type} + "): " + quote(*text) +
                                     " is not an IP address");
                return;
              }
              (*type == "InternalIP" ? n.internal_ips : n.external_ips).push_back(*ip);
            });
}

void choose_underlay(node_info& n) {
  auto first = [](const std::vector<net::ip_address>& ips, bool v4) -> const net::ip_address* {
    for (const auto& ip : ips)
      if (ip.is_v4() == v4)
        return &ip;
    return nullptr;
  };
  struct rule {
    const std::vector<net::ip_address>& ips;
    bool v4;
    const char* source;
  };
  for (const auto& r :
       {rule{n.internal_ips, true, "InternalIP"}, rule{n.external_ips, true, "ExternalIP"},
        rule{n.internal_ips, false, "InternalIP (IPv6)"},
        rule{n.external_ips, false, "ExternalIP (IPv6)"}}) {
    if (auto ip = first(r.ips, r.v4)) {
      n.underlay_ip = *ip;
      n.underlay_source = r.source;
      return;
    }
  }
  // CNI annotations: only consulted (and only complained about) when the kubelet gave nothing.
  if (auto it = n.annotations.find(std::string{flannel_public_ip}); it != n.annotations.end()) {
    if (auto ip = net::ip_address::parse(it->second)) {
      n.underlay_ip = *ip;
      n.underlay_source = "annotation " + std::string{flannel_public_ip};
      return;
    }
    n.problems.push_back(annotation_field(flannel_public_ip) + ": " + quote(it->second) +
                         " is not an IP address");
  }
  if (auto it = n.annotations.find(std::string{calico_ipv4_address}); it != n.annotations.end()) {
    // Calico writes the address with its prefix length ("192.168.191.153/24").
    std::string_view text = it->second;
    auto ip = net::ip_address::parse(text.substr(0, text.find('/')));
    bool prefix_ok = text.find('/') == std::string_view::npos || net::cidr::parse(text);
    if (ip && ip->is_v4() && prefix_ok) {
      n.underlay_ip = *ip;
      n.underlay_source = "annotation " + std::string{calico_ipv4_address};
      return;
    }
    n.problems.push_back(annotation_field(calico_ipv4_address) + ": " + quote(it->second) +
                         " is not an IPv4 address with prefix length");
  }
  n.problems.push_back("no usable address: status.addresses has no InternalIP or ExternalIP, and "
                       "no " +
                       std::string{flannel_public_ip} + " or " + std::string{calico_ipv4_address} +
                       " annotation");
}

void parse_pod_cidrs(reader& r, const json::object* spec, pod_cidr_source source, node_info& n) {
  switch (source) {
  case pod_cidr_source::automatic:
  case pod_cidr_source::node:
    node_pod_cidrs(r, spec, n);
    break;
  case pod_cidr_source::ovn:
    ovn_annotation_cidrs(n);
    if (n.pod_cidrs.empty())
      n.problems.push_back("no pod CIDR: the " + std::string{ovn_node_subnets} +
                           " annotation gives none (--pod-cidr-source ovn)");
    break;
  case pod_cidr_source::cilium:
    // Fallbacks for a node without CiliumNode ranges: what the agent annotates, then spec
    // (Cilium with Kubernetes IPAM uses it); the CiliumNode's ranges come on top.
    cilium_annotation_cidrs(n);
    if (n.pod_cidrs.empty())
      spec_pod_cidrs(r, spec, n);
    break;
  case pod_cidr_source::calico_ipam:
    break; // only BlockAffinities
  }
  n.pod_cidrs = net::normalize(std::move(n.pod_cidrs));
}

} // namespace kcr::kube::detail
