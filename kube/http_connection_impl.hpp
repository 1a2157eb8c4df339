// The state of one http_connection and its steps, shared by the two halves of its
// implementation: http_connect.cpp (resolve, connect, proxy CONNECT, TLS) and
// http_connection.cpp (requests and watch streams). Private to kube/: only those two include it.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "kube/http_connection.hpp"
#include "kube/proxy.hpp"
#include "kube/traffic.hpp"

namespace kcr::kube {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using beast::error_code;

struct http_connection::impl {
  std::shared_ptr<const client_config> cfg;
  std::optional<proxy_url> proxy; // from proxy-url or HTTPS_PROXY/NO_PROXY, fixed at creation
  asio::io_context ioc;
  std::optional<ssl::context> ctx;
  std::string ctx_cert; // the exec plugin's client certificate the context holds, if any
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  bool connected = false;
  std::size_t uses = 0; // requests on the current connection
  std::atomic<bool> stop_flag{false};
  std::atomic<std::size_t> opened{0};
  std::atomic<std::size_t> sent{0};
  std::string metered = "other"; // the resource of the request in progress, for the meter

  void count_in(std::size_t n) { traffic_meter::process().received(metered, n); }

  explicit impl(std::shared_ptr<const client_config> c);

  std::string url() const { return cfg->server.to_string(); }
  std::string via() const { return proxy ? " via proxy " + proxy->to_string() : ""; }

  // An exec plugin may hand out (and rotate) a client certificate: the TLS context follows it.
  // Returns true when the certificate changed since the context was made.
  bool exec_cert_changed();

  void use_exec_cert();

  void make_tls_context(const std::string& cert_pem, const std::string& key_pem);

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

  // Runs the io_context until every started operation completed.
  void run() {
    ioc.restart();
    ioc.run();
  }

  void check_stop() {
    if (stop_flag)
      throw stopped_error();
  }

  void drop();

  // A kept-alive connection is idle: anything readable (EOF, a TLS close_notify, garbage)
  // means the server closed it or broke it, so it must not be reused.
  bool idle_connection_dead();

  [[noreturn]] void fail(const std::string& what, const error_code& ec);

  tcp::resolver::results_type resolve(const std::string& host, const std::string& port);

  void connect();

  // HTTP CONNECT through the proxy: afterwards the socket is a byte pipe to the API server and
  // TLS runs end to end over it (the proxy sees neither the token nor the traffic).
  void tunnel();

  void handshake();

  http::request<http::string_body> build(const http_request& r);

  // Ensures a live connection; returns true if it is a reused one.
  bool ensure_connected();

  template <class F>
  void with_stream(F&& f) {
    if (tls)
      f(*tls);
    else
      f(*plain);
  }

  // Writes the request and reads the response header into `p`. Returns the error; `reused`
  // says whether the failure may be a stale kept-alive connection.
  template <class Parser>
  error_code send_and_read_header(http::request<http::string_body>& req, Parser& p) {
    error_code ec;
    with_stream([&](auto& s) {
      http::async_write(s, req, [&](error_code e, std::size_t n) {
        ec = e;
        traffic_meter::process().sent(metered, n);
      });
      run();
      if (ec)
        return;
      http::async_read_header(s, buffer, p, [&](error_code e, std::size_t n) {
        ec = e;
        count_in(n);
      });
      run();
    });
    ++sent;
    ++uses;
    return ec;
  }

  http_response finish_body(http::response_parser<http::string_body>& p, const char* what);

  http_response request(const http_request& r, bool streaming, std::chrono::milliseconds limit,
                        const std::function<bool(std::string_view)>* on_data);

  http_response read_stream(http::response_parser<http::empty_body>& p,
                            const std::function<bool(std::string_view)>& on_data);
};

} // namespace kcr::kube
