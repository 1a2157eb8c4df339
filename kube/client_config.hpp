// Where the API server is and how to authenticate: kubeconfig (several files like KUBECONFIG,
// first file wins per key as in client-go), the in-cluster service account, a --master override.
// Everything is read and validated up front; file problems become config_error naming the file.
// Configuration loading throws (unlike the API calls, which return api_result): it runs once at
// startup, where every caller prints the message and exits (the controller, `render`), so a
// result would only be unwrapped there. The token source's re-reads later on throw
// transport_error, which the API client turns into a no_answer failure.
//
// Thread safety: a client_config is immutable once built and may be shared by many api_client
// objects on many threads; its token_source is internally synchronised.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kube/api_error.hpp"
#include "kube/base64.hpp" // base64_decode, used with the kubeconfig's data fields
#include "kube/exec_credential.hpp"

namespace kcr::kube {

/// The bearer token, fixed, read from a file that rotates (service account tokens) or given by
/// an exec credential plugin. A file is re-read at most every `refresh` and at the next use
/// after invalidate() (called on a 401); a plugin is run again shortly before its credential
/// expires and after invalidate(). Thread-safe.
class token_source {
public:
  static std::shared_ptr<token_source> fixed(std::string token);
  /// Reads the file now; throws config_error when it is unreadable or empty.
  static std::shared_ptr<token_source>
  from_file(std::string path, std::chrono::milliseconds refresh = std::chrono::seconds(60));
  /// Runs the plugin now (a broken plugin is a configuration error at startup); throws
  /// config_error naming the kubeconfig, the user and the problem.
  static std::shared_ptr<token_source> from_exec(std::shared_ptr<exec_credential_source> exec);

  /// The current token ("" for a plugin that gives only a client certificate); may re-read the
  /// file or re-run the plugin. On a failed re-read the last good token is kept; a plugin that
  /// fails once its credential expired throws transport_error (the API client converts it into a
  /// no_answer failure: retried with backoff).
  std::string token();
  /// The plugin's current credential (token and/or client certificate); only for exec sources.
  exec_credential credential();
  /// Forces a re-read / re-run at the next token() call. Returns true if a retry might see a
  /// different token (file or plugin based).
  bool invalidate();
  bool file_based() const { return !path_.empty(); }
  bool exec_based() const { return exec_ != nullptr; }
  const exec_credential_source* exec() const { return exec_.get(); }
  const std::string& path() const { return path_; }
  /// How many times the file was actually read (for tests and metrics).
  unsigned reads() const;

private:
  token_source() = default;
  void reread_locked();

  mutable std::mutex mutex_;
  std::string token_;
  std::string path_;
  std::shared_ptr<exec_credential_source> exec_;
  std::chrono::milliseconds refresh_{60000};
  std::chrono::steady_clock::time_point read_at_{};
  bool stale_ = false;
  unsigned reads_ = 0;
};

/// The parts of a server URL: scheme "https" or "http", host without brackets, port (defaulted
/// from the scheme) and an optional path prefix (for API proxies), without trailing slash.
struct server_url {
  std::string scheme;
  std::string host;
  std::string port;
  std::string base_path;
  bool tls() const { return scheme == "https"; }
  /// "https://[fd00::1]:6443" style, for messages.
  std::string to_string() const;
};

/// Throws config_error for anything that is not http(s)://host[:port][/path].
server_url parse_server_url(const std::string& url);

struct client_config {
  server_url server;
  /// PEM of the CA bundle to trust; empty = the system's default verify paths.
  std::string ca_pem;
  bool insecure_skip_tls_verify = false;
  /// Name used for SNI and host-name verification instead of the server host.
  std::string tls_server_name;
  /// PEM of a client certificate chain and its key (both or neither).
  std::string client_cert_pem;
  std::string client_key_pem;
  /// Null when no bearer token is configured. Never sent over plain http. An exec plugin's
  /// source may also carry a client certificate (http_connection asks it per connection).
  std::shared_ptr<token_source> token;
  /// The kubeconfig cluster's proxy-url (wins over HTTPS_PROXY / NO_PROXY); "" = environment.
  std::string proxy_url;
  /// Namespace of the context / of the pod; "default" if none was given.
  std::string default_namespace = "default";
  /// Where this came from, for logs ("kubeconfig /root/.kube/config, context kind").
  /// Never holds credentials.
  std::string source;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{30000};

  /// Throws config_error for contradictions (a CA together with insecure-skip-tls-verify,
  /// a certificate without a key).
  void validate() const;
};

/// Parses kubeconfig files (the KUBECONFIG merge: for each context/cluster/user name and for
/// current-context the first file that sets it wins). Missing files among several are skipped
/// like client-go does; if none exists, or a file is unreadable or invalid, config_error names
/// it. `context` overrides current-context when not empty.
client_config load_kubeconfig(const std::vector<std::string>& files,
                              const std::string& context = "");

/// The files named by $KUBECONFIG (':'-separated), else $HOME/.kube/config; may be empty.
std::vector<std::string> default_kubeconfig_paths();

/// Reads an environment variable; injectable for tests.
using env_getter = std::function<std::optional<std::string>(const std::string&)>;
env_getter process_env();

inline constexpr const char* default_service_account_dir =
    "/var/run/secrets/kubernetes.io/serviceaccount";

/// In-cluster configuration: KUBERNETES_SERVICE_HOST/PORT (both required; an IPv6 host is
/// bracketed), token + ca.crt from `sa_dir`, namespace from POD_NAMESPACE or `sa_dir/namespace`.
client_config in_cluster_config(const std::string& sa_dir = default_service_account_dir,
                                const env_getter& env = process_env());

/// Command-line style selection, like client-go's BuildConfigFromFlags.
struct config_options {
  std::string kubeconfig; ///< --kubeconfig; empty = $KUBECONFIG / in-cluster / ~/.kube/config
  std::string master;     ///< --master; overrides the server of whatever config is used
  std::string context;    ///< --context
  std::string service_account_dir = default_service_account_dir;
};

/// Order: --kubeconfig, else $KUBECONFIG, else in-cluster (when KUBERNETES_SERVICE_HOST is set),
/// else ~/.kube/config if it exists, else --master alone (no credentials). --master replaces the
/// server in every case. Throws config_error when nothing usable is found.
client_config load_client_config(const config_options& opts, const env_getter& env = process_env());

} // namespace kcr::kube
