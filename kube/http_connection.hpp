// One blocking HTTP/1.1 connection (plain TCP or TLS via OpenSSL) to the API server, kept alive
// and reused across requests. Boost.Beast stays inside the .cpp (pimpl): this header is cheap.
// Through an http:// proxy when kube/proxy.hpp picks one (proxy-url, HTTPS_PROXY / NO_PROXY):
// TLS to the API server then runs end to end inside a CONNECT tunnel.
//
// Threading: an http_connection is used by ONE thread at a time (the owner). The only member
// another thread may call is stop(): it shuts the socket down so that a blocked request or
// watch returns promptly (stopped_error); after stop() every call throws stopped_error.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "kube/client_config.hpp"

namespace kcr::kube {

struct http_request {
  std::string method = "GET";
  /// Path and query, e.g. "/api/v1/nodes?limit=500" (the server URL's base path is prepended).
  std::string target;
  std::string body;
  std::string content_type;
  /// The resource for the traffic meter (kube/traffic.hpp): "nodes", "configmaps", ...
  std::string resource;
};

struct http_response {
  int status = 0;
  std::string body;
  std::string content_type;
  /// Value of Retry-After (seconds) if the server sent one, else empty.
  std::string retry_after;
};

class http_connection {
public:
  /// Throws config_error if the TLS material in `cfg` is unusable.
  explicit http_connection(std::shared_ptr<const client_config> cfg);
  ~http_connection();
  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  /// Sends one request and reads the whole answer (any status). Connects on demand, reuses a
  /// kept-alive connection, reconnects when the server closed it; an idempotent request that
  /// fails on a reused connection before any answer arrived is retried once on a new one.
  /// Bounded by the connect and request timeouts. Throws transport_error / stopped_error.
  http_response request(const http_request& req);

  /// For watches: on a 2xx answer calls `on_data` with the body bytes as they arrive (any
  /// framing) until the body ends cleanly or `on_data` returns false, and returns the status
  /// with an empty body. A non-2xx answer is read whole and returned without calling on_data.
  /// The request timeout does not apply; `max_duration` bounds the whole stream. Exceptions
  /// thrown by `on_data` propagate (the connection is closed).
  http_response stream(const http_request& req, std::chrono::milliseconds max_duration,
                       const std::function<bool(std::string_view)>& on_data);

  /// Thread-safe: aborts the current operation promptly and makes the connection unusable.
  void stop();
  bool stopped() const;
  /// Drops the TCP connection (the next request opens a new one).
  void close();

  /// Connections opened so far (keep-alive evidence for tests and metrics).
  std::size_t connections_opened() const;
  std::size_t requests_sent() const;
  const client_config& config() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// The User-Agent sent with every request: "kube-chorus-router/<version>".
std::string user_agent();

} // namespace kcr::kube
