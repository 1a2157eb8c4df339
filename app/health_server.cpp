#include "app/health_server.hpp"

#include <atomic>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/time.h>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace kcr::app {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

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

struct health_server::impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  health_handlers handlers;
  std::atomic<bool> stopping{false};
  std::thread thread;

  void serve_one(tcp::socket& socket) {
    // A stuck client must not hold the single serving thread: 2 s to send its request.
    timeval tv{2, 0};
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    boost::beast::flat_buffer buffer;
    http::request<http::string_body> req;
    boost::system::error_code ec;
    http::read(socket, buffer, req, ec);
    if (ec)
      return;
    http::response<http::string_body> res;
    res.version(req.version());
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.set(http::field::connection, "close");
    auto target = std::string{req.target()};
    if (auto q = target.find('?'); q != std::string::npos)
      target.resize(q);
    probe_result r;
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res.result(http::status::method_not_allowed);
      res.body() = "only GET\n";
    } else if (target == "/healthz" || target == "/livez") {
      r = handlers.healthz();
      res.result(r.ok ? http::status::ok : http::status::service_unavailable);
      res.body() = r.text;
    } else if (target == "/readyz") {
      r = handlers.readyz();
      res.result(r.ok ? http::status::ok : http::status::service_unavailable);
      res.body() = r.text;
    } else {
      res.result(http::status::not_found);
      res.body() = "not found: try /healthz or /readyz\n";
    }
    res.prepare_payload();
    http::write(socket, res, ec);
    socket.shutdown(tcp::socket::shutdown_both, ec);
  }

  void loop() {
    while (!stopping) {
      tcp::socket socket{io};
      boost::system::error_code ec;
      acceptor.accept(socket, ec);
      if (stopping)
        break;
      if (ec)
        continue;
      serve_one(socket);
    }
  }
};

health_server::health_server(const std::string& listen_addr, health_handlers handlers)
    : impl_(std::make_unique<impl>()) {
  impl_->handlers = std::move(handlers);
  auto [host, port] = split_listen_address(listen_addr);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec)
    throw std::runtime_error("--health-addr " + listen_addr + ": not an IP address");
  tcp::endpoint ep{address, port};
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec)
    impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec)
    impl_->acceptor.bind(ep, ec);
  if (!ec)
    impl_->acceptor.listen(64, ec);
  if (ec)
    throw std::runtime_error("cannot listen on " + listen_addr + " for /healthz: " + ec.message());
  impl_->thread = std::thread([this] { impl_->loop(); });
}

health_server::~health_server() {
  impl_->stopping = true;
  // Wakes the blocked accept(); closing the descriptor from another thread would not.
  ::shutdown(impl_->acceptor.native_handle(), SHUT_RDWR);
  if (impl_->thread.joinable())
    impl_->thread.join();
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
}

uint16_t health_server::port() const {
  return impl_->acceptor.local_endpoint().port();
}

} // namespace kcr::app
