#include "app/health_server.hpp"

#include <civetweb.h>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace kcr::app {

std::pair<std::string, uint16_t> split_listen_address(const std::string& addr) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos)
    throw std::runtime_error("listen address \"" + addr + "\": expected HOST:PORT");
  std::string host = addr.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty())
    host = "0.0.0.0";
  if (host == "localhost")
    host = "127.0.0.1";
  int port = std::stoi(addr.substr(colon + 1));
  return {host, static_cast<uint16_t>(port)};
}

namespace {

const char* reason_phrase(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  default:
    return "Service Unavailable";
  }
}

// One whole response: the connection closes after it (a probe is one request).
int respond(mg_connection* conn, bool head, int status, const std::string& body) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: %zu\r\nConnection: close\r\n\r\n",
            status, reason_phrase(status), body.size());
  if (!head)
    mg_write(conn, body.data(), body.size());
  return status;
}

} // namespace

struct health_server::impl {
  health_handlers handlers;
  mg_context* ctx = nullptr;
  std::mutex log_mtx;
  std::string last_log; // civetweb's last message (why a start failed)

  static int on_request(mg_connection* conn) {
    auto* self = static_cast<impl*>(mg_get_user_data(mg_get_context(conn)));
    const mg_request_info* ri = mg_get_request_info(conn);
    std::string method = ri->request_method ? ri->request_method : "";
    std::string path = ri->local_uri ? ri->local_uri : "";
    bool head = method == "HEAD";
    if (method != "GET" && !head)
      return respond(conn, false, 405, "only GET\n");
    probe_result r;
    if (path == "/healthz" || path == "/livez")
      r = self->handlers.healthz();
    else if (path == "/readyz")
      r = self->handlers.readyz();
    else
      return respond(conn, head, 404, "not found: try /healthz or /readyz\n");
    return respond(conn, head, r.ok ? 200 : 503, r.text);
  }

  static int on_log(const mg_connection* conn, const char* message) {
    auto* self = static_cast<impl*>(mg_get_user_data(mg_get_context(conn)));
    if (self) {
      std::lock_guard guard{self->log_mtx};
      self->last_log = message;
    }
    return 1; // not to stderr: the caller reports start failures
  }
};

health_server::health_server(const std::string& listen_addr, health_handlers handlers)
    : impl_(std::make_unique<impl>()) {
  impl_->handlers = std::move(handlers);
  auto [host, port] = split_listen_address(listen_addr);
  bool v6 = host.find(':') != std::string::npos;
  std::string ports = (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  // Probes are served concurrently by a bounded set of workers; a client that sends nothing (or
  // a request byte by byte) holds one worker for at most request_timeout_ms, so idle or slow
  // connections cannot starve the kubelet's probes.
  const std::string workers = std::to_string(worker_threads);
  const std::string timeout = std::to_string(request_timeout_ms);
  const char* options[] = {"listening_ports",
                           ports.c_str(),
                           "num_threads",
                           workers.c_str(),
                           "connection_queue",
                           "64",
                           "request_timeout_ms",
                           timeout.c_str(),
                           "enable_keep_alive",
                           "no",
                           nullptr};
  mg_callbacks callbacks{};
  callbacks.begin_request = &impl::on_request;
  callbacks.log_message = &impl::on_log;
  mg_init_library(0);
  impl_->ctx = mg_start(&callbacks, impl_.get(), options);
  if (!impl_->ctx) {
    mg_exit_library();
    std::lock_guard guard{impl_->log_mtx};
    throw std::runtime_error("cannot listen on " + listen_addr + " for /healthz" +
                             (impl_->last_log.empty() ? std::string{} : ": " + impl_->last_log));
  }
}

health_server::~health_server() {
  if (impl_->ctx) {
    mg_stop(impl_->ctx); // joins the workers: handlers are not called after this
    mg_exit_library();
  }
}

uint16_t health_server::port() const {
  mg_server_port ports[4] = {};
  int n = mg_get_server_ports(impl_->ctx, 4, ports);
  return n > 0 ? static_cast<uint16_t>(ports[0].port) : 0;
}

} // namespace kcr::app
