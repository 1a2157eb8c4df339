// Test helper: the REAL control plane (etcd + kube-apiserver v1.37, built by
// test/controlplane/build.sh) for the client's conformance runs. Starts
// `python3 test/controlplane/controlplane.py up --json --die-with-parent` as a child, reads its
// one JSON line, gives admin client configurations, admin calls for test setup, ServiceAccount
// tokens (TokenRequest) and etcd compaction, and SIGTERMs the launcher at the end (it stops etcd
// and kube-apiserver and removes its folder).
//
// Startup takes ~10 s, so a test binary starts ONE (shared(), lazily, destroyed at exit); test
// cases share it and keep out of each other's way with their own object names.
#pragma once

#include <memory>
#include <string>
#include <sys/types.h>

#include <boost/json.hpp>

#include "kube/client_config.hpp"
#include "kube/http_connection.hpp"

namespace kcr::test {

class real_apiserver {
public:
  /// Starts the control plane; throws std::runtime_error with the launcher's stderr when it does
  /// not come up (missing binaries included: the message says how to build them).
  real_apiserver();
  ~real_apiserver();
  real_apiserver(const real_apiserver&) = delete;
  real_apiserver& operator=(const real_apiserver&) = delete;

  /// The one control plane of this test binary, started on first use.
  static real_apiserver& shared();

  std::string server;  ///< https://127.0.0.1:PORT
  std::string ca_file; ///< the cluster CA
  std::string etcd_url;
  std::string workdir;
  double startup_seconds = 0;

  /// A client configuration: admin (client certificate in system:masters) when `token` is
  /// empty, else that bearer token and no certificate.
  std::shared_ptr<kube::client_config> config(const std::string& token = "") const;

  /// An admin call for test setup; returns the answer whatever its status.
  kube::http_response admin(const std::string& method, const std::string& path,
                            const boost::json::value& body = nullptr,
                            const std::string& content_type = "application/json");
  /// As admin(), parsed; throws unless the status is 2xx or one of `also_ok`.
  boost::json::value admin_json(const std::string& method, const std::string& path,
                                const boost::json::value& body = nullptr,
                                std::initializer_list<int> also_ok = {});

  /// A TokenRequest token of ServiceAccount `sa` in `ns` (created if missing). Without
  /// RBAC bindings it authenticates but may do nothing (403).
  std::string token(const std::string& sa, const std::string& ns = "kube-system");
  /// Binds ServiceAccount ns/sa to ClusterRole `role` (e.g. "cluster-admin"), idempotent.
  void bind_cluster_role(const std::string& sa, const std::string& ns, const std::string& role);

  /// Compacts etcd up to its current revision the way kube-apiserver does every 5 min
  /// (compact_rev_key, then the compaction), so that reads from older resourceVersions that
  /// reach etcd answer 410; returns the revision. The API server's watch cache notices within
  /// ~15 s; until then it may still answer from its snapshots (see api_under_test::
  /// expire_history(), which waits for that).
  long long compact();

private:
  void shutdown();
  boost::json::value etcd(const std::string& path, const boost::json::value& body);

  pid_t pid_ = -1;
  std::string log_file_;
  std::unique_ptr<kube::http_connection> admin_;
  std::unique_ptr<kube::http_connection> etcd_;
};

} // namespace kcr::test
