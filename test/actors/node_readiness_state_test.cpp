// node_readiness's state without an actor: each input's decision (nothing, a flush, a retry after
// the backoff) and the writes to the Node it makes, against a recording status port.
#include <functional>

#include <boost/test/unit_test.hpp>

#include "actors/node_readiness.hpp"
#include "tunnel_test_support.hpp"

using namespace kcr;
using namespace kcr::actors;
using namespace std::chrono_literals;
using kcr::test::own_node;

namespace {

using kind = node_readiness_step::kind;

// Records the writes; fails the next ones on demand.
struct recording_port : node_status_port {
  std::vector<std::pair<tunnel_condition, bool>> conditions; // with `transition`
  std::vector<std::vector<std::size_t>> taint_removals;
  int fail_conditions = 0; // the next N condition patches fail with 500
  int fail_taints = 0;     // the next taint removal fails with this code (0: succeeds)

  outcome<bool> patch_condition(const std::string&, const tunnel_condition& c,
                                bool transition) override {
    if (fail_conditions > 0) {
      --fail_conditions;
      return api_failure{500, "InternalError", "injected"};
    }
    conditions.emplace_back(c, transition);
    return true;
  }
  outcome<bool> remove_taints(const std::string&, const std::vector<std::size_t>& indices,
                              const std::string&) override {
    if (int code = std::exchange(fail_taints, 0))
      return api_failure{code, "Invalid", "injected"};
    taint_removals.push_back(indices);
    return true;
  }
  size_t calls() const { return conditions.size() + taint_removals.size(); }
};

converge_outcome converged() {
  return {true, "192.168.254.3", "routervxlan0", "", ""};
}

struct rig {
  std::shared_ptr<recording_port> port = std::make_shared<recording_port>();
  node_readiness_state st;

  explicit rig(bool remove_taint = true) {
    controller_settings s;
    s.node_name = "node-a";
    s.overlay_type = net::overlay_type::vxlan;
    s.overlay_network = *net::cidr::parse("192.168.254.0/24");
    s.endpoint_ip = *net::ip_address::parse("192.168.254.254");
    s.backoff_initial = 500ms;
    s.backoff_max = 4s;
    st.init({std::make_shared<const controller_settings>(s), remove_taint, port, {}});
  }
  /// Published at .3, tainted, converged there; the flush this asked for is taken (not yet run).
  void ready_to_write() {
    st.on_own_node(own_node("192.168.254.3", true));
    st.on_outcome(converged());
    st.flush_queued = false;
  }
  /// The condition write failed once: a retry is armed.
  void failed_once() {
    ready_to_write();
    port->fail_conditions = 1;
    BOOST_REQUIRE((st.on_flush().what == kind::retry));
  }
};

struct row {
  const char* what;
  std::function<node_readiness_step(rig&)> run; // sets up, returns the decision under test
  node_readiness_step want;
  size_t writes; // successful writes to the Node during `run`
  std::function<void(const rig&)> check = {};
};

const node_readiness_step none{};
const node_readiness_step flush{kind::flush};

node_readiness_step retry(std::chrono::milliseconds d) {
  return {kind::retry, d};
}

std::vector<row> rows() {
  return {
      {"the own Node, not yet published: a flush",
       [](rig& r) { return r.st.on_own_node(own_node(std::nullopt, true)); }, flush, 0},
      {"another input while the flush is queued: nothing (one flush for all)",
       [](rig& r) {
         r.st.on_own_node(own_node(std::nullopt, true));
         return r.st.on_outcome(converged());
       },
       none, 0},
      {"the same converge outcome again: nothing",
       [](rig& r) {
         r.ready_to_write();
         return r.st.on_outcome(converged());
       },
       none, 0},
      {"the Node is gone: nothing to write to",
       [](rig& r) { return r.st.on_own_node(own_node_observed{}); }, none, 0},
      {"not yet published: the flush writes EntryNotPublished as a transition",
       [](rig& r) {
         r.st.on_own_node(own_node(std::nullopt, true));
         return r.st.on_flush();
       },
       none, 1,
       [](const rig& r) {
         BOOST_TEST(r.port->conditions[0].first.reason == "EntryNotPublished");
         BOOST_TEST(r.port->conditions[0].second);
       }},
      {"converged: True, then the startup taint goes",
       [](rig& r) {
         r.ready_to_write();
         return r.st.on_flush();
       },
       none, 2,
       [](const rig& r) {
         BOOST_TEST(r.port->conditions[0].first.ready);
         BOOST_TEST((r.port->taint_removals == std::vector<std::vector<std::size_t>>{{1}}));
       }},
      {"written already: the next flush writes nothing",
       [](rig& r) {
         r.ready_to_write();
         r.st.on_flush();
         return r.st.on_flush();
       },
       none, 2},
      {"a taint list that moved (422): no retry, the next observation tries again",
       [](rig& r) {
         r.ready_to_write();
         r.port->fail_taints = 422;
         return r.st.on_flush();
       },
       none, 1, [](const rig& r) { BOOST_TEST(r.st.taint_attempted); }},
      {"a taint removal that failed (500): retry after the backoff",
       [](rig& r) {
         r.ready_to_write();
         r.port->fail_taints = 500;
         return r.st.on_flush();
       },
       retry(500ms), 1,
       [](const rig& r) {
         BOOST_TEST(!r.st.taint_attempted);
         BOOST_TEST(r.st.failures == 1u);
       }},
      {"a failed condition write: retry after the backoff's 500 ms",
       [](rig& r) {
         r.ready_to_write();
         r.port->fail_conditions = 1;
         return r.st.on_flush();
       },
       retry(500ms), 0, [](const rig& r) { BOOST_TEST(r.st.retry_armed); }},
      {"a flush while the retry is armed: nothing",
       [](rig& r) {
         r.failed_once();
         r.st.on_own_node(own_node("192.168.254.3", true));
         return r.st.on_flush();
       },
       none, 0},
      {"failing again on the retry: the backoff doubles",
       [](rig& r) {
         r.failed_once();
         r.port->fail_conditions = 1;
         return r.st.on_retry();
       },
       retry(1000ms), 0},
      {"the retry writes: the backoff starts over",
       [](rig& r) {
         r.failed_once();
         return r.st.on_retry();
       },
       none, 2,
       [](const rig& r) {
         BOOST_TEST(!r.st.retry_armed);
         BOOST_TEST(r.st.backoff.current_base().count() == 500);
       }},
  };
}

} // namespace

BOOST_AUTO_TEST_SUITE(node_readiness_state_decisions)

BOOST_AUTO_TEST_CASE(each_input_says_what_to_send) {
  for (const auto& r : rows()) {
    BOOST_TEST_CONTEXT(r.what) {
      rig g;
      auto got = r.run(g);
      BOOST_TEST((got.what == r.want.what));
      BOOST_TEST(got.delay.count() == r.want.delay.count());
      BOOST_TEST(g.port->calls() == r.writes);
      if (r.check)
        r.check(g);
    }
  }
}

BOOST_AUTO_TEST_CASE(without_readiness_taint_only_the_condition_is_written) {
  rig g(false);
  g.ready_to_write();
  BOOST_TEST((g.st.on_flush() == node_readiness_step{}));
  BOOST_TEST(g.port->conditions.size() == 1u);
  BOOST_TEST(g.port->taint_removals.empty());
}

BOOST_AUTO_TEST_SUITE_END()
