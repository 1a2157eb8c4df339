// The publisher's state without an actor: each handler's decision (nothing, flush, retry after a
// delay) for the situations the behaviour meets, against a fake ConfigMap port.
#include <functional>

#include <boost/test/unit_test.hpp>

#include "actors/publisher.hpp"
#include "fake_ports.hpp"

using namespace kcr;
using namespace kcr::actors;
using namespace std::chrono_literals;

namespace {

using kind = publisher_step::kind;
const auto t0 = write_budget::clock::time_point{} + 1h;

kube::node_entry entry(int i) {
  kube::node_entry e;
  e.name = "node-" + std::to_string(i);
  e.uid = "uid-" + std::to_string(i);
  e.node_ip = net::ip_address::v4((198u << 24) | (18u << 16) | static_cast<uint32_t>(i + 1));
  e.overlay_ip = net::ip_address::v4((10u << 24) | (200u << 16) | static_cast<uint32_t>(i + 1));
  return e;
}

desired_entries full(uint64_t term, std::vector<int> nodes) {
  desired_entries d{.term = term, .full = true, .upserted = {}, .removed = {}};
  for (int i : nodes)
    d.upserted.push_back(entry(i));
  return d;
}

desired_entries upsert(uint64_t term, int node) {
  return {.term = term, .full = false, .upserted = {entry(node)}, .removed = {}};
}

controller_settings settings() {
  controller_settings s;
  s.node_name = "node-0";
  s.overlay_network = *net::cidr::parse("10.200.0.0/16");
  s.endpoint_ip = *net::ip_address::parse("10.200.255.254");
  s.remote_vtep = *net::ip_address::parse("203.0.113.1");
  return s;
}

struct rig {
  std::shared_ptr<test::fake_configmap_port> port = std::make_shared<test::fake_configmap_port>();
  publisher_state st;
  explicit rig(controller_settings s = settings()) {
    st.setup(std::move(s), std::make_shared<telemetry>(), port);
  }
  /// Leading in term 1 with a full set of node-1 (its flush taken, not yet written).
  void lead() {
    st.on_leadership(true, 1);
    st.on_desired(full(1, {1}));
    st.flush_scheduled = false;
  }
  /// Leading and the ConfigMap written as desired; the port's call counts start again.
  void published() {
    lead();
    BOOST_REQUIRE(st.on_flush(false, t0) == publisher_step{});
    BOOST_REQUIRE(!st.drifted());
    port->reset_calls();
  }
};

struct row {
  const char* what;
  std::function<publisher_step(rig&)> run; // sets up, returns the decision under test
  publisher_step want;
  int api_calls; // calls on the port during `run`, reads included
  std::function<void(const rig&)> check = {};
};

/// With a budget of 100 bytes/s and no time passing, writes one change after another until the
/// budget makes one wait (a few: the bucket holds two objects); returns that decision.
publisher_step budget_runs_dry(rig& r) {
  auto s = settings();
  s.configmap_write_budget = 100;
  r.st.setup(s, std::make_shared<telemetry>(), r.port);
  r.published();
  for (int node = 2; node < 8; ++node) {
    r.st.on_desired(upsert(1, node));
    if (auto got = r.st.on_flush(false, t0); got != publisher_step{})
      return got;
  }
  BOOST_FAIL("the budget never ran dry");
  return {};
}

publisher_step retry(std::chrono::milliseconds delay) {
  return {kind::retry, delay};
}

const publisher_step none{};
const publisher_step flush{kind::flush};

std::vector<row> rows() {
  return {
      {"a follower ignores desired entries", [](rig& r) { return r.st.on_desired(full(1, {1})); },
       none, 0},
      {"no desired set yet: leading alone does not flush",
       [](rig& r) { return r.st.on_leadership(true, 1); }, none, 0},
      {"leading with a full set of its term flushes",
       [](rig& r) {
         r.st.on_leadership(true, 1);
         return r.st.on_desired(full(1, {1}));
       },
       flush, 0},
      {"a set of an earlier term is not written",
       [](rig& r) {
         r.st.on_leadership(true, 2);
         return r.st.on_desired(full(1, {1}));
       },
       none, 0},
      {"a flush already scheduled: one flush for many changes",
       [](rig& r) {
         r.st.on_leadership(true, 1);
         r.st.on_desired(full(1, {1}));
         return r.st.on_desired(upsert(1, 2));
       },
       none, 0},
      {"messages queued: the flush defers behind them",
       [](rig& r) {
         r.lead();
         return r.st.on_flush(true, t0);
       },
       flush, 0, [](const rig& r) { BOOST_TEST(r.st.deferrals == 1); }},
      {"64 deferrals: it writes however much is queued",
       [](rig& r) {
         r.lead();
         r.st.deferrals = 64;
         return r.st.on_flush(true, t0);
       },
       none, 3, // GET, create (fixed keys), patch (entries)
       [](const rig& r) {
         BOOST_TEST(r.st.writes == 2);
         BOOST_TEST(r.st.deferrals == 0);
       }},
      {"written: nothing more, nothing unpublished",
       [](rig& r) {
         r.lead();
         return r.st.on_flush(false, t0);
       },
       none, 3, [](const rig& r) { BOOST_TEST(r.st.unpublished.empty()); }},
      {"a backoff timer pending: the flush waits for it",
       [](rig& r) {
         r.lead();
         r.st.retry_scheduled = true;
         return r.st.on_flush(false, t0);
       },
       none, 0},
      {"a failed write backs off 500 ms",
       [](rig& r) {
         r.lead();
         r.port->fail_always(test::transport_failure("down"), "create");
         return r.st.on_flush(false, t0);
       },
       retry(500ms), 2,
       [](const rig& r) {
         BOOST_TEST(r.st.retry_scheduled);
         BOOST_TEST(r.st.failures == 1);
       }},
      {"failing again on the retry: the backoff doubles",
       [](rig& r) {
         r.lead();
         r.port->fail_always(test::transport_failure("down"), "create");
         r.st.on_flush(false, t0);
         r.port->reset_calls();
         return r.st.on_retry(false, t0);
       },
       retry(1000ms), 1},
      {"three conflicts in a row back off",
       [](rig& r) {
         r.published();
         r.st.on_desired(upsert(1, 2));
         r.port->reset_calls();
         r.port->fail_next(3, test::conflict_failure(), "patch");
         return r.st.on_flush(false, t0);
       },
       retry(500ms), 6, // each conflict: the patch and a re-read
       [](const rig& r) { BOOST_TEST(r.st.conflicts == 3); }},
      {"budget short: a retry when it allows the write, no backoff",
       [](rig& r) {
         auto got = budget_runs_dry(r);
         r.port->reset_calls();
         return got;
       },
       none /* the delay is the budget's: checked below */, 0,
       [](const rig& r) {
         BOOST_TEST(r.st.budget_timer);
         BOOST_TEST(!r.st.retry_scheduled);
         BOOST_TEST(r.st.drifted()); // the change waits, it is not dropped
       }},
      {"a flush while the budget timer is pending: nothing",
       [](rig& r) {
         budget_runs_dry(r);
         r.st.on_desired(upsert(1, 9));
         r.port->reset_calls();
         return r.st.on_flush(false, t0);
       },
       none, 0},
      {"the budget timer fires: it writes what waited",
       [](rig& r) {
         auto waited = budget_runs_dry(r);
         r.port->reset_calls();
         return r.st.on_retry(false, t0 + waited.delay + 1ms);
       },
       none, 1,
       [](const rig& r) {
         BOOST_TEST(!r.st.budget_timer);
         BOOST_TEST(!r.st.drifted());
       }},
      {"too large: not sent, said once, tried again after the backoff",
       [](rig& r) {
         r.port->set_data({{"foreign", std::string(1100 * 1024, 'x')}});
         r.lead();
         return r.st.on_flush(false, t0);
       },
       retry(500ms), 2, // GET, the Warning Event
       [](const rig& r) {
         BOOST_TEST(r.port->warnings().size() == 1u);
         BOOST_TEST(r.port->calls("patch") == 0);
       }},
      {"the watch echoes our own write: nothing",
       [](rig& r) {
         r.published();
         auto cur = *r.port->current();
         return r.st.on_snapshot(published_snapshot::decode(true, cur.resource_version, cur.data));
       },
       none, 0},
      {"a hand edit seen by the watch: flush",
       [](rig& r) {
         r.published();
         auto cur = r.port->edit_data([](auto& d) { d.erase("Node-198.18.0.2"); });
         return r.st.on_snapshot(published_snapshot::decode(true, cur.resource_version, cur.data));
       },
       flush, 0},
      {"an older observation is ignored",
       [](rig& r) {
         r.published();
         return r.st.on_snapshot(published_snapshot::decode(true, "1", {}));
       },
       none, 0, [](const rig& r) { BOOST_TEST(!r.st.drifted()); }},
      {"sync as a follower: nothing, no read", [](rig& r) { return r.st.on_sync(); }, none, 0},
      {"sync finds drift the watch missed: flush",
       [](rig& r) {
         r.published();
         r.port->edit_data([](auto& d) { d["Node-198.18.0.2"] = "198.18.0.99"; });
         r.port->reset_calls();
         return r.st.on_sync();
       },
       flush, 1, [](const rig& r) { BOOST_TEST(r.st.drifted()); }},
      {"sync with nothing drifted: a flush all the same (it will find nothing to write)",
       [](rig& r) {
         r.published();
         return r.st.on_sync();
       },
       flush, 1, [](const rig& r) { BOOST_TEST(!r.st.drifted()); }},
      {"sync whose read fails: nothing",
       [](rig& r) {
         r.published();
         r.port->edit_data([](auto& d) { d.clear(); });
         r.port->reset_calls();
         r.port->fail_next(1, test::transport_failure("down"), "get");
         return r.st.on_sync();
       },
       none, 1},
      {"an entry that moved: its old keys go, the new ones come, the other node's stay",
       [](rig& r) {
         r.published();
         auto moved = entry(1);
         moved.node_ip = *net::ip_address::parse("198.51.100.9");
         r.st.on_desired(full(1, {1, 2}));
         return r.st.on_desired({.term = 1, .full = false, .upserted = {moved}, .removed = {}});
       },
       none, 0,
       [](const rig& r) {
         BOOST_TEST(r.st.own.count("Node-198.18.0.2") == 0u);
         BOOST_TEST(r.st.own.count("Node-198.51.100.9") == 1u);
         BOOST_TEST(r.st.own.count("Node-198.18.0.3") == 1u);
         BOOST_TEST(r.st.entry_keys.size() == 2u);
       }},
      {"a withdrawn entry leaves no key behind: own is the fixed keys again",
       [](rig& r) {
         r.published();
         return r.st.on_desired({.term = 1, .full = false, .upserted = {}, .removed = {"node-1"}});
       },
       flush, 0,
       [](const rig& r) {
         BOOST_TEST(r.st.own == r.st.fixed);
         BOOST_TEST(r.st.entry_keys.empty());
       }},
      {"a full set equal to what is held marks nothing unpublished; a changed one marks it",
       [](rig& r) {
         r.published();
         r.st.unpublished.clear();
         r.st.on_desired(full(1, {1}));
         BOOST_TEST(r.st.unpublished.empty());
         r.st.flush_scheduled = false; // that flush taken: the next decision is the changed set's
         auto moved = entry(1);
         moved.overlay_ip = *net::ip_address::parse("10.200.9.9");
         return r.st.on_desired({.term = 1, .full = true, .upserted = {moved}, .removed = {}});
       },
       flush, 0, [](const rig& r) { BOOST_TEST(r.st.unpublished.count("node-1") == 1u); }},
      {"losing the lead drops what is held: nothing to flush",
       [](rig& r) {
         r.lead();
         return r.st.on_leadership(false, 1);
       },
       none, 0, [](const rig& r) { BOOST_TEST(r.st.entry_keys.empty()); }},
  };
}

} // namespace

BOOST_AUTO_TEST_SUITE(publisher_state_decisions)

BOOST_AUTO_TEST_CASE(each_handler_says_what_to_send) {
  for (const auto& r : rows()) {
    BOOST_TEST_CONTEXT(r.what) {
      rig g;
      auto got = r.run(g);
      if (std::string_view(r.what).starts_with("budget short")) {
        BOOST_TEST((got.what == kind::retry));
        BOOST_TEST((got.delay > 0s && got.delay <= 10s));
      } else {
        BOOST_TEST((got.what == r.want.what));
        BOOST_TEST((got.delay == r.want.delay));
      }
      BOOST_TEST(g.port->total_calls() == r.api_calls);
      if (r.check)
        r.check(g);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
