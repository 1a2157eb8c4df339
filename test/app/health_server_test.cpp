// The health server on civetweb: the probe answers, and probes keep being answered within 1 s
// while idle connections and a slowloris client are connected; such clients are cut off after the
// request timeout.
#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "app/health_server.hpp"

using namespace kcr::app;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Waits up to `timeout` for readable data or EOF; -> the bytes read ("" on EOF), or nullopt.
std::optional<std::string> read_all(int fd, std::chrono::milliseconds timeout) {
  std::string out;
  auto end = clock_type::now() + timeout;
  while (clock_type::now() < end) {
    pollfd p{fd, POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - clock_type::now());
    if (::poll(&p, 1, static_cast<int>(std::max<long>(1, left.count()))) <= 0)
      continue;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      return out; // closed by the server
    out.append(buf, size_t(n));
  }
  return std::nullopt;
}

struct answer {
  std::string raw; // status line, headers and body; "" when none came
  std::chrono::milliseconds took{0};
};

answer request(uint16_t port, const std::string& text, std::chrono::milliseconds timeout = 3s) {
  auto t0 = clock_type::now();
  int fd = connect_to(port);
  BOOST_TEST_REQUIRE(fd >= 0);
  ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
  auto got = read_all(fd, timeout);
  ::close(fd);
  return {got.value_or(""),
          std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0)};
}

answer get(uint16_t port, const std::string& path) {
  return request(port, "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
}

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

struct server_fixture {
  std::atomic<bool> live{true};
  uint16_t port = free_port();
  health_server server{
      "127.0.0.1:" + std::to_string(port),
      health_handlers{[this] {
                        return probe_result{live.load(), live ? "[+]a\n" : "[-]a stale\n"};
                      },
                      [] {
                        return probe_result{false, "[-]not ready\n"};
                      }}};
};

bool has(const answer& a, const std::string& s) {
  return a.raw.find(s) != std::string::npos;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(health_server_suite, server_fixture)

BOOST_AUTO_TEST_CASE(answers_probes_as_before) {
  BOOST_TEST(server.port() == port);
  auto h = get(port, "/healthz");
  BOOST_TEST(h.raw.starts_with("HTTP/1.1 200 OK\r\n"), h.raw);
  BOOST_TEST(has(h, "Content-Type: text/plain; charset=utf-8\r\n"), h.raw);
  BOOST_TEST(h.raw.ends_with("\r\n\r\n[+]a\n"), h.raw);
  BOOST_TEST(get(port, "/livez").raw.starts_with("HTTP/1.1 200"));
  BOOST_TEST(get(port, "/healthz?verbose").raw.starts_with("HTTP/1.1 200"));
  live = false;
  h = get(port, "/healthz");
  BOOST_TEST(h.raw.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), h.raw);
  BOOST_TEST(h.raw.ends_with("[-]a stale\n"), h.raw);
  auto r = get(port, "/readyz");
  BOOST_TEST(r.raw.starts_with("HTTP/1.1 503"), r.raw);
  BOOST_TEST(r.raw.ends_with("[-]not ready\n"), r.raw);
  auto nf = get(port, "/metrics");
  BOOST_TEST(nf.raw.starts_with("HTTP/1.1 404"), nf.raw);
  BOOST_TEST(has(nf, "try /healthz or /readyz"), nf.raw);
  auto post = request(port, "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  BOOST_TEST(post.raw.starts_with("HTTP/1.1 405"), post.raw);
  auto head = request(port, "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  BOOST_TEST(head.raw.starts_with("HTTP/1.1 503"), head.raw);
  BOOST_TEST(head.raw.ends_with("\r\n\r\n"), head.raw); // no body
}

// 20 connections that never send a byte stay open; probes still answer at once, each time.
BOOST_AUTO_TEST_CASE(idle_connections_do_not_starve_probes) {
  std::vector<int> idle;
  for (int i = 0; i < 20; ++i) {
    int fd = connect_to(port);
    BOOST_TEST_REQUIRE(fd >= 0);
    idle.push_back(fd);
  }
  std::this_thread::sleep_for(200ms); // all accepted and handed to workers
  for (int i = 0; i < 5; ++i) {
    auto a = get(port, i % 2 ? "/readyz" : "/healthz");
    BOOST_TEST(a.raw.starts_with(i % 2 ? "HTTP/1.1 503" : "HTTP/1.1 200"), a.raw);
    BOOST_TEST(a.took.count() < 1000, "probe took " << a.took.count() << " ms");
  }
  // An idle client holds its worker for the request timeout at most: the server closes it.
  auto t0 = clock_type::now();
  auto eof = read_all(idle[0], std::chrono::milliseconds(health_server::request_timeout_ms + 2000));
  auto after = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0);
  BOOST_TEST(eof.has_value(), "an idle connection still open after " << after.count() << " ms");
  for (int fd : idle)
    ::close(fd);
}

// Slowloris: clients trickle a request a byte every 100 ms and never finish it. Probes are
// answered meanwhile, and the trickling clients are cut off after the request timeout.
BOOST_AUTO_TEST_CASE(slowloris_does_not_block_others_and_is_cut_off) {
  const std::string partial =
      "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  std::vector<int> slow;
  for (int i = 0; i < 8; ++i) {
    int fd = connect_to(port);
    BOOST_TEST_REQUIRE(fd >= 0);
    slow.push_back(fd);
  }
  std::atomic<bool> stop{false};
  std::atomic<int> cut{0};
  std::thread trickler([&] {
    std::vector<bool> closed(slow.size(), false);
    for (size_t i = 0; !stop && i < partial.size(); ++i) {
      for (size_t k = 0; k < slow.size(); ++k)
        if (!closed[k] && ::send(slow[k], &partial[i], 1, MSG_NOSIGNAL) != 1) {
          closed[k] = true;
          ++cut;
        }
      std::this_thread::sleep_for(100ms);
    }
  });
  auto t0 = clock_type::now();
  while (clock_type::now() - t0 < 1500ms) {
    auto a = get(port, "/healthz");
    BOOST_TEST(a.raw.starts_with("HTTP/1.1 200"), a.raw);
    BOOST_TEST(a.took.count() < 1000, "probe took " << a.took.count() << " ms");
    std::this_thread::sleep_for(200ms);
  }
  // Still trickling after the request timeout: each must have been closed by the server.
  for (int fd : slow) {
    auto eof = read_all(fd, std::chrono::milliseconds(health_server::request_timeout_ms + 3000));
    BOOST_TEST(eof.has_value(), "a slowloris connection is still open");
    if (eof)
      BOOST_TEST(eof->find("200 OK") == std::string::npos, *eof); // never answered as a probe
  }
  stop = true;
  trickler.join();
  for (int fd : slow)
    ::close(fd);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(a_taken_port_is_an_error_naming_the_address) {
  server_fixture first;
  std::string addr = "127.0.0.1:" + std::to_string(first.port);
  try {
    health_server second{
        addr, health_handlers{[] { return probe_result{}; }, [] { return probe_result{}; }}};
    BOOST_FAIL("a second server bound " << addr);
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()).find("cannot listen on " + addr) != std::string::npos,
               e.what());
  }
}
