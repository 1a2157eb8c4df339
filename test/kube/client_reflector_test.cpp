// reflector against the fake API server: events across chunks, relists on 410, resume after
// cut-offs and timeouts, backoff through faults, RBAC errors, prompt stop.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "kube/reflector.hpp"
#include "test/kube/fake_apiserver_process.hpp"

namespace json = boost::json;
using namespace kcr::kube;
using kcr::test::fake_apiserver;
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
            }};
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

BOOST_AUTO_TEST_CASE(events_split_across_chunks_and_coalesced) {
  std::vector<std::vector<std::string>> variants = {{"--watch-chunk-bytes", "7"},
                                                    {"--coalesce-events"}};
  for (const auto& args : variants) {
    BOOST_TEST_CONTEXT(args[0]) {
      auto a = args;
      a.insert(a.end(), {"--seed-nodes", "3"});
      fake_apiserver fake(a);
      recorder rec;
      reflector r(fake.config(), fast_options(), rec.callbacks());
      r.start();
      BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return !x.list_sizes.empty(); }));
      BOOST_TEST(rec.list_sizes[0] == 3u);
      add_node(fake, "extra");
      fake.control("PATCH", "/nodes/extra", json::object{{"metadata", {{"labels", {{"a", "b"}}}}}});
      fake.control("DELETE", "/nodes/node-0000");
      fake.control("POST", "/nodes/bulk", json::object{{"count", 20}, {"prefix", "bulk-"}});
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

BOOST_AUTO_TEST_CASE(expired_watch_relists_error_event_and_http_410) {
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

BOOST_AUTO_TEST_CASE(cut_mid_event_resumes_without_loss_or_duplicates) {
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
  fake_apiserver fake;
  recorder rec;
  auto o = fast_options();
  o.min_watch_timeout = o.max_watch_timeout = 1s;
  o.min_watch_duration = 300ms;
  reflector r(fake.config(), o, rec.callbacks());
  r.start();
  BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return !x.list_sizes.empty(); }));
  for (int i = 0; i < 5; ++i) {
    add_node(fake, std::string("n").append(std::to_string(i)));
    std::this_thread::sleep_for(500ms);
  }
  BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return x.events.size() >= 5u; }));
  std::this_thread::sleep_for(1200ms); // one more full watch, so the fake has logged it
  r.stop();
  BOOST_TEST(rec.events_copy().size() == 5u);
  BOOST_TEST(r.stats().relists == 0u);
  BOOST_TEST(r.stats().watch_restarts >= 2u);
  // The fake saw watches resuming from advancing resource versions.
  std::vector<long> rvs;
  for (const auto& req : fake.requests()) {
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

BOOST_AUTO_TEST_CASE(faults_500_429_and_refused_back_off_and_recover) {
  fake_apiserver fake({"--seed-nodes", "1"});
  fake.fault({{"fail", {{"status", 500}, {"count", 3}, {"path_prefix", "/api/v1/nodes"}}}});
  recorder rec;
  reflector r(fake.config(), fast_options(), rec.callbacks());
  auto t0 = std::chrono::steady_clock::now();
  r.start();
  BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return !x.list_sizes.empty(); }));
  BOOST_TEST(rec.errors.size() == 3u);
  // Backoff: 50 + 100 + 200 ms at least (jitter only adds).
  BOOST_TEST((std::chrono::steady_clock::now() - t0 >= 350ms));

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

BOOST_AUTO_TEST_CASE(forbidden_reports_rbac_hint_and_keeps_trying) {
  fake_apiserver fake({"--forbid", "list:nodes"});
  recorder rec;
  auto o = fast_options();
  reflector r(fake.config(), o, rec.callbacks());
  r.start();
  BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return x.errors.size() >= 2u; }));
  BOOST_TEST(rec.errors[0].find("list nodes") != std::string::npos, rec.errors[0]);
  BOOST_TEST(rec.errors[0].find("RBAC") != std::string::npos, rec.errors[0]);
  fake.control("POST", "/forbid", json::object{{"rules", json::array{}}});
  BOOST_TEST(rec.wait([](auto& x) { return !x.list_sizes.empty(); }));
}

BOOST_AUTO_TEST_CASE(stop_is_prompt_while_watching_and_while_backing_off) {
  fake_apiserver fake({"--forbid", "list:configmaps"});
  {
    recorder rec;
    reflector r(fake.config(), fast_options(), rec.callbacks());
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
      reflector r(fake.config(), o, rec.callbacks());
      r.start();
      BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return !x.errors.empty(); }));
    } // the destructor stops and joins
    BOOST_TEST((std::chrono::steady_clock::now() - t0 < 2s));
  }
}

BOOST_AUTO_TEST_CASE(one_configmap_by_name) {
  fake_apiserver fake;
  recorder rec;
  reflector r(fake.config(), fast_options(resource_ref::configmap("kube-system", "kcr")),
              rec.callbacks());
  r.start();
  BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return !x.list_sizes.empty(); }));
  BOOST_TEST(rec.list_sizes[0] == 0u);
  for (const char* n : {"other", "kcr"})
    fake.control("POST", "/configmaps",
                 json::object{{"metadata", {{"name", n}, {"namespace", "kube-system"}}}});
  BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return !x.events.empty(); }));
  std::this_thread::sleep_for(200ms);
  BOOST_TEST(rec.events_copy() == std::vector<std::string>{"ADDED kcr"});
  auto reqs = fake.requests();
  bool selected = false;
  for (const auto& q : reqs)
    selected |= std::string(q.at("query").as_string()).find("fieldSelector=metadata.name%3Dkcr") !=
                std::string::npos;
  BOOST_TEST(selected);
}

BOOST_AUTO_TEST_CASE(watch_closing_at_once_without_events_relists) {
  fake_apiserver fake({"--bookmark-interval", "60"});
  recorder rec;
  auto o = fast_options();
  o.min_watch_timeout = o.max_watch_timeout = 1s;
  o.min_watch_duration = 3s; // so the 1 s watch counts as "closed at once"
  reflector r(fake.config(), o, rec.callbacks());
  r.start();
  BOOST_TEST_REQUIRE(rec.wait([](auto& x) { return x.list_sizes.size() >= 2u; }));
  BOOST_TEST(r.stats().relists >= 1u);
  BOOST_TEST(rec.errors.at(0).find("without events, relisting") != std::string::npos);
}
