// Boost.Beast HTTP/1.1 over TCP or TLS, blocking from the caller's view. Each operation is an
// async Beast call driven by this connection's own io_context on the calling thread; that lets
// beast::tcp_stream enforce timeouts and lets stop() (posted from any thread) cancel the socket.
// This half: requests and watch streams; http_connect.cpp opens the connection.
#include <exception>

#include <boost/asio/post.hpp>

#include "kube/http_connection_impl.hpp"

#ifndef KCR_VERSION
#define KCR_VERSION "0.0.0"
#endif

namespace kcr::kube {

std::string user_agent() {
  return std::string("kube-chorus-router/") + KCR_VERSION;
}

namespace {

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

http::request<http::string_body> http_connection::impl::build(const http_request& r) {
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

bool http_connection::impl::ensure_connected() {
  check_stop();
  if (connected && (idle_connection_dead() || exec_cert_changed()))
    drop();
  if (connected)
    return true;
  connect();
  return false;
}

http_response http_connection::impl::finish_body(http::response_parser<http::string_body>& p,
                                                 const char* what) {
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

http_response http_connection::impl::request(const http_request& r, bool streaming,
                                             std::chrono::milliseconds limit,
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

http_response
http_connection::impl::read_stream(http::response_parser<http::empty_body>& p,
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
