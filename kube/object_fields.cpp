#include "kube/object_fields.hpp"

namespace kcr::kube {

std::string resource_version_of(const boost::json::object& obj) {
  if (auto* m = obj.if_contains("metadata"); m && m->is_object())
    if (auto* rv = m->as_object().if_contains("resourceVersion"); rv && rv->is_string())
      return std::string{rv->as_string()};
  return {};
}

std::map<std::string, std::string> configmap_data(const boost::json::object& cm) {
  std::map<std::string, std::string> out;
  if (auto* d = cm.if_contains("data"); d && d->is_object())
    for (const auto& [k, v] : d->as_object())
      if (v.is_string())
        out.emplace(std::string{k}, std::string{v.as_string()});
  return out;
}

} // namespace kcr::kube
