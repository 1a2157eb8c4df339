// Parses Kubernetes Node JSON into node_info (see node.hpp for the underlay and pod CIDR rules,
// which kube/node_rules.cpp implements), and the slice of it that decides an entry.
#include "kube/node.hpp"

#include <boost/json.hpp>

#include "kube/node_rules.hpp"

namespace kcr::kube {

namespace json = boost::json;
using detail::member;
using detail::quote;
using detail::reader;

namespace {

void parse_spec_flags(reader& r, const json::object* spec, node_info& n) {
  if (auto v = member(spec, "unschedulable"); v != nullptr && !v->is_null()) {
    if (v->is_bool())
      n.unschedulable = v->get_bool();
    else
      n.problems.push_back("spec.unschedulable is not a boolean: " + quote(*v));
  }
  r.objects(spec, "taints", "spec.taints", [&](const json::object& o, const std::string& field) {
    taint t;
    t.key = r.string(&o, "key", field + ".key").value_or("");
    t.value = r.string(&o, "value", field + ".value").value_or("");
    t.effect = r.string(&o, "effect", field + ".effect").value_or("");
    n.taints.push_back(std::move(t));
  });
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

entry_inputs::entry_inputs(const node_info& n)
    : name(n.name), uid(n.uid), underlay_ip(n.underlay_ip), underlay_source(n.underlay_source),
      pod_cidrs(n.pod_cidrs), pod_cidr_source(n.pod_cidr_source), problems(n.problems) {}

bool same_entry_inputs(const entry_inputs& a, const entry_inputs& b) {
  return a.name == b.name && a.uid == b.uid && a.underlay_ip == b.underlay_ip &&
         a.pod_cidrs == b.pod_cidrs;
}

bool same_entry_inputs(const node_info& a, const node_info& b) {
  return same_entry_inputs(entry_inputs{a}, entry_inputs{b});
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
  detail::parse_addresses(r, status, n);
  detail::choose_underlay(n);
  detail::parse_pod_cidrs(r, spec, source, n);
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
