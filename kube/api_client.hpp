// Blocking client for the few Kubernetes API operations kube-chorus-router needs: Node list
// (paged) and watch, ConfigMap / Lease get-create-update (compare-and-swap on
// metadata.resourceVersion), ConfigMap watch by name, Event create and patch.
// Objects travel as boost::json::object; callers parse them (kube/ models).
//
// Errors: every call returns api_result<T> (kube/api_failure.hpp), never throws for a failed
// request: an answered failure for a non-2xx answer (409 Conflict on a stale update is returned
// to the caller, never retried), no_answer when no usable answer came, stopped after stop().
// Beast / OpenSSL / http_connection throw inside; the client converts at one place. Only the
// constructor (config_error: unusable TLS material) and a violated precondition
// (std::invalid_argument: an update without resourceVersion) throw. A 401 with a token file
// re-reads the token and retries the request once.
//
// Threading model:
//   - an api_client owns ONE kept-alive connection and is used by ONE thread at a time
//     (give each actor / watcher thread its own api_client; they are cheap);
//   - the client_config (and its token_source) may be shared by many clients on many threads;
//   - stop() is the only member callable from another thread: it shuts the socket down so a
//     blocked call (a watch waiting for events) returns a stopped failure within milliseconds; the
//     client is unusable afterwards.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "kube/api_failure.hpp"
#include "kube/client_config.hpp"
#include "kube/watch_decoder.hpp"

namespace kcr::kube {

class http_connection;

/// A collection to list/watch: its path, its plural for messages, an optional field selector.
struct resource_ref {
  std::string path;           ///< "/api/v1/nodes"
  std::string resource;       ///< "nodes"
  std::string field_selector; ///< "" or e.g. "metadata.name=kube-chorus-router"

  static resource_ref nodes();
  /// One ConfigMap, by name (a list/watch of its namespace's configmaps with a field selector).
  static resource_ref configmap(const std::string& ns, const std::string& name);
};

struct object_list {
  std::vector<boost::json::object> items; ///< items carry no kind/apiVersion (as from the server)
  std::string resource_version;           ///< the list's RV: start a watch from here
};

struct watch_options {
  std::string resource_version; ///< "" = from now with synthetic ADDED for what exists
  std::chrono::seconds timeout{300};
  bool allow_bookmarks = true;
  /// The streaming list ("watch list"): every existing object as ADDED, then a BOOKMARK
  /// annotated k8s.io/initial-events-end; resource_version is then "not older than".
  bool send_initial_events = false;
};

/// Called for every event, ERROR and BOOKMARK included; return false to end the watch.
using watch_handler = std::function<bool(watch_event&&)>;

struct watch_summary {
  std::size_t events = 0;
  bool cancelled = false; ///< the handler returned false
};

class api_client {
public:
  /// Throws config_error if the TLS material is unusable. No connection is made yet.
  explicit api_client(std::shared_ptr<const client_config> cfg);
  ~api_client();
  api_client(const api_client&) = delete;
  api_client& operator=(const api_client&) = delete;

  // ---- generic list / watch (nodes, one ConfigMap, ...)
  /// All pages (limit per page, `continue` tokens); restarts from the first page when a
  /// continue token expired (410). Returns the items and the list's resourceVersion.
  /// `resource_version`: "" = most recent (a quorum read), "0" = any (the API server may answer
  /// from its watch cache, in one page), "N" = not older than N.
  api_result<object_list> list(const resource_ref& r, std::size_t limit = 500,
                               const std::string& resource_version = "");
  /// Watches until the server ends the stream (timeoutSeconds), the handler returns false or
  /// stop() is called (a stopped failure). A non-2xx answer (e.g. HTTP 410) is an answered
  /// failure; a stream cut off mid-way is no_answer (events before the cut were delivered).
  /// Exceptions thrown by the handler propagate.
  api_result<watch_summary> watch(const resource_ref& r, const watch_options& o,
                                  const watch_handler& h);

  api_result<object_list> list_nodes(std::size_t limit = 500) {
    return list(resource_ref::nodes(), limit);
  }
  api_result<watch_summary> watch_nodes(const watch_options& o, const watch_handler& h) {
    return watch(resource_ref::nodes(), o, h);
  }

  // ---- ConfigMaps (namespaced)
  api_result<boost::json::object> get_configmap(const std::string& ns, const std::string& name);
  /// POST; 409 AlreadyExists when the name is taken.
  api_result<boost::json::object> create_configmap(const std::string& ns, boost::json::object cm);
  /// PUT conditional on cm.metadata.resourceVersion (std::invalid_argument if it is missing:
  /// an unconditional PUT is never sent). A stale RV fails with is_conflict().
  api_result<boost::json::object> update_configmap(const std::string& ns, boost::json::object cm);
  /// JSON merge PATCH of data keys (a value sets a key, nullopt removes it), conditional on
  /// `resource_version` (std::invalid_argument when empty; a stale one fails with
  /// is_conflict()), resetting managedFields. Only the changed keys travel. Returns the stored
  /// object's text unparsed (the caller needs its resourceVersion and size).
  api_result<std::string> patch_configmap_data(
      const std::string& ns, const std::string& name, const std::string& resource_version,
      const std::vector<std::pair<std::string, std::optional<std::string>>>& changes);
  api_result<watch_summary> watch_configmap(const std::string& ns, const std::string& name,
                                            const watch_options& o, const watch_handler& h) {
    return watch(resource_ref::configmap(ns, name), o, h);
  }

  // ---- Leases (coordination.k8s.io/v1), same CAS rules as ConfigMaps
  api_result<boost::json::object> get_lease(const std::string& ns, const std::string& name);
  api_result<boost::json::object> create_lease(const std::string& ns, boost::json::object lease);
  api_result<boost::json::object> update_lease(const std::string& ns, boost::json::object lease);

  // ---- Events (core/v1)
  api_result<boost::json::object> create_event(const std::string& ns, boost::json::object event);
  /// Strategic-merge PATCH of count, lastTimestamp and message (a repeated event).
  api_result<boost::json::object> patch_event(const std::string& ns, const std::string& name,
                                              int count, const std::string& last_timestamp,
                                              const std::string& message);

  /// Like call(), but returns the body text unparsed: for large answers of which the caller
  /// needs little (a 1 MiB ConfigMap echoed back by a PUT).
  api_result<std::string> call_raw(const std::string& method, const std::string& target,
                                   const std::string& verb, const std::string& resource,
                                   const std::string& body = "",
                                   const std::string& content_type = "");

  /// Any other call: an answered failure (with `verb`/`resource` for messages) on non-2xx,
  /// else the parsed body (null for an empty body).
  api_result<boost::json::value> call(const std::string& method, const std::string& target,
                                      const std::string& verb, const std::string& resource,
                                      const std::string& body = "",
                                      const std::string& content_type = "");

  /// Thread-safe; see the threading model above.
  void stop();
  bool stopped() const;

  std::size_t connections_opened() const;
  std::size_t requests_sent() const;
  const client_config& config() const { return *cfg_; }

private:
  api_result<boost::json::object> write_object(const std::string& method, const std::string& target,
                                               const std::string& verb, const std::string& resource,
                                               boost::json::object obj);

  std::shared_ptr<const client_config> cfg_;
  std::unique_ptr<http_connection> conn_;
};

/// Percent-encoding of a query value.
std::string url_encode(const std::string& s);

/// Builds the failure for a non-2xx answer from its Status body (or its raw text).
api_failure make_api_failure(int status, const std::string& body, const std::string& verb,
                             const std::string& resource);

} // namespace kcr::kube
