// Opening a connection to the API server: resolve, connect (through an HTTP CONNECT proxy when
// one applies), TLS with the server name verified; and dropping it. See http_connection.hpp.
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>

#include <boost/asio/connect.hpp>

#include "kube/http_connection_impl.hpp"

namespace kcr::kube {

namespace {

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

} // namespace

http_connection::impl::impl(std::shared_ptr<const client_config> c)
    : cfg(std::move(c)), proxy(proxy_for(cfg->server, cfg->proxy_url, process_env())) {
  if (cfg->server.tls())
    make_tls_context(cfg->client_cert_pem, cfg->client_key_pem);
}

bool http_connection::impl::exec_cert_changed() {
  if (!ctx || !cfg->token || !cfg->token->exec_based())
    return false;
  return cfg->token->credential().client_cert_pem != ctx_cert;
}

void http_connection::impl::use_exec_cert() {
  auto cred = cfg->token->credential();
  make_tls_context(cred.client_cert_pem, cred.client_key_pem);
  ctx_cert = cred.client_cert_pem;
}

void http_connection::impl::make_tls_context(const std::string& cert_pem,
                                             const std::string& key_pem) {
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

void http_connection::impl::drop() {
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

bool http_connection::impl::idle_connection_dead() {
  if (buffer.size() > 0)
    return true;
  pollfd p{lowest().socket().native_handle(), POLLIN, 0};
  int r = ::poll(&p, 1, 0);
  return r != 0;
}

void http_connection::impl::fail(const std::string& what, const error_code& ec) {
  drop();
  check_stop();
  if (ec == beast::error::timeout)
    throw transport_error(what + " " + url() + via() + ": timed out");
  throw transport_error(what + " " + url() + via() + ": " + ec.message());
}

tcp::resolver::results_type http_connection::impl::resolve(const std::string& host,
                                                           const std::string& port) {
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

void http_connection::impl::connect() {
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

void http_connection::impl::tunnel() {
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

void http_connection::impl::handshake() {
  const std::string& name = cfg->tls_server_name.empty() ? cfg->server.host : cfg->tls_server_name;
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
    bool verify = vr != X509_V_OK || detail.find("certificate verify failed") != std::string::npos;
    drop();
    check_stop();
    if (verify)
      throw transport_error("TLS verification of " + url() + " failed: " + detail +
                            " (wrong CA, or the server name " + name +
                            " is not in its certificate?)");
    throw transport_error("TLS handshake with " + url() + " failed: " + detail);
  }
}

} // namespace kcr::kube
