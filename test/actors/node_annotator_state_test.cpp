// The node annotator's state without an actor: each input's decision (nothing, a flush, a wait for
// the token bucket, a retry after the backoff) and the patches it makes, against a fake node
// port, with time passed in.
#include <functional>

#include <boost/test/unit_test.hpp>

#include "actors/node_annotator.hpp"
#include "fake_node_port.hpp"

using namespace kcr;
using namespace kcr::actors;
using namespace std::chrono_literals;

namespace {

using kind = node_annotator_step::kind;
using patch_list = std::vector<std::pair<std::string, std::optional<std::string>>>;
const auto t0 = node_annotator_state::clock::time_point{} + 1h;

std::string name(int i) {
  return "node-" + std::to_string(i);
}

std::string overlay(int i) {
  return "192.168.254." + std::to_string(i);
}

kube::node_entry entry(int i, const std::string& ip) {
  kube::node_entry e;
  e.name = name(i);
  e.uid = "uid-" + name(i);
  e.node_ip = *net::ip_address::parse("198.51.100." + std::to_string(i));
  e.overlay_ip = *net::ip_address::parse(ip);
  return e;
}

desired_entries full(uint64_t term, const std::vector<int>& nodes) {
  desired_entries d{.term = term, .full = true, .upserted = {}, .removed = {}};
  for (int i : nodes)
    d.upserted.push_back(entry(i, overlay(i)));
  return d;
}

/// The ConfigMap as its watch delivers it, holding `nodes` (at `ip`, else their own address).
published_snapshot configmap(const std::vector<int>& nodes, const std::string& ip = "") {
  kube::published_state s;
  for (int i : nodes)
    s.entries.push_back(entry(i, ip.empty() ? overlay(i) : ip));
  return published_snapshot::of(std::move(s));
}

struct rig {
  std::shared_ptr<test::fake_node_port> nodes = std::make_shared<test::fake_node_port>();
  node_annotator_state st;

  rig() { rate(100); }
  /// Patches per second (the bucket holds one second's worth, at least one).
  void rate(double qps) {
    controller_settings s;
    s.annotation_qps = qps;
    s.backoff_initial = 500ms;
    s.backoff_max = 4s;
    st.setup(std::move(s), std::make_shared<telemetry>(), nodes);
  }
  /// Nodes register without the annotation; the Node watch reports them.
  void register_nodes(const std::vector<int>& ns) {
    for (int i : ns)
      st.on_seen(nodes->add(name(i)));
  }
  /// Leading in term 1, `ns` registered, the allocator and the ConfigMap agree on them; the
  /// flush this asked for is taken (not yet run).
  void agreed(const std::vector<int>& ns) {
    register_nodes(ns);
    st.on_leadership(true, 1);
    st.on_desired(full(1, ns));
    BOOST_REQUIRE((st.on_snapshot(configmap(ns)) == node_annotator_step{kind::flush}));
    st.flush_scheduled = false;
  }
  /// A failed patch (500) of node-1 at t0: a retry is pending.
  void failed_once() {
    agreed({1});
    nodes->fail_next(1, test::http_failure(500), "patch");
    BOOST_REQUIRE((st.on_flush(t0).what == kind::retry));
  }
};

struct row {
  const char* what;
  std::function<node_annotator_step(rig&)> run; // sets up, returns the decision under test
  node_annotator_step want;
  int patch_calls; // on the port during `run`, failed ones included
  std::function<void(const rig&)> check = {};
};

const node_annotator_step none{};
const node_annotator_step flush{kind::flush};

node_annotator_step wait(std::chrono::microseconds d) {
  return {kind::wait, d};
}
node_annotator_step retry(std::chrono::milliseconds d) {
  return {kind::retry, d};
}

std::vector<row> inputs() {
  return {
      {"a follower sees a Node: nothing",
       [](rig& r) { return r.st.on_seen(r.nodes->add(name(1))); }, none, 0},
      {"leading without a desired set: nothing",
       [](rig& r) {
         r.register_nodes({1});
         return r.st.on_leadership(true, 1);
       },
       none, 0},
      {"a desired set but no ConfigMap seen yet: nothing",
       [](rig& r) {
         r.register_nodes({1});
         r.st.on_leadership(true, 1);
         return r.st.on_desired(full(1, {1}));
       },
       none, 0, [](const rig& r) { BOOST_TEST(!r.st.active()); }},
      {"a desired set of an earlier term: nothing",
       [](rig& r) {
         r.register_nodes({1});
         r.st.on_leadership(true, 2);
         r.st.on_snapshot(configmap({1}));
         return r.st.on_desired(full(1, {1}));
       },
       none, 0},
      {"desired set and ConfigMap agree: a flush",
       [](rig& r) {
         r.register_nodes({1});
         r.st.on_leadership(true, 1);
         r.st.on_desired(full(1, {1}));
         return r.st.on_snapshot(configmap({1}));
       },
       flush, 0},
      {"another input while the flush is queued: nothing (one flush for all)",
       [](rig& r) {
         r.agreed({1, 2});
         r.st.flush_scheduled = true;
         return r.st.on_seen(r.nodes->hand_edit(name(2), "192.168.254.99"));
       },
       none, 0, [](const rig& r) { BOOST_TEST(r.st.pending.count(name(2)) == 1u); }},
      {"sync while active: every Node looked at again, a flush",
       [](rig& r) {
         r.agreed({1, 2});
         r.st.on_flush(t0);
         return r.st.on_sync();
       },
       flush, 2, [](const rig& r) { BOOST_TEST(r.st.pending.size() == 2u); }},
      {"sync as a follower: nothing", [](rig& r) { return r.st.on_sync(); }, none, 0},
      {"losing the lead drops the desired set: nothing",
       [](rig& r) {
         r.agreed({1});
         return r.st.on_leadership(false, 1);
       },
       none, 0,
       [](const rig& r) {
         BOOST_TEST(r.st.pending.empty());
         BOOST_TEST(r.st.desired.empty());
       }},
      {"a Node event older than our own patch: ignored",
       [](rig& r) {
         r.agreed({1});
         r.st.on_flush(t0);
         return r.st.on_seen({name(1), true, std::nullopt, "101"}); // the patch made it 102
       },
       none, 1,
       [](const rig& r) { BOOST_TEST(r.st.seen.at(name(1)).value.value_or("-") == overlay(1)); }},
  };
}

std::vector<row> flushes() {
  return {
      {"the two views agree: the Node is patched",
       [](rig& r) {
         r.agreed({1});
         return r.st.on_flush(t0);
       },
       none, 1,
       [](const rig& r) {
         BOOST_TEST(r.nodes->value(name(1)).value_or("-") == overlay(1));
         BOOST_TEST(r.st.patches == 1u);
         BOOST_TEST(r.st.pending.empty());
       }},
      {"the ConfigMap holds another address: left alone",
       [](rig& r) {
         r.register_nodes({1});
         r.st.on_leadership(true, 1);
         r.st.on_desired(full(1, {1}));
         r.st.on_snapshot(configmap({1}, "192.168.254.77"));
         r.st.flush_scheduled = false;
         return r.st.on_flush(t0);
       },
       none, 0, [](const rig& r) { BOOST_TEST(r.st.pending.empty()); }},
      {"the annotation is already right: no patch",
       [](rig& r) {
         r.st.on_seen(r.nodes->add(name(1), overlay(1)));
         r.st.on_leadership(true, 1);
         r.st.on_desired(full(1, {1}));
         r.st.on_snapshot(configmap({1}));
         r.st.flush_scheduled = false;
         return r.st.on_flush(t0);
       },
       none, 0},
      {"inactive: a flush does nothing",
       [](rig& r) {
         r.agreed({1});
         r.st.on_leadership(false, 1);
         return r.st.on_flush(t0);
       },
       none, 0},
      {"removal before set, whatever the names' order",
       [](rig& r) {
         r.st.on_seen(r.nodes->add(name(9), overlay(1))); // node-9 held the address before
         r.agreed({1});
         return r.st.on_flush(t0);
       },
       none, 2,
       [](const rig& r) {
         BOOST_TEST(
             (r.nodes->patches() == patch_list{{name(9), std::nullopt}, {name(1), overlay(1)}}));
       }},
      {"a deleted Node (404): dropped, no retry",
       [](rig& r) {
         r.agreed({1});
         r.nodes->remove(name(1));
         return r.st.on_flush(t0);
       },
       none, 1,
       [](const rig& r) {
         BOOST_TEST(r.st.seen.count(name(1)) == 0u);
         BOOST_TEST(r.st.failures == 0u);
       }},
  };
}

std::vector<row> rate_limits() {
  return {
      {"4/s, 6 Nodes due: 4 patched, wait 250 ms for the next token",
       [](rig& r) {
         r.rate(4);
         r.agreed({1, 2, 3, 4, 5, 6});
         return r.st.on_flush(t0);
       },
       wait(250ms), 4,
       [](const rig& r) {
         BOOST_TEST(r.st.pending.size() == 2u);
         BOOST_TEST(r.st.flush_scheduled);
       }},
      {"4/s, 100 ms later: 0.4 tokens, wait the 150 ms to a whole one",
       [](rig& r) {
         r.rate(4);
         r.agreed({1, 2, 3, 4, 5, 6});
         r.st.on_flush(t0);
         return r.st.on_flush(t0 + 100ms);
       },
       wait(150ms), 4},
      {"4/s, 500 ms later: the other two",
       [](rig& r) {
         r.rate(4);
         r.agreed({1, 2, 3, 4, 5, 6});
         r.st.on_flush(t0);
         return r.st.on_flush(t0 + 500ms);
       },
       none, 6, [](const rig& r) { BOOST_TEST(r.st.pending.empty()); }},
      {"1/s: the one token goes to the removal",
       [](rig& r) {
         r.rate(1);
         r.st.on_seen(r.nodes->add(name(9), overlay(1)));
         r.agreed({1});
         return r.st.on_flush(t0);
       },
       wait(1s), 1,
       [](const rig& r) {
         BOOST_TEST((r.nodes->patches() == patch_list{{name(9), std::nullopt}}));
       }},
      {"a wait under 1 ms is 1 ms",
       [](rig& r) {
         r.rate(1);
         r.agreed({1});
         r.st.bucket_started = true;
         r.st.refilled = t0;
         r.st.tokens = 0.9995; // at 1/s: 0.5 ms to a whole token
         return r.st.on_flush(t0);
       },
       wait(1ms), 0},
  };
}

std::vector<row> failures() {
  return {
      {"a failed patch: retry after the backoff's 500 ms",
       [](rig& r) {
         r.agreed({1});
         r.nodes->fail_next(1, test::http_failure(500), "patch");
         return r.st.on_flush(t0);
       },
       retry(500ms), 1,
       [](const rig& r) {
         BOOST_TEST(r.st.retry_scheduled);
         BOOST_TEST(r.st.failures == 1u);
         BOOST_TEST(r.st.pending.count(name(1)) == 1u);
       }},
      {"an input while the retry is pending: nothing (the retry flushes)",
       [](rig& r) {
         r.failed_once();
         return r.st.on_seen(r.nodes->hand_edit(name(1), "192.168.254.99"));
       },
       none, 1},
      {"a flush while the retry is pending: nothing",
       [](rig& r) {
         r.failed_once();
         return r.st.on_flush(t0 + 100ms);
       },
       none, 1},
      {"failing again on the retry: the backoff doubles",
       [](rig& r) {
         r.failed_once();
         r.nodes->fail_next(1, test::http_failure(503), "patch");
         return r.st.on_retry(t0 + 500ms);
       },
       retry(1000ms), 2},
      {"the retry succeeds: patched, the backoff starts over",
       [](rig& r) {
         r.failed_once();
         return r.st.on_retry(t0 + 500ms);
       },
       none, 2,
       [](const rig& r) {
         BOOST_TEST(!r.st.retry_scheduled);
         BOOST_TEST(r.nodes->value(name(1)).value_or("-") == overlay(1));
         BOOST_TEST(r.st.backoff.current_base().count() == 500);
       }},
  };
}

void run_rows(const std::vector<row>& rows) {
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT(r.what) {
      rig g;
      auto got = r.run(g);
      BOOST_TEST((got.what == r.want.what));
      BOOST_TEST(got.delay.count() == r.want.delay.count());
      BOOST_TEST(g.nodes->calls("patch") == r.patch_calls);
      if (r.check)
        r.check(g);
    }
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(node_annotator_state_decisions)

BOOST_AUTO_TEST_CASE(each_input_says_whether_to_flush) {
  run_rows(inputs());
}

BOOST_AUTO_TEST_CASE(a_flush_patches_what_both_views_agree_on_removals_first) {
  run_rows(flushes());
}

BOOST_AUTO_TEST_CASE(the_token_bucket_says_how_long_to_wait) {
  run_rows(rate_limits());
}

BOOST_AUTO_TEST_CASE(a_failed_patch_says_retry_after_the_backoff) {
  run_rows(failures());
}

BOOST_AUTO_TEST_SUITE_END()
