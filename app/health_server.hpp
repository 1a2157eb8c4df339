// /healthz and /readyz over HTTP/1.1 on --health-addr (kubelet probes, operators' curl).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace kcr::app {

/// What a probe answers: 200 with `text` when ok, else 503 with `text`.
struct probe_result {
  bool ok = true;
  std::string text;
};

struct health_handlers {
  std::function<probe_result()> healthz;
  std::function<probe_result()> readyz;
};

/// The probe endpoints on civetweb (the library prometheus-cpp's exposer already brings): a
/// bounded pool of workers serves requests concurrently, and a client that sends nothing or
/// trickles its request is cut off after request_timeout_ms. Bind failures throw
/// std::runtime_error naming the address. The destructor stops it promptly.
class health_server {
public:
  /// Connections served at once; more wait in a queue (64) until a worker is free.
  static constexpr int worker_threads = 32;
  /// The most a client may take to send its request (an idle connection holds a worker so long).
  static constexpr int request_timeout_ms = 2000;

  health_server(const std::string& listen_addr, health_handlers handlers);
  ~health_server();
  health_server(const health_server&) = delete;
  health_server& operator=(const health_server&) = delete;

  /// The bound port (useful with port 0).
  uint16_t port() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Splits "host:port", "[v6]:port" or ":port" (empty host = all IPv4 addresses).
std::pair<std::string, uint16_t> split_listen_address(const std::string& addr);

} // namespace kcr::app
