// event_recorder: first occurrence POSTs, repeats PATCH the count, failures are dropped without
// blocking later events, the dedup window and the cache cap.
#include <regex>
#include <set>
#include <sstream>

#include <boost/test/unit_test.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "actors/event_recorder.hpp"
#include "fake_ports.hpp"
#include "fixture.hpp"

using namespace std::chrono_literals;
using namespace kcr;
using namespace kcr::actors;

namespace {

node_event warning(std::string node, std::string reason, std::string message) {
  return node_event{node, "uid-" + node, true, std::move(reason), std::move(message)};
}

struct recorder_fixture : test::actor_fixture {
  std::shared_ptr<test::fake_event_port> port = std::make_shared<test::fake_event_port>();
  std::shared_ptr<telemetry> tel = std::make_shared<telemetry>();
  event_recorder_actor rec;

  void start(size_t capacity = event_cache_capacity) {
    rec = track(
        sys->spawn(event_recorder, std::static_pointer_cast<event_port>(port), tel, capacity));
    run();
  }
  void send(const node_event& e) {
    caf::anon_send(rec, e);
    run();
  }
};

// Routes spdlog's default logger into a string (with the level) while it lives.
struct log_capture {
  std::ostringstream text;
  std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();
  log_capture() {
    auto logger = std::make_shared<spdlog::logger>(
        "capture", std::make_shared<spdlog::sinks::ostream_sink_st>(text));
    logger->set_pattern("%l %v");
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  ~log_capture() { spdlog::set_default_logger(previous); }
};

// metadata.name rules of the API server: a DNS-1123 subdomain of at most 253 characters.
bool dns_subdomain(const std::string& name) {
  static const std::regex re{"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"};
  return name.size() <= 253 && std::regex_match(name, re);
}

} // namespace

// Issue 15: Nodes named with ~236+ characters got Events named past 253 and refused.
BOOST_AUTO_TEST_CASE(event_names_of_long_node_names_fit_and_stay_distinct) {
  const std::string suffix = "187a3b5c9d0e1f23"; // the port's 16 hex digits
  BOOST_TEST(event_name("node-1", suffix) == "node-1." + suffix);
  std::string fits(253 - 17, 'a');
  BOOST_TEST(event_name(fits, suffix) == fits + "." + suffix);
  std::set<std::string> names;
  for (size_t len : {237, 240, 250, 253}) {
    for (char last : {'x', 'y'}) {
      // A common prefix that a plain cut would map to one name; '.'/'-' just before the cut.
      std::string node = std::string(220, 'n') + "-a.b-c.d" + std::string(len - 229, 'm') + last;
      BOOST_TEST_CONTEXT("node name of " << node.size() << " characters ending in " << last) {
        auto name = event_name(node, suffix);
        BOOST_TEST(name.size() <= 253u);
        BOOST_TEST(dns_subdomain(name), name);
        BOOST_TEST(name.starts_with(node.substr(0, 200)));
        BOOST_TEST(name.ends_with("." + suffix));
        names.insert(name);
      }
    }
  }
  BOOST_TEST(names.size() == 8u); // distinct for distinct nodes
}

BOOST_FIXTURE_TEST_SUITE(event_recorder_suite, recorder_fixture)

// Issue 15: a lost Event was logged only at debug level.
BOOST_AUTO_TEST_CASE(a_lost_event_is_logged_as_a_warning) {
  start();
  log_capture log;
  port->fail_next(1, test::http_failure(422));
  send(warning("n1", "R", "a"));
  send(warning("n1", "R", "a"));
  port->fail_next(1, test::http_failure(500), "update_count");
  send(warning("n1", "R", "a"));
  auto text = log.text.str();
  BOOST_TEST(text.find("warning event_recorder: posting Warning Event R for node n1 failed") !=
                 std::string::npos,
             text);
  BOOST_TEST(text.find("warning event_recorder: updating Event") != std::string::npos, text);
}

BOOST_AUTO_TEST_CASE(first_posts_repeat_patches_distinct_posts) {
  start();
  send(warning("n1", "NodeNotReadyForOverlay", "no pod CIDR"));
  BOOST_TEST_REQUIRE(port->created().size() == 1u);
  auto first = port->created()[0];
  BOOST_TEST(first.node == "n1");
  BOOST_TEST(first.uid == "uid-n1");
  BOOST_TEST(first.warning);
  BOOST_TEST(first.reason == "NodeNotReadyForOverlay");
  BOOST_TEST(first.count == 1);

  send(warning("n1", "NodeNotReadyForOverlay", "no pod CIDR"));
  BOOST_TEST(port->created().size() == 1u);
  BOOST_TEST_REQUIRE(port->patched().size() == 1u);
  BOOST_TEST(port->patched()[0].name == first.name);
  BOOST_TEST(port->patched()[0].count == 2);
  send(warning("n1", "NodeNotReadyForOverlay", "no pod CIDR"));
  BOOST_TEST(port->find(first.name)->count == 3);

  // A different message, reason or node is a different Event.
  send(warning("n1", "NodeNotReadyForOverlay", "no usable address"));
  send(warning("n1", "OverlayExhausted", "no pod CIDR"));
  send(warning("n2", "NodeNotReadyForOverlay", "no pod CIDR"));
  BOOST_TEST(port->created().size() == 4u);
  BOOST_TEST(port->patched().size() == 2u);
}

BOOST_AUTO_TEST_CASE(failing_port_drops_and_later_events_go_out) {
  start();
  port->fail_next(3, test::transport_failure());
  send(warning("n1", "R", "a"));
  send(warning("n2", "R", "b"));
  send(warning("n3", "R", "c"));
  BOOST_TEST(port->calls("create") == 3); // one attempt each, no retry loop
  BOOST_TEST(port->created().empty());
  send(warning("n4", "R", "d"));
  BOOST_TEST(port->created().size() == 1u);
  // A failed first POST is not remembered: its repeat is a POST again, not a PATCH.
  send(warning("n1", "R", "a"));
  BOOST_TEST(port->created().size() == 2u);
  BOOST_TEST(port->calls("update_count") == 0);
  // A failed PATCH is dropped too; the next repeat counts on from the server's value.
  port->fail_next(1, test::http_failure(500), "update_count");
  send(warning("n1", "R", "a"));
  send(warning("n1", "R", "a"));
  BOOST_TEST(port->calls("update_count") == 2);
  BOOST_TEST(port->patched().size() == 1u);
  BOOST_TEST(port->patched()[0].count == 2);
  BOOST_TEST(run() == 0u); // nothing queued: no retry scheduled
}

BOOST_AUTO_TEST_CASE(repeat_after_window_or_server_expiry_posts_anew) {
  start();
  send(warning("n1", "R", "a"));
  advance(9min);
  send(warning("n1", "R", "a")); // within 10 minutes of the previous one
  BOOST_TEST(port->patched().size() == 1u);
  advance(10min + 1s);
  send(warning("n1", "R", "a"));
  BOOST_TEST(port->created().size() == 2u);
  // The server forgot the Event (TTL): the PATCH's 404 turns into a new POST.
  port->expire_all();
  send(warning("n1", "R", "a"));
  BOOST_TEST(port->created().size() == 3u);
  BOOST_TEST(port->created()[2].count == 1);
}

BOOST_AUTO_TEST_CASE(cache_is_capped_least_recently_used_first) {
  start(2);
  send(warning("n1", "R", "a"));
  send(warning("n2", "R", "a"));
  send(warning("n1", "R", "a")); // n1 used again: n2 is now the oldest
  send(warning("n3", "R", "a")); // evicts n2
  BOOST_TEST(port->created().size() == 3u);
  send(warning("n1", "R", "a"));
  BOOST_TEST(port->created().size() == 3u); // still cached: PATCH
  send(warning("n2", "R", "a"));
  BOOST_TEST(port->created().size() == 4u); // evicted: POST
}

BOOST_AUTO_TEST_CASE(a_burst_is_rate_limited_and_the_bucket_refills) {
  start();
  for (int i = 0; i < 60; ++i)
    caf::anon_send(rec, warning("n" + std::to_string(i), "OverlayIPAllocated", "allocated"));
  run();
  BOOST_TEST(port->created().size() == size_t(event_burst)); // the rest is dropped
  advance(std::chrono::seconds(1));
  for (int i = 100; i < 130; ++i)
    caf::anon_send(rec, warning("n" + std::to_string(i), "OverlayIPAllocated", "allocated"));
  run();
  BOOST_TEST(port->created().size() == size_t(event_burst + event_rate)); // one second's refill
}

BOOST_AUTO_TEST_SUITE_END()
