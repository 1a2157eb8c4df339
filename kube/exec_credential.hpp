// kubeconfig `exec` credential plugins (client.authentication.k8s.io/v1 and v1beta1), as
// kubectl runs them: the plugin gets KUBERNETES_EXEC_INFO (an ExecCredential JSON) and prints
// an ExecCredential whose status holds a bearer token or a client certificate + key, with an
// optional expirationTimestamp. The credential is cached until shortly before it expires and
// fetched again after a 401 (invalidate()).
//
// Thread safety: exec_credential_source is internally synchronised; one plugin run at a time,
// other callers wait for its result.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace kcr::kube {

/// The `exec` map of a kubeconfig user, plus where it came from (for messages).
struct exec_config {
  std::string command; ///< already resolved against the kubeconfig's folder when relative
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env; ///< added to the process environment
  std::string api_version;                              ///< client.authentication.k8s.io/v1...
  std::string install_hint;
  bool provide_cluster_info = false;
  std::string interactive_mode; ///< Never / IfAvailable / Always ("" only for v1beta1)
  std::string kubeconfig;       ///< file that defined it
  std::string user;             ///< user name in that file
  /// The KUBERNETES_EXEC_INFO value (built by the loader: it knows the cluster).
  std::string exec_info;
  std::chrono::milliseconds timeout{30000};
};

/// What a plugin run produced. Certificate and key are PEM.
struct exec_credential {
  std::string token;
  std::string client_cert_pem;
  std::string client_key_pem;
  /// When the credential stops being valid; time_point::max() when the plugin gave none.
  std::chrono::system_clock::time_point expiry = std::chrono::system_clock::time_point::max();
};

/// Parses a plugin's stdout. Throws std::runtime_error with the problem (bad JSON, wrong kind
/// or apiVersion, neither token nor certificate, a certificate without key, bad timestamp).
exec_credential parse_exec_credential(const std::string& text, const std::string& api_version);

/// RFC 3339 ("2024-05-01T10:00:00Z", fractions and offsets allowed); throws on bad input.
std::chrono::system_clock::time_point parse_rfc3339(const std::string& text);

/// spec.cluster of KUBERNETES_EXEC_INFO (provideClusterInfo: true).
struct exec_cluster_info {
  std::string server;
  std::string tls_server_name;
  std::string ca_pem;
  bool insecure_skip_tls_verify = false;
  std::string proxy_url;
};

/// The ExecCredential JSON the plugin gets in KUBERNETES_EXEC_INFO (spec.interactive is
/// always false: a controller has no terminal); spec.cluster only when `cluster` is given.
std::string make_exec_info(const std::string& api_version, const exec_cluster_info* cluster);

class exec_credential_source {
public:
  explicit exec_credential_source(exec_config cfg);

  /// The cached credential, re-running the plugin when it is about to expire or after
  /// invalidate(). Throws std::runtime_error naming the kubeconfig, user and problem (the
  /// caller decides whether that is a configuration or a transport error).
  exec_credential get();
  /// A 401 came back: run the plugin again at the next get().
  void invalidate();
  /// How many times the plugin was run (tests, metrics).
  unsigned runs() const;
  const exec_config& config() const { return cfg_; }

private:
  exec_credential run_plugin();
  std::string where() const;

  exec_config cfg_;
  mutable std::mutex mutex_;
  exec_credential cached_;
  bool have_ = false;
  bool stale_ = false;
  std::chrono::system_clock::time_point refresh_at_{};
  unsigned runs_ = 0;
};

} // namespace kcr::kube
