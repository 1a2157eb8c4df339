// Boost.Beast HTTP/1.1 over TCP or TLS, blocking from the caller's view. Each operation is an
// async Beast call driven by this connection's own io_context on the calling thread; that lets
// beast::tcp_stream enforce timeouts and lets stop() (posted from any thread) cancel the socket.
#include "kube/http_connection.hpp"

#include <atomic>
#include <exception>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <optional>
#include <poll.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "kube/proxy.hpp"
#include "kube/traffic.hpp"

#ifndef KCR_VERSION
#define KCR_VERSION "0.0.0"
#endif

namespace kcr::kube {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using beast::error_code;

std::string user_agent() {
  return std::string("kube-chorus-router/") + KCR_VERSION;
}

namespace {

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

bool idempotent(const std::string& method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" ||
         method == "OPTIONS";
}

// Errors that mean "the server had already closed this kept-alive connection".
bool stale_connection_error(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == ssl::error::stream_truncated || ec == http::error::partial_message;
}

} // namespace

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

  explicit impl(std::shared_ptr<const client_config> c)
      : cfg(std::move(c)), proxy(proxy_for(cfg->server, cfg->proxy_url, process_env())) {
    if (cfg->server.tls())
      make_tls_context(cfg->client_cert_pem, cfg->client_key_pem);
  }

  std::string url() const { return cfg->server.to_string(); }
  std::string via() const { return proxy ? " via proxy " + proxy->to_string() : ""; }

  // An exec plugin may hand out (and rotate) a client certificate: the TLS context follows it.
  // Returns true when the certificate changed since the context was made.
  bool exec_cert_changed() {
    if (!ctx || !cfg->token || !cfg->token->exec_based())
      return false;
    return cfg->token->credential().client_cert_pem != ctx_cert;
  }

  void use_exec_cert() {
    auto cred = cfg->token->credential();
    make_tls_context(cred.client_cert_pem, cred.client_key_pem);
    ctx_cert = cred.client_cert_pem;
  }

  void make_tls_context(const std::string& cert_pem, const std::string& key_pem) {
    ctx.emplace(ssl::context::tls_client);
    error_code ec;
    if (cfg->insecure_skip_tls_verify) {
      ctx->set_verify_mode(ssl::verify_none);
    } else {
      ctx->set_verify_mode(ssl::verify_peer);
      if (!cfg->ca_pem.empty())
        ctx->add_certificate_authority(asio::buffer(cfg->ca_pem), ec);
      else
        ctx->set_default_verify_paths(ec);
      if (ec)
        throw config_error(cfg->source + ": certificate authority unusable: " + ec.message());
    }
    if (!cert_pem.empty()) {
      ctx->use_certificate_chain(asio::buffer(cert_pem), ec);
      if (ec)
        throw config_error(cfg->source + ": client certificate unusable: " + ec.message());
      ctx->use_private_key(asio::buffer(key_pem), ssl::context::pem, ec);
      if (ec)
        throw config_error(cfg->source + ": client key unusable: " + ec.message());
    }
  }

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

  void drop() {
    if (plain || tls) {
      error_code ec;
      lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
      lowest().close();
    }
    tls.reset();
    plain.reset();
    buffer.clear();
    connected = false;
    uses = 0;
  }

  // A kept-alive connection is idle: anything readable (EOF, a TLS close_notify, garbage)
  // means the server closed it or broke it, so it must not be reused.
  bool idle_connection_dead() {
    if (buffer.size() > 0)
      return true;
    pollfd p{lowest().socket().native_handle(), POLLIN, 0};
    int r = ::poll(&p, 1, 0);
    return r != 0;
  }

  [[noreturn]] void fail(const std::string& what, const error_code& ec) {
    drop();
    check_stop();
    if (ec == beast::error::timeout)
      throw transport_error(what + " " + url() + via() + ": timed out");
    throw transport_error(what + " " + url() + via() + ": " + ec.message());
  }

  tcp::resolver::results_type resolve(const std::string& host, const std::string& port) {
    error_code ec;
    tcp::resolver::results_type endpoints;
    if (is_ip_literal(host)) {
      auto addr = asio::ip::make_address(host);
      endpoints = tcp::resolver::results_type::create(
          tcp::endpoint(addr, static_cast<unsigned short>(std::stoul(port))), host, port);
    } else {
      tcp::resolver resolver(ioc);
      bool done = false;
      resolver.async_resolve(host, port, [&](error_code e, tcp::resolver::results_type r) {
        ec = e;
        endpoints = std::move(r);
        done = true;
      });
      ioc.restart();
      ioc.run_for(cfg->connect_timeout);
      if (!done) {
        resolver.cancel();
        run();
        throw transport_error("cannot resolve " + host + ": timed out");
      }
      if (ec)
        throw transport_error("cannot resolve " + host + ": " + ec.message());
    }
    return endpoints;
  }

  void connect() {
    drop();
    check_stop();
    if (ctx && cfg->token && cfg->token->exec_based() && exec_cert_changed())
      use_exec_cert();
    tcp::resolver::results_type endpoints;
    try {
      endpoints =
          proxy ? resolve(proxy->host, proxy->port) : resolve(cfg->server.host, cfg->server.port);
    } catch (const transport_error& e) {
      throw transport_error(std::string(e.what()) + (proxy ? " (the proxy of " + url() + ")" : ""));
    }
    error_code ec;
    if (ctx)
      tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ioc, *ctx);
    else
      plain = std::make_unique<beast::tcp_stream>(ioc);
    lowest().expires_after(cfg->connect_timeout);
    lowest().async_connect(endpoints, [&](error_code e, const tcp::endpoint&) { ec = e; });
    run();
    if (ec) {
      if (proxy) {
        drop();
        check_stop();
        throw transport_error("cannot connect to proxy " + proxy->to_string() + " (for " + url() +
                              "): " + (ec == beast::error::timeout ? "timed out" : ec.message()));
      }
      fail("cannot connect to", ec);
    }
    lowest().socket().set_option(tcp::no_delay(true), ec);
    if (proxy && tls)
      tunnel();
    if (tls)
      handshake();
    connected = true;
    ++opened;
  }

  // HTTP CONNECT through the proxy: afterwards the socket is a byte pipe to the API server and
  // TLS runs end to end over it (the proxy sees neither the token nor the traffic).
  void tunnel() {
    const auto& h = cfg->server.host;
    std::string target =
        (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + cfg->server.port;
    http::request<http::empty_body> req{http::verb::connect, target, 11};
    req.set(http::field::host, target);
    req.set(http::field::user_agent, user_agent());
    if (proxy->has_auth)
      req.set(http::field::proxy_authorization, proxy->authorization());
    http::response_parser<http::empty_body> p;
    p.skip(true); // a 2xx answer to CONNECT has no body, whatever its headers say
    beast::flat_buffer b;
    error_code ec;
    lowest().expires_after(cfg->connect_timeout);
    http::async_write(lowest(), req, [&](error_code e, std::size_t) { ec = e; });
    run();
    if (!ec) {
      http::async_read_header(lowest(), b, p, [&](error_code e, std::size_t) { ec = e; });
      run();
    }
    auto where = "proxy " + proxy->to_string() + " (CONNECT " + target + ")";
    if (ec) {
      drop();
      check_stop();
      throw transport_error(where + ": " +
                            (ec == beast::error::timeout ? "timed out" : ec.message()));
    }
    int status = static_cast<int>(p.get().result_int());
    if (status / 100 != 2 || b.size() > 0) {
      std::string answer = std::to_string(status) + " " + std::string(p.get().reason());
      drop();
      if (status == 407)
        throw transport_error(where + " requires authentication (" + answer + "): " +
                              (proxy->has_auth ? "it refused the user and password of the proxy URL"
                                               : "give user:password in the proxy URL"));
      throw transport_error(where + (status / 100 == 2 ? " sent data before the tunnel was used"
                                                       : " refused the tunnel: " + answer));
    }
  }

  void handshake() {
    const std::string& name =
        cfg->tls_server_name.empty() ? cfg->server.host : cfg->tls_server_name;
    SSL* s = tls->native_handle();
    // SNI carries DNS names only, never IP literals (RFC 6066).
    if (!is_ip_literal(name) && !SSL_set_tlsext_host_name(s, name.c_str()))
      throw transport_error("TLS to " + url() + ": cannot set SNI name " + name);
    if (!cfg->insecure_skip_tls_verify) {
      X509_VERIFY_PARAM* param = SSL_get0_param(s);
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      int ok = is_ip_literal(name) ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                                   : X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
      if (!ok)
        throw transport_error("TLS to " + url() + ": cannot set verification name " + name);
    }
    error_code ec;
    lowest().expires_after(cfg->connect_timeout);
    tls->async_handshake(ssl::stream_base::client, [&](error_code e) { ec = e; });
    run();
    if (ec) {
      long vr = SSL_get_verify_result(s);
      std::string detail = ec.message();
      if (vr != X509_V_OK)
        detail = X509_verify_cert_error_string(vr);
      bool verify =
          vr != X509_V_OK || detail.find("certificate verify failed") != std::string::npos;
      drop();
      check_stop();
      if (verify)
        throw transport_error("TLS verification of " + url() + " failed: " + detail +
                              " (wrong CA, or the server name " + name +
                              " is not in its certificate?)");
      throw transport_error("TLS handshake with " + url() + " failed: " + detail);
    }
  }

  http::request<http::string_body> build(const http_request& r) {
    const auto& h = cfg->server.host;
    std::string host_port =
        (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + cfg->server.port;
    // Plain http through a proxy: absolute-form target, no tunnel.
    std::string prefix = proxy && !cfg->server.tls() ? "http://" + host_port : std::string();
    http::request<http::string_body> req{http::string_to_verb(r.method),
                                         prefix + cfg->server.base_path + r.target, 11};
    req.set(http::field::host, host_port);
    if (proxy && !cfg->server.tls() && proxy->has_auth)
      req.set(http::field::proxy_authorization, proxy->authorization());
    req.set(http::field::user_agent, user_agent());
    req.set(http::field::accept, "application/json");
    // Credentials only over TLS: a plain-http server never sees the token.
    if (cfg->token && cfg->server.tls()) {
      if (auto t = cfg->token->token(); !t.empty())
        req.set(http::field::authorization, "Bearer " + t);
    }
    if (!r.body.empty() || r.method == "POST" || r.method == "PUT" || r.method == "PATCH") {
      req.set(http::field::content_type,
              r.content_type.empty() ? "application/json" : r.content_type);
      req.body() = r.body;
    }
    req.keep_alive(true);
    req.prepare_payload();
    return req;
  }

  // Ensures a live connection; returns true if it is a reused one.
  bool ensure_connected() {
    check_stop();
    if (connected && (idle_connection_dead() || exec_cert_changed()))
      drop();
    if (connected)
      return true;
    connect();
    return false;
  }

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

  http_response finish_body(http::response_parser<http::string_body>& p, const char* what) {
    error_code ec;
    if (!p.is_done()) {
      with_stream([&](auto& s) {
        http::async_read(s, buffer, p, [&](error_code e, std::size_t n) {
          ec = e;
          count_in(n);
        });
        run();
      });
      if (ec)
        fail(what, ec);
    }
    auto& msg = p.get();
    http_response out;
    out.status = static_cast<int>(msg.result_int());
    out.body = std::move(msg.body());
    out.content_type = std::string(msg[http::field::content_type]);
    out.retry_after = std::string(msg["Retry-After"]);
    if (!msg.keep_alive())
      drop();
    return out;
  }

  http_response request(const http_request& r, bool streaming, std::chrono::milliseconds limit,
                        const std::function<bool(std::string_view)>* on_data) {
    metered = r.resource.empty() ? "other" : r.resource;
    for (int attempt = 0;; ++attempt) {
      bool reused = ensure_connected();
      auto req = build(r);
      lowest().expires_after(streaming ? limit : cfg->request_timeout);
      http::response_parser<http::empty_body> head;
      head.body_limit(boost::none);
      auto ec = send_and_read_header(req, head);
      if (ec) {
        if (reused && attempt == 0 && idempotent(r.method) && stale_connection_error(ec) &&
            !stop_flag) {
          drop(); // the server closed the idle connection: retry once on a fresh one
          continue;
        }
        fail(std::string(r.method) + " " + r.target + " to", ec);
      }
      int status = static_cast<int>(head.get().result_int());
      if (!streaming || status < 200 || status > 299) {
        http::response_parser<http::string_body> full(std::move(head));
        full.body_limit(std::uint64_t(1) << 30);
        return finish_body(full, "reading the answer from");
      }
      return read_stream(head, *on_data);
    }
  }

  http_response read_stream(http::response_parser<http::empty_body>& p,
                            const std::function<bool(std::string_view)>& on_data) {
    http_response out;
    out.status = static_cast<int>(p.get().result_int());
    out.content_type = std::string(p.get()[http::field::content_type]);
    if (p.is_done())
      return out;
    if (!p.chunked()) {
      drop();
      throw transport_error("watch answer from " + url() + " is not chunked");
    }
    std::exception_ptr thrown;
    bool cancelled = false;
    auto cb = [&](std::uint64_t, beast::string_view body, error_code& ec) -> std::size_t {
      try {
        if (!on_data(std::string_view(body.data(), body.size()))) {
          cancelled = true;
          ec = asio::error::operation_aborted;
        }
      } catch (...) {
        thrown = std::current_exception();
        ec = asio::error::operation_aborted;
      }
      return body.size();
    };
    p.on_chunk_body(cb);
    error_code ec;
    while (!p.is_done()) {
      with_stream([&](auto& s) {
        http::async_read_some(s, buffer, p, [&](error_code e, std::size_t n) {
          ec = e;
          count_in(n);
        });
        run();
      });
      if (thrown) {
        drop();
        std::rethrow_exception(thrown);
      }
      if (cancelled) {
        drop(); // the body is unfinished: this connection cannot carry another request
        return out;
      }
      if (ec)
        fail("watch stream from", ec);
    }
    if (!p.keep_alive())
      drop();
    return out;
  }
};

http_connection::http_connection(std::shared_ptr<const client_config> cfg)
    : impl_(std::make_unique<impl>(std::move(cfg))) {}

http_connection::~http_connection() {
  if (impl_)
    impl_->drop();
}

http_response http_connection::request(const http_request& req) {
  return impl_->request(req, false, {}, nullptr);
}

http_response http_connection::stream(const http_request& req,
                                      std::chrono::milliseconds max_duration,
                                      const std::function<bool(std::string_view)>& on_data) {
  return impl_->request(req, true, max_duration, &on_data);
}

void http_connection::stop() {
  impl_->stop_flag = true;
  // Runs on the owner's thread inside its io_context loop (now, or at its next operation):
  // closing the socket there completes any pending read/write with operation_aborted.
  impl* p = impl_.get();
  asio::post(impl_->ioc, [p] {
    if (p->plain || p->tls) {
      error_code ec;
      p->lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
      p->lowest().socket().close(ec);
    }
  });
}

bool http_connection::stopped() const {
  return impl_->stop_flag;
}
void http_connection::close() {
  impl_->drop();
}
std::size_t http_connection::connections_opened() const {
  return impl_->opened;
}
std::size_t http_connection::requests_sent() const {
  return impl_->sent;
}
const client_config& http_connection::config() const {
  return *impl_->cfg;
}

} // namespace kcr::kube
