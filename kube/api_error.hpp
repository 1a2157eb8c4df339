// Errors of the Kubernetes API client. Result style: the client is blocking and reports every
// failure by throwing one of these (never by a sentinel value):
//   - api_error:       the server answered with a non-2xx status (parsed from its Status body);
//   - transport_error: no usable answer (refused, reset, timeout, TLS verification, bad framing);
//   - config_error:    kubeconfig / in-cluster configuration unusable (names the file and problem);
//   - stopped_error:   the client was stopped from another thread (api_client::stop()).
#pragma once

#include <stdexcept>
#include <string>

namespace kcr::kube {

/// A non-2xx answer of the API server. `reason` is the Status reason ("Conflict", "NotFound",
/// "AlreadyExists", "Expired", "Forbidden", ...); for a non-JSON body it is empty and `message`
/// holds the body text. `verb` / `resource` say what the client tried (e.g. "update",
/// "configmaps"), so a 403 can be turned into an RBAC hint.
struct api_error : std::runtime_error {
  int code = 0;
  std::string reason;
  std::string message;
  std::string verb;
  std::string resource;

  api_error(int code_, std::string reason_, std::string message_, std::string verb_,
            std::string resource_)
      : std::runtime_error(describe(code_, reason_, message_, verb_, resource_)), code(code_),
        reason(std::move(reason_)), message(std::move(message_)), verb(std::move(verb_)),
        resource(std::move(resource_)) {}

  bool is_conflict() const { return code == 409 && reason != "AlreadyExists"; }
  bool is_already_exists() const { return code == 409 && reason == "AlreadyExists"; }
  bool is_not_found() const { return code == 404; }
  /// Too-old resource version or expired continue token: the caller must relist.
  bool is_expired() const { return code == 410 || reason == "Expired" || reason == "Gone"; }
  bool is_unauthorized() const { return code == 401; }
  bool is_forbidden() const { return code == 403; }
  bool is_too_many_requests() const { return code == 429; }

  /// For a 403: which RBAC permission is missing, in kubectl words.
  std::string rbac_hint() const {
    return "the service account needs RBAC permission to " + verb + " " + resource +
           " (check the ClusterRole/Role bound to it)";
  }

private:
  static std::string describe(int code, const std::string& reason, const std::string& message,
                              const std::string& verb, const std::string& resource) {
    std::string s = verb + " " + resource + ": HTTP " + std::to_string(code);
    if (!reason.empty())
      s += " " + reason;
    if (!message.empty())
      s += ": " + message;
    return s;
  }
};

/// The request got no usable HTTP answer: connection refused/reset/timed out, TLS failure,
/// a malformed response or watch stream. Always worth a retry with backoff.
struct transport_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The client configuration cannot be used; the message names the file and what is wrong.
struct config_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The operation was interrupted because stop() was called from another thread.
struct stopped_error : std::runtime_error {
  stopped_error() : std::runtime_error("kubernetes client stopped") {}
};

} // namespace kcr::kube
