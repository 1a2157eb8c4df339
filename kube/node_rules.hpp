// Inside kube/: the JSON field reader the Node parser uses and the Node's underlay IP and pod CIDR
// rules (kube/node.hpp describes the rules; kube/node_rules.cpp implements them). Not part of
// the model's interface.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "kube/node.hpp"

namespace kcr::kube::detail {

namespace json = boost::json;

/// A value as it appears in a message: JSON-quoted (so control characters stay visible) and cut
/// short, because a hand-edited annotation may be arbitrarily long.
std::string quote(std::string_view text);
std::string quote(const json::value& v);

/// The member `key` of `o`, or null (also when `o` is null).
const json::value* member(const json::object* o, std::string_view key);

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

  /// Calls `each(object, field)` for every element of the array `key` ("<path>[i]" as the
  /// field's name); an element that is not an object is a problem and skipped.
  template <class F>
  void objects(const json::object* o, std::string_view key, std::string_view path, F&& each) {
    auto list = array(o, key, path);
    if (list == nullptr)
      return;
    for (size_t i = 0; i < list->size(); ++i) {
      auto field = std::string{path} + "[" + std::to_string(i) + "]";
      const auto& item = (*list)[i];
      if (item.is_object())
        each(item.get_object(), field);
      else
        problems.push_back(field + " is not an object: " + quote(item));
    }
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

/// status.addresses: every well-formed InternalIP / ExternalIP, in API order.
void parse_addresses(reader& r, const json::object* status, node_info& n);
/// The underlay IP rule (node.hpp): the addresses first, then the CNI annotations.
void choose_underlay(node_info& n);
/// The pod CIDR rule of `source` (node.hpp), normalised.
void parse_pod_cidrs(reader& r, const json::object* spec, pod_cidr_source source, node_info& n);

} // namespace kcr::kube::detail
