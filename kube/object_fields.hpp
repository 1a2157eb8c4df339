// Reading the few generic fields of API objects that several callers need.
#pragma once

#include <map>
#include <string>

#include <boost/json/object.hpp>

namespace kcr::kube {

/// metadata.resourceVersion, or "" when absent.
std::string resource_version_of(const boost::json::object& obj);

/// A ConfigMap's `data` (string values only; binaryData is not ours).
std::map<std::string, std::string> configmap_data(const boost::json::object& cm);

} // namespace kcr::kube
