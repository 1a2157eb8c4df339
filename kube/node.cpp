// Parses Kubernetes Node JSON into node_info (see node.hpp for the underlay and pod CIDR rules).
#include "kube/node.hpp"

#include <boost/json.hpp>

#include "net/pod_ranges.hpp"

namespace kcr::kube {

namespace json = boost::json;

namespace {

constexpr std::string_view flannel_public_ip = "flannel.alpha.coreos.com/public-ip";
constexpr std::string_view calico_ipv4_address = "projectcalico.org/IPv4Address";
constexpr std::string_view cilium_ipv4_cidr = "network.cilium.io/ipv4-pod-cidr";
constexpr std::string_view cilium_ipv6_cidr = "network.cilium.io/ipv6-pod-cidr";
constexpr std::string_view ovn_node_subnets = "k8s.ovn.org/node-subnets";

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

std::string annotation_field(std::string_view key) {
  return "metadata.annotations[\"" + std::string{key} + "\"]";
}

const json::value* member(const json::object* o, std::string_view key) {
  if (o == nullptr)
    return nullptr;
  auto it = o->find(key);
  return it == o->end() ? nullptr : &it->value();
}

// Field access that records a problem when a present field has the wrong JSON type; a missing
// (or null) field is simply absent, as the API omits empty fields.
struct reader {
  std::vector<std::string>& problems;

  const json::object* object(const json::object* o, std::string_view key, std::string_view path) {
    auto v = member(o, key);
    if (v == nullptr || v->is_null())
      return nullptr;
    if (!v->is_object()) {
      problems.push_back(std::string{path} + " is not an object: " + quote(*v));
      return nullptr;
    }
    return &v->get_object();
  }

  const json::array* array(const json::object* o, std::string_view key, std::string_view path) {
    auto v = member(o, key);
    if (v == nullptr || v->is_null())
      return nullptr;
    if (!v->is_array()) {
      problems.push_back(std::string{path} + " is not an array: " + quote(*v));
      return nullptr;
    }
    return &v->get_array();
  }

  std::optional<std::string_view> string(const json::object* o, std::string_view key,
                                         std::string_view path) {
    auto v = member(o, key);
    if (v == nullptr || v->is_null())
      return std::nullopt;
    if (!v->is_string()) {
      problems.push_back(std::string{path} + " is not a string: " + quote(*v));
      return std::nullopt;
    }
    return std::string_view{v->get_string()};
  }

  void string_map(const json::object* o, std::string_view key, std::string_view path,
                  std::map<std::string, std::string>& out) {
    auto m = object(o, key, path);
    if (m == nullptr)
      return;
    for (const auto& kv : *m) {
      if (kv.value().is_string())
        out.emplace(std::string{kv.key()}, std::string{kv.value().get_string()});
      else
        problems.push_back(std::string{path} + "[\"" + std::string{kv.key()} +
                           "\"] is not a string: " + quote(kv.value()));
    }
  }
};

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

void parse_addresses(reader& r, const json::object* status, node_info& n) {
  auto addresses = r.array(status, "addresses", "status.addresses");
  if (addresses == nullptr)
    return;
  for (size_t i = 0; i < addresses->size(); ++i) {
    auto field = "status.addresses[" + std::to_string(i) + "]";
    const auto& item = (*addresses)[i];
    if (!item.is_object()) {
      n.problems.push_back(field + " is not an object: " + quote(item));
      continue;
    }
    auto type = r.string(&item.get_object(), "type", field + ".type");
    if (!type || (*type != "InternalIP" && *type != "ExternalIP"))
      continue; // Hostname, InternalDNS, ExternalDNS: not addresses we can tunnel to
    auto text = r.string(&item.get_object(), "address", field + ".address");
    if (!text)
      continue;
    auto ip = net::ip_address::parse(*text);
    if (!ip) {
      n.problems.push_back(field + " (" + std::string{*type} + "): " + quote(*text) +
                           " is not an IP address");
      continue;
    }
    (*type == "InternalIP" ? n.internal_ips : n.external_ips).push_back(*ip);
  }
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

void parse_spec_flags(reader& r, const json::object* spec, node_info& n) {
  if (auto v = member(spec, "unschedulable"); v != nullptr && !v->is_null()) {
    if (v->is_bool())
      n.unschedulable = v->get_bool();
    else
      n.problems.push_back("spec.unschedulable is not a boolean: " + quote(*v));
  }
  auto taints = r.array(spec, "taints", "spec.taints");
  if (taints == nullptr)
    return;
  for (size_t i = 0; i < taints->size(); ++i) {
    auto field = "spec.taints[" + std::to_string(i) + "]";
    const auto& item = (*taints)[i];
    if (!item.is_object()) {
      n.problems.push_back(field + " is not an object: " + quote(item));
      continue;
    }
    const auto* o = &item.get_object();
    taint t;
    t.key = r.string(o, "key", field + ".key").value_or("");
    t.value = r.string(o, "value", field + ".value").value_or("");
    t.effect = r.string(o, "effect", field + ".effect").value_or("");
    n.taints.push_back(std::move(t));
  }
}

void parse_conditions(reader& r, const json::object* status, node_info& n) {
  auto conditions = r.array(status, "conditions", "status.conditions");
  if (conditions == nullptr)
    return;
  for (const auto& item : *conditions) {
    if (!item.is_object())
      continue;
    auto type = member(&item.get_object(), "type");
    auto value = member(&item.get_object(), "status");
    if (type != nullptr && type->is_string() && type->get_string() == "Ready")
      n.ready = value != nullptr && value->is_string() && value->get_string() == "True";
  }
}

} // namespace

bool same_entry_inputs(const node_info& a, const node_info& b) {
  return a.name == b.name && a.uid == b.uid && a.underlay_ip == b.underlay_ip &&
         a.pod_cidrs == b.pod_cidrs;
}

node_parse_result parse_node(const json::value& value, pod_cidr_source source) {
  node_parse_result result;
  if (!value.is_object()) {
    result.error = "Node JSON: expected an object, got " + quote(value);
    return result;
  }
  const auto* root = &value.get_object();
  if (auto kind = member(root, "kind"); kind != nullptr) {
    if (!kind->is_string() || kind->get_string() != "Node") {
      result.error = "Node JSON: kind is " + quote(*kind) + ", expected \"Node\"";
      return result;
    }
  }
  auto meta = member(root, "metadata");
  if (meta == nullptr || !meta->is_object()) {
    result.error = meta == nullptr ? "Node JSON: metadata is missing"
                                   : "Node JSON: metadata is not an object: " + quote(*meta);
    return result;
  }
  auto name = member(&meta->get_object(), "name");
  if (name == nullptr || name->is_null()) {
    result.error = "Node JSON: metadata.name is missing";
    return result;
  }
  if (!name->is_string() || name->get_string().empty()) {
    result.error = name->is_string() ? "Node JSON: metadata.name is empty"
                                     : "Node JSON: metadata.name is not a string: " + quote(*name);
    return result;
  }

  node_info n;
  reader r{n.problems};
  const auto* metadata = &meta->get_object();
  n.name = name->get_string();
  n.uid = r.string(metadata, "uid", "metadata.uid").value_or("");
  if (n.uid.empty())
    n.problems.push_back("metadata.uid is missing");
  n.resource_version =
      r.string(metadata, "resourceVersion", "metadata.resourceVersion").value_or("");
  r.string_map(metadata, "labels", "metadata.labels", n.labels);
  r.string_map(metadata, "annotations", "metadata.annotations", n.annotations);

  auto spec = r.object(root, "spec", "spec");
  auto status = r.object(root, "status", "status");
  parse_addresses(r, status, n);
  choose_underlay(n);
  parse_pod_cidrs(r, spec, source, n);
  parse_spec_flags(r, spec, n);
  parse_conditions(r, status, n);

  result.node = std::move(n);
  return result;
}

node_parse_result parse_node(std::string_view text, pod_cidr_source source) {
  json::error_code ec;
  auto value = json::parse(json::string_view{text.data(), text.size()}, ec);
  if (ec) {
    node_parse_result result;
    result.error = "Node JSON: not valid JSON: " + ec.message();
    return result;
  }
  return parse_node(value, source);
}

} // namespace kcr::kube
