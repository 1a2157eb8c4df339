// Why a Kubernetes API call failed, as a value: every public call of kube::api_client returns
// api_result<T> (net/result.hpp, the one result type below CAF), and the actors' ports pass the
// same api_failure on (actors/ports.hpp). Three kinds:
//   - answered:  the server answered with a non-2xx status (parsed from its Status body);
//   - no_answer: no usable answer (refused, reset, timeout, TLS verification, bad framing or
//                JSON); always worth a retry with backoff; code 0;
//   - stopped:   the client was stopped from another thread (api_client::stop()); code 0.
#pragma once

#include <string>

#include "net/result.hpp"

namespace kcr::kube {

enum class failure_kind { answered, no_answer, stopped };

/// `reason` is the Status reason ("Conflict", "NotFound", "AlreadyExists", "Expired",
/// "Forbidden", ...); for a non-JSON body it is empty and `message` holds the body text.
/// `verb` / `resource` say what the client tried (e.g. "update", "configmaps"), so a 403 can be
/// turned into an RBAC hint. Aggregate: {code, reason, message} is an answer (tests' fakes).
struct api_failure {
  int code = 0;
  std::string reason;
  std::string message;
  std::string verb = {}; // initialised: {code, reason, message} is complete (no warning)
  std::string resource = {};
  failure_kind kind = failure_kind::answered;

  static api_failure no_answer(std::string message) {
    return {0, "", std::move(message), "", "", failure_kind::no_answer};
  }
  static api_failure stopped() {
    return {0, "", "kubernetes client stopped", "", "", failure_kind::stopped};
  }

  bool is_answer() const { return kind == failure_kind::answered; }
  bool is_transport() const { return kind == failure_kind::no_answer; }
  bool is_stopped() const { return kind == failure_kind::stopped; }
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

  /// The failure without the request: "HTTP 409 Conflict: <message>", or the message of a
  /// failure without an answer (the actors' log lines add their own context).
  std::string describe() const {
    if (!is_answer() || code == 0)
      return message;
    std::string s = "HTTP " + std::to_string(code);
    if (!reason.empty())
      s += " " + reason;
    if (!message.empty())
      s += ": " + message;
    return s;
  }

  /// The text for logs: "<verb> <resource>: HTTP 409 Conflict: <message>" for an answer (the
  /// request first when known), the message otherwise.
  std::string what() const {
    if (!is_answer() || verb.empty())
      return describe();
    return verb + " " + resource + ": " + describe();
  }
};

template <class T>
using api_result = net::result<T, api_failure>;

} // namespace kcr::kube
