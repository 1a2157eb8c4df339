#include "app/cluster_flags.hpp"

namespace kcr::app {

void add_cluster_access_flags(CLI::App& cli, std::string& kubeconfig, std::string& master,
                              const std::string& group) {
  cli.add_option("--kubeconfig", kubeconfig,
                 "Kubeconfig file(s), ':'-separated; empty = in-cluster config or ~/.kube/config")
      ->envname("KUBECONFIG")
      ->type_name("FILE")
      ->group(group);
  cli.add_option("--master", master, "API server URL; overrides the kubeconfig's server")
      ->envname("KCR_MASTER")
      ->type_name("URL")
      ->group(group);
}

void add_configmap_flags(CLI::App& cli, std::string& name, std::string& ns,
                         const std::string& group) {
  cli.add_option("--configmap-name", name, "The published ConfigMap (and the Lease)")
      ->envname("KCR_CONFIGMAP_NAME")
      ->capture_default_str()
      ->type_name("NAME")
      ->group(group);
  cli.add_option("--configmap-namespace", ns, "Namespace of the ConfigMap and the Lease")
      ->envname("KCR_CONFIGMAP_NAMESPACE")
      ->capture_default_str()
      ->type_name("NAME")
      ->group(group);
}

} // namespace kcr::app
