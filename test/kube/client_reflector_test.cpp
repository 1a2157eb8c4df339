// reflector against the fake API server and (KCR_TEST_API=real) the real kube-apiserver: events
// in order, resume after timeouts, RBAC errors, prompt stop; on the fake only: events across
// chunks, relists on 410, cut-offs and backoff through injected faults.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "kube/reflector.hpp"
#include "test/kube/api_under_test.hpp"
#include "test/kube/manual_clock.hpp"

namespace json = boost::json;
using namespace kcr::kube;
using kcr::test::api_under_test;
using kcr::test::fake_apiserver;
using kcr::test::fake_only;
using kcr::test::manual_clock;
using kcr::test::skip_rest_on_real;
using namespace std::chrono_literals;

namespace {

std::string name_of(const json::object& o) {
  return std::string(o.at("metadata").as_object().at("name").as_string());
}

// Records what the reflector reports; tests wait on it.
struct recorder {
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::size_t> list_sizes;
  std::vector<std::string> events; // "ADDED node-1"
  std::vector<std::string> errors;

  reflector_callbacks callbacks() {
    return {[this](std::vector<json::object>&& items, const std::string&) {
              std::lock_guard l(m);
              list_sizes.push_back(items.size());
              cv.notify_all();
            },
            [this](watch_event_type t, const json::object& o) {
              std::lock_guard l(m);
              events.push_back(std::string(to_string(t)) + " " + name_of(o));
              cv.notify_all();
            },
            [this](const std::string& msg) {
              std::lock_guard l(m);
              errors.push_back(msg);
              cv.notify_all();
            },
            {}, // on_list_start: nothing to drop (no on_list_item)
            {}};
  }
  template <class P>
  bool wait(P pred, std::chrono::milliseconds t = 8000ms) {
    std::unique_lock l(m);
    return cv.wait_for(l, t, [&] { return pred(*this); });
  }
  std::vector<std::string> events_copy() {
    std::lock_guard l(m);
    return events;
  }
};

reflector_options fast_options(resource_ref r = resource_ref::nodes()) {
  reflector_options o;
  o.resource = std::move(r);
  o.min_watch_timeout = 30s;
  o.max_watch_timeout = 30s;
  o.retry_backoff.initial = 50ms;
  o.retry_backoff.max = 400ms;
  return o;
}

void add_node(fake_apiserver& f, const std::string& name) {
  f.control("POST", "/nodes", json::object{{"metadata", {{"name", name}}}});
}

int count_of(const std::vector<std::string>& v, const std::string& s) {
  return static_cast<int>(std::count(v.begin(), v.end(), s));
}

} // namespace

BOOST_AUTO_TEST_CASE(events_in_order_split_across_chunks_and_coalesced) {
  // The real server frames as it likes; the fake splits events at 7 bytes and coalesces them.
  std::vector<std::vector<std::string>> variants = {{"--watch-chunk-bytes", "7"},
                                                    {"--coalesce-events"}};
  if (kcr::test::real_api())
    variants = {{"(real kube-apiserver)"}};
  for (const auto& args : variants) {
    BOOST_TEST_CONTEXT(args[0]) {
      auto a = args;
      a.insert(a.end(), {"--seed-nodes", "3"});
      api_under_test srv(a);
      if (srv.real())
        srv.add_nodes(3, "node-");
      recorder rec;
      reflector r(srv.config(), fast_options(), rec.callbacks());
      r.start();
      BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return !x.list_sizes.empty(); }));
      BOOST_TEST(rec.list_sizes[0] == 3u);
      srv.add_node("extra");
      srv.patch_node("extra", json::object{{"metadata", {{"labels", {{"a", "b"}}}}}});
      srv.delete_node("node-0000");
      srv.add_nodes(20, "bulk-");
      BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return x.events.size() >= 23u; }));
      auto ev = rec.events_copy();
      BOOST_TEST(ev.size() == 23u);
      BOOST_TEST(ev[0] == "ADDED extra");
      BOOST_TEST(ev[1] == "MODIFIED extra");
      BOOST_TEST(ev[2] == "DELETED node-0000");
      BOOST_TEST(r.stats().events == 23u);
      BOOST_TEST(r.stats().relists == 0u);
      auto t0 = std::chrono::steady_clock::now();
      r.stop();
      BOOST_TEST((std::chrono::steady_clock::now() - t0 < 1s));
    }
  }
}

BOOST_AUTO_TEST_CASE(expired_watch_relists_error_event_and_http_410,
                     *fake_only("cuts the watch so that the re-watch comes from a compacted RV; "
                                "the real server's 410 is in client_conformance_test")) {
  for (bool http410 : {false, true}) {
    BOOST_TEST_CONTEXT("http 410: " << http410) {
      std::vector<std::string> args{"--seed-nodes", "2"};
      if (http410)
        args.push_back("--expired-as-http-410");
      fake_apiserver fake(args);
      recorder rec;
      reflector r(fake.config(), fast_options(), rec.callbacks());
      r.start();
      BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return !x.list_sizes.empty(); }));
      fake.fault({{"expire", true}});
      fake.fault({{"drop_watches", true}}); // the re-watch from the old RV is too old
      BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return x.list_sizes.size() >= 2u; }));
      BOOST_TEST(rec.list_sizes[1] == 2u);
      BOOST_TEST(r.stats().relists >= 1u);
      add_node(fake, "after-relist");
      BOOST_TEST(rec.wait([](auto& x) { return count_of(x.events, "ADDED after-relist") == 1; }));
    }
  }
}

BOOST_AUTO_TEST_CASE(cut_mid_event_resumes_without_loss_or_duplicates,
                     *fake_only("cuts a watch stream in the middle of an event")) {
  fake_apiserver fake({"--watch-chunk-bytes", "64"});
  recorder rec;
  reflector r(fake.config(), fast_options(), rec.callbacks());
  r.start();
  BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return !x.list_sizes.empty(); }));
  add_node(fake, "before");
  BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return x.events.size() == 1u; }));
  fake.fault({{"drop_mid_event", true}});
  add_node(fake, "cut");
  add_node(fake, "next");
  BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return x.events.size() >= 3u; }));
  std::this_thread::sleep_for(300ms); // would a duplicate still arrive?
  auto ev = rec.events_copy();
  BOOST_TEST(ev == (std::vector<std::string>{"ADDED before", "ADDED cut", "ADDED next"}));
  BOOST_TEST(r.stats().relists == 0u);
  BOOST_TEST(r.stats().watch_restarts >= 1u);
  BOOST_TEST(!rec.errors.empty()); // the cut was reported
}

BOOST_AUTO_TEST_CASE(clean_timeout_resumes_from_the_last_resource_version) {
  api_under_test srv;
  recorder rec;
  auto o = fast_options();
  o.min_watch_timeout = o.max_watch_timeout = 1s;
  o.min_watch_duration = 300ms;
  reflector r(srv.config(), o, rec.callbacks());
  r.start();
  BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return !x.list_sizes.empty(); }));
  for (int i = 0; i < 5; ++i) {
    srv.add_node(std::string("n").append(std::to_string(i)));
    std::this_thread::sleep_for(500ms);
  }
  BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return x.events.size() >= 5u; }));
  std::this_thread::sleep_for(1200ms); // one more full watch, so the fake has logged it
  r.stop();
  BOOST_TEST(rec.events_copy().size() == 5u);
  BOOST_TEST(r.stats().relists == 0u);
  BOOST_TEST(r.stats().watch_restarts >= 2u);
  if (skip_rest_on_real("the resumed watches' RVs are read from the fake's request log"))
    return;
  // The fake saw watches resuming from advancing resource versions.
  std::vector<long> rvs;
  for (const auto& req : srv.fake().requests()) {
    std::string q(req.at("query").as_string());
    auto pos = q.find("resourceVersion=");
    if (q.find("watch=true") == std::string::npos || pos == std::string::npos)
      continue;
    rvs.push_back(std::stol(q.substr(pos + 16)));
    BOOST_TEST(q.find("timeoutSeconds=1") != std::string::npos);
  }
  BOOST_TEST_REQUIRE(rvs.size() >= 3u);
  BOOST_TEST(std::is_sorted(rvs.begin(), rvs.end()));
  BOOST_TEST(rvs.back() > rvs.front());
}

BOOST_AUTO_TEST_CASE(faults_500_429_and_refused_back_off_and_recover,
                     *fake_only("injects 500, 429 and refused connections")) {
  fake_apiserver fake({"--seed-nodes", "1"});
  fake.fault({{"fail", {{"status", 500}, {"count", 3}, {"path_prefix", "/api/v1/nodes"}}}});
  recorder rec;
  auto clock = std::make_shared<manual_clock>();
  auto o = fast_options();
  o.clock = clock;
  reflector r(fake.config(), o, rec.callbacks());
  r.start();
  // Each 500 is followed by one wait, doubling from 50 ms (jitter adds at most 25 %); nothing
  // is retried before the test moves the clock.
  for (std::size_t i = 0; i < 3; ++i) {
    BOOST_TEST_REQUIRE(clock->await_waits(i + 1));
    auto d = clock->waits()[i];
    auto base = std::chrono::milliseconds(50 << i);
    BOOST_TEST((d >= base && d <= base * 5 / 4), "wait " << i << ": " << d.count() << " ms");
    std::this_thread::sleep_for(50ms); // in real time: still waiting, no request
    BOOST_TEST(rec.errors.size() == i + 1);
    BOOST_TEST(rec.list_sizes.empty());
    clock->advance(d);
  }
  BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return !x.list_sizes.empty(); }));
  BOOST_TEST(rec.errors.size() == 3u);
  BOOST_TEST(clock->waits().size() == 3u);
  clock->auto_advance(true); // the rest: recovery, not timing

  fake.fault({{"fail", {{"status", 429}, {"count", 2}, {"path_prefix", "/api/v1/nodes"}}}});
  fake.fault({{"drop_watches", true}});
  add_node(fake, "after-429");
  BOOST_TEST(rec.wait([](auto& x) { return count_of(x.events, "ADDED after-429") == 1; }));
  BOOST_TEST(r.stats().relists == 0u); // 429 re-watches, it does not relist

  fake.fault({{"refuse_seconds", 1.0}});
  std::this_thread::sleep_for(1200ms);
  add_node(fake, "after-refused");
  BOOST_TEST(rec.wait([](auto& x) { return count_of(x.events, "ADDED after-refused") == 1; }));
  BOOST_TEST(r.stats().relists == 0u);
  bool refused = false;
  for (const auto& e : rec.errors)
    refused |= e.find("refused") != std::string::npos;
  BOOST_TEST(refused);
}

BOOST_AUTO_TEST_CASE(a_successful_list_resets_the_backoff,
                     *fake_only("injects 500s and drops the watch")) {
  fake_apiserver fake({"--seed-nodes", "1"});
  fake.fault({{"fail", {{"status", 500}, {"count", 2}, {"path_prefix", "/api/v1/nodes"}}}});
  recorder rec;
  auto clock = std::make_shared<manual_clock>();
  auto o = fast_options();
  o.clock = clock;
  reflector r(fake.config(), o, rec.callbacks());
  r.start();
  for (std::size_t i = 0; i < 2; ++i) {
    BOOST_TEST_REQUIRE(clock->await_waits(i + 1));
    clock->advance(clock->waits()[i]);
  }
  BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return !x.list_sizes.empty(); }));
  // The next failure after the list waits the first delay again, not the third (200 ms).
  fake.fault({{"fail", {{"status", 500}, {"count", 1}, {"path_prefix", "/api/v1/nodes"}}}});
  fake.fault({{"drop_watches", true}});
  BOOST_TEST_REQUIRE(clock->await_waits(3));
  auto w = clock->waits();
  BOOST_TEST((w[0] < 100ms && w[1] >= 100ms && w[2] < 100ms),
             "waits " << w[0].count() << ", " << w[1].count() << ", " << w[2].count() << " ms");
  clock->auto_advance(true);
  clock->advance(w[2]);
  add_node(fake, "after-reset");
  BOOST_TEST(rec.wait([](auto& x) { return count_of(x.events, "ADDED after-reset") == 1; }));
}

BOOST_AUTO_TEST_CASE(forbidden_reports_rbac_hint_and_keeps_trying) {
  // The fake forbids by rule; on the real server a ServiceAccount without bindings, then bound.
  api_under_test srv({"--forbid", "list:nodes"});
  auto cfg = srv.real() ? srv.real_server().config(srv.real_server().token("kcr-reflector-rbac"))
                        : srv.config();
  recorder rec;
  reflector r(cfg, fast_options(), rec.callbacks());
  r.start();
  BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return x.errors.size() >= 2u; }));
  BOOST_TEST(rec.errors[0].find("list nodes: HTTP 403 Forbidden") != std::string::npos,
             rec.errors[0]);
  BOOST_TEST(rec.errors[0].find("RBAC") != std::string::npos, rec.errors[0]);
  if (srv.real())
    srv.real_server().bind_cluster_role("kcr-reflector-rbac", "kube-system", "cluster-admin");
  else
    srv.fake().control("POST", "/forbid", json::object{{"rules", json::array{}}});
  BOOST_TEST(rec.wait([](auto& x) { return !x.list_sizes.empty(); }));
}

BOOST_AUTO_TEST_CASE(stop_is_prompt_while_watching_and_while_backing_off) {
  // Configmaps are forbidden: by rule on the fake, for a ServiceAccount without bindings on the
  // real server.
  api_under_test srv({"--forbid", "list:configmaps"});
  auto forbidden = srv.real() ? srv.real_server().config(srv.real_server().token("kcr-no-rights"))
                              : srv.config();
  {
    recorder rec;
    reflector r(srv.config(), fast_options(), rec.callbacks());
    r.start();
    BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return !x.list_sizes.empty(); }));
    std::this_thread::sleep_for(200ms); // now blocked in the watch
    auto t0 = std::chrono::steady_clock::now();
    r.stop();
    BOOST_TEST((std::chrono::steady_clock::now() - t0 < 1s));
  }
  {
    recorder rec;
    auto o = fast_options(resource_ref::configmap("kube-system", "kcr"));
    o.retry_backoff.initial = 30s; // the first 403 puts it to sleep for 30 s
    o.retry_backoff.max = 30s;
    auto t0 = std::chrono::steady_clock::now();
    {
      reflector r(forbidden, o, rec.callbacks());
      r.start();
      BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return !x.errors.empty(); }));
    } // the destructor stops and joins
    BOOST_TEST((std::chrono::steady_clock::now() - t0 < 2s));
  }
}

BOOST_AUTO_TEST_CASE(one_configmap_by_name) {
  api_under_test srv;
  recorder rec;
  reflector r(srv.config(), fast_options(resource_ref::configmap("kube-system", "kcr-by-name")),
              rec.callbacks());
  r.start();
  BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return !x.list_sizes.empty(); }));
  BOOST_TEST(rec.list_sizes[0] == 0u);
  for (const char* n : {"kcr-by-name-other", "kcr-by-name"})
    srv.add_configmap("kube-system", n);
  BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return !x.events.empty(); }));
  std::this_thread::sleep_for(200ms);
  BOOST_TEST(rec.events_copy() == std::vector<std::string>{"ADDED kcr-by-name"});
  if (skip_rest_on_real("the field selector is read from the fake's request log"))
    return;
  bool selected = false;
  for (const auto& q : srv.fake().requests())
    selected |=
        std::string(q.at("query").as_string()).find("fieldSelector=metadata.name%3Dkcr-by-name") !=
        std::string::npos;
  BOOST_TEST(selected);
}

BOOST_AUTO_TEST_CASE(watch_closing_at_once_without_events_relists) {
  // No bookmark in a 1 s watch: the fake by flag, the real server because it sends none in the
  // last 2 s before the deadline.
  api_under_test srv({"--bookmark-interval", "60"});
  recorder rec;
  auto o = fast_options();
  o.min_watch_timeout = o.max_watch_timeout = 1s;
  o.min_watch_duration = 3s; // so the 1 s watch counts as "closed at once"
  reflector r(srv.config(), o, rec.callbacks());
  r.start();
  BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return x.list_sizes.size() >= 2u; }));
  BOOST_TEST(r.stats().relists >= 1u);
  BOOST_TEST(rec.errors.at(0).find("without events, relisting") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(watch_list_streams_the_list_then_keeps_watching) {
  // sendInitialEvents: the list arrives item by item on the watch that then carries the
  // changes; one request for both, and no list body to hold.
  api_under_test srv({"--seed-nodes", "3"});
  if (srv.real())
    srv.add_nodes(3, "node-");
  recorder rec;
  auto cb = rec.callbacks();
  std::vector<std::string> streamed;
  int starts = 0;
  cb.on_list_start = [&] {
    std::lock_guard l(rec.m);
    ++starts;
    streamed.clear();
  };
  cb.on_list_item = [&](json::object&& o) {
    std::lock_guard l(rec.m);
    streamed.push_back(name_of(o));
  };
  auto o = fast_options();
  o.watch_list = true;
  reflector r(srv.config(), o, cb);
  r.start();
  BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return !x.list_sizes.empty(); }));
  {
    std::lock_guard l(rec.m);
    BOOST_TEST(starts == 1);
    BOOST_TEST(rec.list_sizes[0] == 0u); // all of it went to on_list_item
    BOOST_TEST(streamed.size() == 3u);
  }
  BOOST_TEST(!r.last_resource_version().empty());
  srv.add_node("extra");
  BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return !x.events.empty(); }));
  BOOST_TEST(rec.events_copy() == std::vector<std::string>{"ADDED extra"});
  auto st = r.stats();
  BOOST_TEST(st.lists == 1u);
  BOOST_TEST(st.watches == 1u);
  BOOST_TEST(rec.errors.empty());
}

BOOST_AUTO_TEST_CASE(watch_list_refused_falls_back_to_list,
                     *fake_only("the refusal (422) is the fake's injected fault")) {
  fake_apiserver fake({"--seed-nodes", "2"});
  fake.fault({{"fail", {{"status", 422}, {"count", 1}, {"path_prefix", "/api/v1/nodes"}}}});
  recorder rec;
  auto o = fast_options();
  o.watch_list = true;
  reflector r(fake.config(), o, rec.callbacks());
  r.start();
  auto t0 = std::chrono::steady_clock::now();
  BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return !x.list_sizes.empty(); }));
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < 1s)); // at once, no backoff
  BOOST_TEST(rec.list_sizes[0] == 2u);
  {
    std::lock_guard l(rec.m);
    BOOST_TEST_REQUIRE(rec.errors.size() == 1u);
    BOOST_TEST(rec.errors[0].find("listing with LIST from now on") != std::string::npos);
  }
  add_node(fake, "after-fallback");
  BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return !x.events.empty(); }));
  BOOST_TEST(rec.events_copy() == std::vector<std::string>{"ADDED after-fallback"});
  BOOST_TEST(r.stats().lists == 1u);
  bool plain_list = false;
  for (const auto& q : fake.requests())
    plain_list |= std::string(q.at("query").as_string()).find("watch=") == std::string::npos &&
                  std::string(q.at("path").as_string()) == "/api/v1/nodes";
  BOOST_TEST(plain_list);
}
