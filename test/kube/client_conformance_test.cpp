// What the real kube-apiserver v1.37 does where the client depends on it, checked with the
// client's own calls against the real server (KCR_TEST_API=real) and, with the same
// expectations, against the fake (test/fakeapi; its README lists these facts). Where the two
// differ on purpose (a watch from a compacted RV), the case says so.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "kube/api_client.hpp"
#include "kube/http_connection.hpp"
#include "test/kube/api_under_test.hpp"

namespace json = boost::json;
using namespace kcr::kube;
using kcr::test::api_under_test;
using kcr::test::contains;
using kcr::test::expect_api_error;
using kcr::test::ok;
using kcr::test::rv_of;
using kcr::test::str;
using namespace std::chrono_literals;

namespace {

json::object configmap(const std::string& name, json::object data) {
  return {{"metadata", {{"name", name}, {"namespace", "kube-system"}}}, {"data", std::move(data)}};
}

// One watch, every event recorded ("ADDED node-1", "BOOKMARK", "BOOKMARK initial-events-end",
// "ERROR 410 Expired"), until the server ends it.
struct watched {
  std::vector<std::string> events;
  std::vector<watch_event> raw;
};

std::string describe(const watch_event& ev) {
  std::string s(to_string(ev.type));
  if (ev.type == watch_event_type::error)
    return s + " " + std::to_string(ev.status_code()) + " " + ev.status_reason();
  if (ev.type == watch_event_type::bookmark)
    return ev.initial_events_end() ? s + " initial-events-end" : s;
  return s + " " + str(ev.object.at("metadata").as_object().at("name"));
}

watched watch_all(api_client& c, const resource_ref& r, const watch_options& o) {
  watched w;
  ok(c.watch(r, o, [&](watch_event&& ev) {
    w.events.push_back(describe(ev));
    w.raw.push_back(std::move(ev));
    return true;
  }));
  return w;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v)
    s += (s.empty() ? "" : ", ") + x;
  return s;
}

} // namespace

BOOST_AUTO_TEST_CASE(list_from_resource_version_0_ignores_limit) {
  // RV=0: "any version", served from the watch cache in one page whatever the limit.
  api_under_test srv;
  srv.add_nodes(5, "rv0-");
  api_client c(srv.config());
  auto page = ok(c.call("GET", "/api/v1/nodes?limit=2&resourceVersion=0", "list", "nodes"));
  BOOST_TEST(page.at("items").as_array().size() == 5u);
  BOOST_TEST(!page.at("metadata").as_object().contains("continue"));
  auto list = ok(c.list(resource_ref::nodes(), 2, "0"));
  BOOST_TEST(list.items.size() == 5u);
  BOOST_TEST(!list.resource_version.empty());
  // Without RV the limit holds: pages.
  page = ok(c.call("GET", "/api/v1/nodes?limit=2", "list", "nodes"));
  BOOST_TEST(page.at("items").as_array().size() == 2u);
  BOOST_TEST(!str(page.at("metadata").at("continue")).empty());
}

BOOST_AUTO_TEST_CASE(watch_from_now_sends_synthetic_added_then_bookmarks) {
  api_under_test srv;
  srv.add_nodes(3, "w-");
  api_client c(srv.config());
  // RV unset and RV 0: synthetic ADDED for what exists, then (v1.37, even without
  // sendInitialEvents) a BOOKMARK annotated k8s.io/initial-events-end with the list's RV.
  for (const char* rv : {"", "0"}) {
    BOOST_TEST_CONTEXT("resourceVersion \"" << rv << "\"") {
      auto w = watch_all(c, resource_ref::nodes(), {rv, 3s, true});
      BOOST_TEST_MESSAGE("watch RV \"" << rv << "\": " << joined(w.events));
      BOOST_TEST_REQUIRE(w.events.size() >= 4u);
      BOOST_TEST((std::vector<std::string>(w.events.begin(), w.events.begin() + 4) ==
                  std::vector<std::string>{"ADDED w-0000", "ADDED w-0001", "ADDED w-0002",
                                           "BOOKMARK initial-events-end"}));
      BOOST_TEST(!w.raw[3].resource_version().empty());
    }
  }
  // Without bookmarks: only the ADDED burst.
  auto w = watch_all(c, resource_ref::nodes(), {"", 2s, false});
  BOOST_TEST(w.events.size() == 3u, joined(w.events));

  // RV = the list's: only changes after it. Bookmarks come only once there is an RV newer than
  // the watch's (none on a quiet cluster, so none is required here) and may repeat an RV.
  auto list = ok(c.list_nodes());
  srv.add_node("w-after");
  w = watch_all(c, resource_ref::nodes(), {list.resource_version, 3s, true});
  BOOST_TEST_MESSAGE("watch RV=list: " << joined(w.events));
  BOOST_TEST_REQUIRE(!w.events.empty());
  BOOST_TEST(w.events[0] == "ADDED w-after");
  auto start = std::stoll(list.resource_version), last = start;
  for (const auto& ev : w.raw) {
    auto rv = std::stoll(ev.resource_version());
    BOOST_TEST(rv > start, joined(w.events));
    BOOST_TEST(rv >= last, joined(w.events)); // never backwards
    if (ev.type != watch_event_type::bookmark)
      BOOST_TEST(rv > last, joined(w.events)); // each change its own RV
    last = rv;
  }
}

BOOST_AUTO_TEST_CASE(send_initial_events_ends_with_the_initial_events_end_bookmark) {
  // The WatchList protocol (client-go's streaming list): sendInitialEvents=true with
  // resourceVersionMatch=NotOlderThan and bookmarks; the burst ends with a BOOKMARK annotated
  // k8s.io/initial-events-end whose RV is the list's. Read with the client's own decoder.
  api_under_test srv;
  srv.add_nodes(2, "si-");
  http_connection conn(srv.config());
  watch_decoder dec;
  std::vector<std::string> events;
  std::string end_rv;
  auto resp = conn.stream({"GET",
                           "/api/v1/nodes?watch=true&sendInitialEvents=true&"
                           "resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&"
                           // RV unset: a consistent read; the watch cache may first have to
                           // catch up with etcd, so leave it time on a busy machine.
                           "timeoutSeconds=5",
                           "", "", "nodes"},
                          20s, [&](std::string_view data) {
                            dec.feed(data, [&](watch_event&& ev) {
                              events.push_back(describe(ev));
                              if (ev.initial_events_end())
                                end_rv = ev.resource_version();
                            });
                            return true;
                          });
  BOOST_TEST(resp.status == 200);
  BOOST_TEST_MESSAGE("sendInitialEvents: " << joined(events));
  BOOST_TEST_REQUIRE(events.size() >= 3u);
  BOOST_TEST(events[0] == "ADDED si-0000");
  BOOST_TEST(events[1] == "ADDED si-0001");
  BOOST_TEST(events[2] == "BOOKMARK initial-events-end");
  BOOST_TEST(!end_rv.empty());
}

BOOST_AUTO_TEST_CASE(conditional_merge_patch_with_stale_resource_version_conflicts) {
  api_under_test srv;
  api_client c(srv.config());
  auto cm = ok(c.create_configmap("kube-system", configmap("kcr-patch", {{"a", "1"}})));
  auto rv1 = rv_of(cm);
  const std::string path = "/api/v1/namespaces/kube-system/configmaps/kcr-patch";
  auto patched = ok(c.call("PATCH", path, "patch", "configmaps",
                           R"({"metadata":{"resourceVersion":")" + rv1 + R"("},"data":{"b":"2"}})",
                           "application/merge-patch+json"));
  BOOST_TEST(str(patched.at("kind")) == "ConfigMap"); // the answer is the whole object
  BOOST_TEST(str(patched.at("data").at("a")) == "1");
  BOOST_TEST(str(patched.at("data").at("b")) == "2");
  auto e = expect_api_error([&] {
    return c.call("PATCH", path, "patch", "configmaps",
                  R"({"metadata":{"resourceVersion":")" + rv1 + R"("},"data":{"c":"3"}})",
                  "application/merge-patch+json");
  });
  BOOST_TEST(e.is_conflict());
  BOOST_TEST(e.reason == "Conflict");
  BOOST_TEST(e.message ==
             "Operation cannot be fulfilled on configmaps \"kcr-patch\": the object has been "
             "modified; please apply your changes to the latest version and try again");
  // A patch with null deletes the key (RFC 7386).
  patched = ok(c.call("PATCH", path, "patch", "configmaps", R"({"data":{"a":null}})",
                      "application/merge-patch+json"));
  BOOST_TEST(!patched.at("data").as_object().contains("a"));
}

BOOST_AUTO_TEST_CASE(configmap_values_over_1_mib_are_invalid) {
  api_under_test srv;
  api_client c(srv.config());
  json::object data{{"a", std::string(600000, 'x')}, {"b", std::string(600000, 'y')}};
  auto e = expect_api_error(
      [&] { return c.create_configmap("kube-system", configmap("kcr-big", data)); });
  BOOST_TEST(e.code == 422);
  BOOST_TEST(e.reason == "Invalid");
  BOOST_TEST_MESSAGE("values over 1 MiB: " << e.message);
  BOOST_TEST(contains(e.message, "ConfigMap \"kcr-big\" is invalid: "), e.message);
  BOOST_TEST(contains(e.message, "Too long: may not be more than 1048576 bytes"), e.message);
}

BOOST_AUTO_TEST_CASE(after_compaction_lists_at_old_rvs_expire) {
  api_under_test srv;
  srv.add_nodes(3, "cp-");
  api_client c(srv.config());
  auto page = ok(c.call("GET", "/api/v1/nodes?limit=1", "list", "nodes"));
  auto old_rv = str(page.at("metadata").at("resourceVersion"));
  auto cont = str(page.at("metadata").at("continue"));
  srv.add_node("cp-after");
  srv.expire_history(); // real: etcd compacted and the API server has noticed

  // An exact list at the old RV, and a paged one from it (read at that RV): 410 Expired.
  for (const char* q :
       {"resourceVersionMatch=Exact&resourceVersion=", "limit=2&resourceVersion="}) {
    auto e = expect_api_error(
        [&] { return c.call("GET", "/api/v1/nodes?" + std::string(q) + old_rv, "list", "nodes"); });
    BOOST_TEST(e.code == 410, q);
    BOOST_TEST(e.reason == "Expired");
    BOOST_TEST(e.message == "The resourceVersion for the provided list is too old.");
  }
  // The expired continue: 410 Expired, and list() starts over and gets everything.
  auto e = expect_api_error([&] {
    return c.call("GET", "/api/v1/nodes?limit=1&continue=" + url_encode(cont), "list", "nodes");
  });
  BOOST_TEST(e.is_expired());
  BOOST_TEST(contains(e.message, "The provided continue parameter is too old to display a "
                                 "consistent list result. You can start a new list without the "
                                 "continue parameter, or use the continue token in this "
                                 "response"),
             e.message);
  // "Not older than" without a limit: any newer state will do.
  BOOST_TEST(ok(c.list(resource_ref::nodes(), 0, old_rv)).items.size() == 4u);
  BOOST_TEST(ok(c.list_nodes(2)).items.size() == 4u);

  // A watch from the old RV: the real server still serves it from its watch cache (events in
  // its window survive an etcd compaction); the fake's `expire` empties its window, the way
  // the real cache does when its window moves on: ERROR 410 Expired, then the end.
  auto w = watch_all(c, resource_ref::nodes(), {old_rv, 2s, false});
  BOOST_TEST_MESSAGE("watch from a compacted RV: " << joined(w.events));
  if (srv.real()) {
    BOOST_TEST(w.events == std::vector<std::string>{"ADDED cp-after"}, joined(w.events));
  } else {
    BOOST_TEST(w.events == std::vector<std::string>{"ERROR 410 Expired"}, joined(w.events));
    BOOST_TEST_REQUIRE(w.raw.size() == 1u);
    BOOST_TEST(w.raw[0].is_expired());
    BOOST_TEST(contains(w.raw[0].status_message(), "too old resource version: "));
  }
}

BOOST_AUTO_TEST_CASE(object_over_etcds_request_limit_is_a_500) {
  // Values under 1 MiB (validation passes) but keys + values over etcd's 1.5 MiB: 2800 keys of
  // 250 characters with 357-byte values, ~1.7 MB stored. etcd refuses the write and
  // kube-apiserver answers 500 with etcd's message and no reason; nothing is stored.
  api_under_test srv;
  api_client c(srv.config());
  json::object data;
  for (int i = 0; i < 2800; ++i) {
    char prefix[16];
    std::snprintf(prefix, sizeof prefix, "k%05d-", i);
    data[prefix + std::string(243, 'z')] = std::string(357, 'v');
  }
  auto e = expect_api_error(
      [&] { return c.create_configmap("kube-system", configmap("kcr-huge", data)); });
  BOOST_TEST(e.code == 500);
  BOOST_TEST(e.reason == "");
  BOOST_TEST(e.message == "etcdserver: request is too large");
  BOOST_TEST(
      expect_api_error([&] { return c.get_configmap("kube-system", "kcr-huge"); }).is_not_found());

  // Through an update too: a small object grown past the limit.
  auto small = ok(c.create_configmap("kube-system", configmap("kcr-grows", {{"a", "1"}})));
  small["data"] = data;
  e = expect_api_error([&] { return c.update_configmap("kube-system", small); });
  BOOST_TEST(e.code == 500);
  BOOST_TEST(e.message == "etcdserver: request is too large");
}

namespace {

// metadata.managedFields of an answer ([] when absent).
json::array managed_fields(const json::object& o) {
  auto& md = o.at("metadata").as_object();
  return md.contains("managedFields") ? md.at("managedFields").as_array() : json::array{};
}

// `count` keys of 207 characters from `from` on, each with a 100-byte value.
void add_long_keys(json::object& data, int from, int count) {
  for (int i = from; i < from + count; ++i) {
    char prefix[16];
    std::snprintf(prefix, sizeof prefix, "k%05d-", i);
    data[prefix + std::string(200, 'z')] = std::string(100, 'v');
  }
}

} // namespace

BOOST_AUTO_TEST_CASE(managed_fields_record_every_key_until_dropped_for_size) {
  api_under_test srv;
  api_client c(srv.config());
  // Our User-Agent names the manager; its entry lists every key it wrote.
  auto cm = ok(c.create_configmap("kube-system", configmap("kcr-mf", {{"a", "1"}})));
  auto mf = managed_fields(cm);
  BOOST_TEST_REQUIRE(mf.size() == 1u);
  BOOST_TEST(str(mf[0].at("manager")) == "kube-chorus-router");
  BOOST_TEST(str(mf[0].at("operation")) == "Update");
  BOOST_TEST(str(mf[0].at("fieldsType")) == "FieldsV1");
  cm["data"].as_object()["b"] = "2";
  cm = ok(c.update_configmap("kube-system", cm));
  auto fields = json::serialize(managed_fields(cm).at(0).at("fieldsV1"));
  BOOST_TEST(contains(fields, R"("f:a":{})"), fields);
  BOOST_TEST(contains(fields, R"("f:b":{})"), fields);
  // [{}] strips them, and Update operations never record any again.
  cm["metadata"].as_object()["managedFields"] = json::array{json::object{}};
  cm = ok(c.update_configmap("kube-system", cm));
  BOOST_TEST(managed_fields(cm).empty());
  cm["data"].as_object()["c"] = "3";
  cm = ok(c.update_configmap("kube-system", cm));
  BOOST_TEST(managed_fields(cm).empty());

  // Growth: 2500 long keys (~0.8 MB of data) carry ~0.54 MB of managedFields; at 3000 keys
  // object + managedFields would pass etcd's limit, so the server stores the object without
  // them (the write succeeds), for good; at 5000 keys the data alone is too large: 500.
  json::object data;
  add_long_keys(data, 0, 2500);
  auto grow = ok(c.create_configmap("kube-system", configmap("kcr-mf-grow", data)));
  BOOST_TEST(json::serialize(managed_fields(grow)).size() > 500000u);
  add_long_keys(grow["data"].as_object(), 2500, 500);
  grow = ok(c.update_configmap("kube-system", grow));
  BOOST_TEST(grow.at("data").as_object().size() == 3000u);
  BOOST_TEST(managed_fields(grow).empty());
  add_long_keys(grow["data"].as_object(), 3000, 1500);
  grow = ok(c.update_configmap("kube-system", grow));
  BOOST_TEST(managed_fields(grow).empty()); // not regrown
  add_long_keys(grow["data"].as_object(), 4500, 500);
  auto e = expect_api_error([&] { return c.update_configmap("kube-system", grow); });
  BOOST_TEST(e.code == 500);
  BOOST_TEST(e.message == "etcdserver: request is too large");
}

BOOST_AUTO_TEST_CASE(lease_acquire_renew_release) {
  // The leader-election sequence of kube-api-facts.md, with the client's lease calls.
  api_under_test srv;
  api_client a(srv.config()), b(srv.config());
  const std::string ns = "kube-system", name = "kcr-leader";
  BOOST_TEST(expect_api_error([&] { return a.get_lease(ns, name); }).is_not_found());
  json::object lease{{"metadata", {{"name", name}, {"namespace", ns}}},
                     {"spec",
                      {{"holderIdentity", "node-a_1"},
                       {"leaseDurationSeconds", 15},
                       {"acquireTime", "2025-01-01T10:00:00.000000Z"},
                       {"renewTime", "2025-01-01T10:00:00.000000Z"},
                       {"leaseTransitions", 0}}}};
  auto held = ok(a.create_lease(ns, lease));
  // The loser of the race to create.
  BOOST_TEST(expect_api_error([&] { return b.create_lease(ns, lease); }).is_already_exists());
  // Renew: PUT with the RV read, microsecond times kept as sent.
  held["spec"].as_object()["renewTime"] = "2025-01-01T10:00:02.455032Z";
  auto renewed = ok(a.update_lease(ns, held));
  BOOST_TEST(str(renewed.at("spec").at("renewTime")) == "2025-01-01T10:00:02.455032Z");
  BOOST_TEST(rv_of(renewed) != rv_of(held));
  // A candidate with the old record loses the CAS.
  auto stale = held;
  stale["spec"].as_object()["holderIdentity"] = "node-b_2";
  BOOST_TEST(expect_api_error([&] { return b.update_lease(ns, stale); }).is_conflict());
  // Release on shutdown: holder "" and a 1 s duration.
  renewed["spec"].as_object()["holderIdentity"] = "";
  renewed["spec"].as_object()["leaseDurationSeconds"] = 1;
  auto released = ok(a.update_lease(ns, renewed));
  BOOST_TEST(str(released.at("spec").at("holderIdentity")) == "");
  BOOST_TEST(released.at("spec").at("leaseDurationSeconds").to_number<int>() == 1);
  // Taken over by b from the fresh record: transitions + 1.
  auto fresh = ok(b.get_lease(ns, name));
  fresh["spec"].as_object()["holderIdentity"] = "node-b_2";
  fresh["spec"].as_object()["leaseTransitions"] = 1;
  auto taken = ok(b.update_lease(ns, fresh));
  BOOST_TEST(str(taken.at("spec").at("holderIdentity")) == "node-b_2");
  BOOST_TEST(taken.at("spec").at("leaseTransitions").to_number<int>() == 1);
}

BOOST_AUTO_TEST_CASE(unauthorized_body_and_token_file_reread) {
  // The fake needs TLS and a token list to authenticate at all; the real server always does.
  api_under_test srv({"--token", "good"}, true);
  auto cfg = srv.real() ? srv.real_server().config("not-a-valid-token")
                        : srv.fake().config("not-a-valid-token");
  char tmpl[] = "/tmp/kcr-token-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::ofstream(dir + "/token") << "not-a-valid-token\n";
  cfg->token = token_source::from_file(dir + "/token");
  api_client c(cfg);
  auto e = expect_api_error([&] { return c.list_nodes(); });
  BOOST_TEST(e.code == 401);
  BOOST_TEST(e.reason == "Unauthorized");
  BOOST_TEST(e.message == "Unauthorized");
  BOOST_TEST(cfg->token->reads() == 2u); // re-read once after the 401, still refused
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(forbidden_body_names_the_service_account) {
  // The fake's token user is kube-system:kube-chorus-router; on the real server a
  // TokenRequest token of that (fresh, unbound) ServiceAccount.
  api_under_test srv({"--forbid", "list:nodes", "--forbid", "get:configmaps", "--token", "t"},
                     true);
  auto cfg = srv.real() ? srv.real_server().config(srv.real_server().token("kube-chorus-router"))
                        : srv.fake().config("t");
  api_client c(cfg);
  const std::string user = "User \"system:serviceaccount:kube-system:kube-chorus-router\"";
  auto e = expect_api_error([&] { return c.list_nodes(); });
  BOOST_TEST(e.code == 403);
  BOOST_TEST(e.reason == "Forbidden");
  BOOST_TEST(e.message == "nodes is forbidden: " + user +
                              " cannot list resource \"nodes\" in API group \"\" at the cluster "
                              "scope");
  e = expect_api_error([&] { return c.get_configmap("kube-system", "kcr"); });
  BOOST_TEST(e.message == "configmaps \"kcr\" is forbidden: " + user +
                              " cannot get resource \"configmaps\" in API group \"\" in the "
                              "namespace \"kube-system\"");
}
