// api_client against the fake API server and (KCR_TEST_API=real) the real kube-apiserver:
// paging, CAS, errors, auth, TLS, keep-alive; faults on the fake only.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "kube/api_client.hpp"
#include "test/kube/api_under_test.hpp"

namespace json = boost::json;
using namespace kcr::kube;
using kcr::test::api_under_test;
using kcr::test::contains;
using kcr::test::expect_api_error;
using kcr::test::expect_transport_error;
using kcr::test::fake_apiserver;
using kcr::test::fake_only;
using kcr::test::ok;
using kcr::test::rv_of;
using kcr::test::skip_rest_on_real;
using kcr::test::str;
using namespace std::chrono_literals;

namespace {

json::object configmap(const std::string& name, const std::string& rv = "") {
  json::object md{{"name", name}, {"namespace", "kube-system"}};
  if (!rv.empty())
    md["resourceVersion"] = rv;
  return {{"metadata", md}, {"data", {{"EndpointIP", "192.168.254.254"}}}};
}

} // namespace

BOOST_AUTO_TEST_CASE(list_nodes_in_pages_with_one_resource_version) {
  // 5000 on the fake; on the real server 300 (one POST each), in the same 10 pages.
  const int n = kcr::test::real_api() ? 300 : 5000;
  const std::size_t limit = static_cast<std::size_t>(n / 10);
  api_under_test srv(kcr::test::real_api()
                         ? std::vector<std::string>{}
                         : std::vector<std::string>{"--seed-nodes", std::to_string(n)});
  if (srv.real())
    srv.add_nodes(n, "node-");
  api_client c(srv.config());
  auto list = ok(c.list_nodes(limit));
  BOOST_TEST(list.items.size() == static_cast<std::size_t>(n));
  std::set<std::string> names;
  for (const auto& node : list.items)
    names.insert(str(node.at("metadata").as_object().at("name")));
  BOOST_TEST(names.size() == static_cast<std::size_t>(n));
  BOOST_TEST(!list.resource_version.empty());
  for (const auto& node : list.items)
    BOOST_TEST(!node.contains("kind")); // items carry no kind/apiVersion

  // Every page reports the first page's RV; walk the pages by hand to see it.
  std::string cont, first_rv;
  int pages = 0;
  do {
    auto v = ok(c.call("GET",
                       "/api/v1/nodes?limit=" + std::to_string(limit) +
                           (cont.empty() ? "" : "&continue=" + url_encode(cont)),
                       "list", "nodes"));
    auto& md = v.as_object().at("metadata").as_object();
    if (first_rv.empty())
      first_rv = str(md.at("resourceVersion"));
    BOOST_TEST(str(md.at("resourceVersion")) == first_rv);
    BOOST_TEST(v.as_object().at("items").as_array().size() == limit);
    cont = md.contains("continue") ? str(md.at("continue")) : "";
    ++pages;
  } while (!cont.empty());
  BOOST_TEST(pages == 10);

  // One connection for all of it.
  BOOST_TEST(c.connections_opened() == 1u);
  if (skip_rest_on_real("the User-Agent check reads the fake's request log"))
    return;
  auto reqs = srv.fake().requests(20);
  BOOST_TEST(reqs.size() == 20u);
  for (const auto& r : reqs)
    BOOST_TEST(str(r.at("user_agent")) == "kube-chorus-router/" KCR_VERSION);
}

BOOST_AUTO_TEST_CASE(expired_continue_restarts_the_list) {
  api_under_test srv(kcr::test::real_api() ? std::vector<std::string>{}
                                           : std::vector<std::string>{"--seed-nodes", "2000"});
  if (srv.real())
    srv.add_nodes(3, "node-");
  api_client c(srv.config());
  // By hand: an expired continue token is a 410 Expired.
  auto page = ok(c.call("GET", "/api/v1/nodes?limit=1", "list", "nodes"));
  auto cont = str(page.at("metadata").at("continue"));
  BOOST_TEST_REQUIRE(!cont.empty());
  srv.expire_history();
  auto e = expect_api_error([&] {
    return c.call("GET", "/api/v1/nodes?limit=1&continue=" + url_encode(cont), "list", "nodes");
  });
  BOOST_TEST(e.code == 410);
  BOOST_TEST(e.is_expired());
  BOOST_TEST(e.reason == "Expired");
  BOOST_TEST(contains(e.message, "The provided continue parameter is too old"), e.message);

  if (skip_rest_on_real("expiring the history while list() pages needs the fake's delay fault"))
    return;
  // list() restarts from scratch: expire while it pages (each answer delayed 30 ms).
  auto& fake = srv.fake();
  fake.control("POST", "/faults", json::object{{"delay_ms", 30}});
  fake.clear_requests();
  std::thread expirer([&] {
    std::this_thread::sleep_for(150ms);
    fake.fault({{"expire", true}});
  });
  auto list = ok(c.list_nodes(101)); // 101: tells these requests apart from the ones above
  expirer.join();
  BOOST_TEST(list.items.size() == 2000u);
  int expired = 0, restarts = 0;
  for (const auto& r : fake.requests(22)) {
    if (!contains(str(r.at("query")), "limit=101"))
      continue;
    if (r.at("status").to_number<int>() == 410)
      ++expired;
    else if (!contains(str(r.at("query")), "continue="))
      ++restarts;
  }
  BOOST_TEST(expired == 1, json::serialize(fake.requests()));
  BOOST_TEST(restarts == 2); // the first page, and the first page again after the 410
}

BOOST_AUTO_TEST_CASE(configmap_create_get_update_conflict) {
  api_under_test srv;
  api_client c(srv.config());
  auto created = ok(c.create_configmap("kube-system", configmap("kcr")));
  auto rv1 = rv_of(created);
  BOOST_TEST(!rv1.empty());
  BOOST_TEST(str(created.at("kind")) == "ConfigMap");

  auto exists =
      expect_api_error([&] { return c.create_configmap("kube-system", configmap("kcr")); });
  BOOST_TEST(exists.is_already_exists());
  BOOST_TEST(!exists.is_conflict());
  BOOST_TEST(exists.verb == "create");
  BOOST_TEST(exists.resource == "configmaps");
  BOOST_TEST(exists.message == "configmaps \"kcr\" already exists");

  auto got = ok(c.get_configmap("kube-system", "kcr"));
  BOOST_TEST(rv_of(got) == rv1);
  got["data"].as_object()["Type"] = "VXLAN";
  auto updated = ok(c.update_configmap("kube-system", got));
  BOOST_TEST(rv_of(updated) != rv1);
  BOOST_TEST(str(updated.at("data").at("Type")) == "VXLAN");

  // The stale RV loses: a conflict, reported, not retried.
  auto stale = configmap("kcr", rv1);
  if (!srv.real())
    srv.fake().clear_requests();
  auto sent_before = c.requests_sent();
  auto conflict = expect_api_error([&] { return c.update_configmap("kube-system", stale); });
  BOOST_TEST(conflict.is_conflict());
  BOOST_TEST(conflict.code == 409);
  BOOST_TEST(conflict.message ==
             "Operation cannot be fulfilled on configmaps \"kcr\": the object has been modified; "
             "please apply your changes to the latest version and try again");
  BOOST_TEST(c.requests_sent() == sent_before + 1); // sent once, not retried

  // An update without a resourceVersion is never sent.
  BOOST_CHECK_THROW(ok(c.update_configmap("kube-system", configmap("kcr"))), std::invalid_argument);
  BOOST_TEST(c.requests_sent() == sent_before + 1);

  if (!srv.real()) { // the server's own view of the requests: the fake's log only
    std::this_thread::sleep_for(100ms);
    // (The fake may log the earlier successful PUT late, so count by status.)
    int conflicts = 0, after = 0;
    for (const auto& r : srv.fake().requests(1)) {
      int status = r.at("status").to_number<int>();
      conflicts += status == 409;
      after += conflicts > 0 && status != 409;
    }
    BOOST_TEST(conflicts == 1); // sent once, not retried
    BOOST_TEST(after == 0);     // and nothing after it
  }

  auto missing = expect_api_error([&] { return c.get_configmap("kube-system", "nope"); });
  BOOST_TEST(missing.is_not_found());
  BOOST_TEST(missing.reason == "NotFound");
  BOOST_TEST(missing.message == "configmaps \"nope\" not found");
  BOOST_TEST(c.connections_opened() == 1u);
}

BOOST_AUTO_TEST_CASE(configmap_data_patch_is_conditional_and_escapes) {
  api_under_test srv;
  api_client c(srv.config());
  auto cm = configmap("kcr-patch");
  cm["data"] = json::object{{"keep", "1"}, {"drop", "2"}};
  auto rv1 = rv_of(ok(c.create_configmap("kube-system", cm)));
  std::string odd = "a \"quoted\" \\ value\n";
  auto text = ok(c.patch_configmap_data("kube-system", "kcr-patch", rv1,
                                        {{"drop", std::nullopt}, {"new", odd}}));
  auto patched = json::parse(text).as_object();
  BOOST_TEST(rv_of(patched) != rv1);
  const auto& data = patched.at("data").as_object();
  BOOST_TEST(str(data.at("keep")) == "1");
  BOOST_TEST(str(data.at("new")) == odd);
  BOOST_TEST(!data.contains("drop"));
  // Compare-and-swap: the old resourceVersion loses, and no patch is sent without one.
  auto conflict = expect_api_error([&] {
    return c.patch_configmap_data("kube-system", "kcr-patch", rv1, {{"keep", "2"}});
  });
  BOOST_TEST(conflict.is_conflict());
  BOOST_TEST(conflict.verb == "patch");
  BOOST_CHECK_THROW(ok(c.patch_configmap_data("kube-system", "kcr-patch", "", {{"keep", "2"}})),
                    std::invalid_argument);
  BOOST_TEST(str(ok(c.get_configmap("kube-system", "kcr-patch")).at("data").at("keep")) == "1");
}

BOOST_AUTO_TEST_CASE(lease_compare_and_swap) {
  api_under_test srv;
  api_client c(srv.config());
  BOOST_TEST(
      expect_api_error([&] { return c.get_lease("kube-system", "kcr-cas"); }).is_not_found());
  json::object lease{{"metadata", {{"name", "kcr-cas"}, {"namespace", "kube-system"}}},
                     {"spec", {{"holderIdentity", "node-a_1"}, {"leaseDurationSeconds", 15}}}};
  auto mine = ok(c.create_lease("kube-system", lease));
  BOOST_TEST(str(mine.at("kind")) == "Lease");
  BOOST_TEST(
      expect_api_error([&] { return c.create_lease("kube-system", lease); }).is_already_exists());
  auto theirs = ok(c.get_lease("kube-system", "kcr-cas"));
  theirs["spec"].as_object()["holderIdentity"] = "node-b_2";
  auto renewed = ok(c.update_lease("kube-system", theirs));
  BOOST_TEST(str(renewed.at("spec").at("holderIdentity")) == "node-b_2");
  mine["spec"].as_object()["holderIdentity"] = "node-a_1";
  auto e = expect_api_error([&] { return c.update_lease("kube-system", mine); });
  BOOST_TEST(e.is_conflict());
  BOOST_TEST(contains(e.message, "Operation cannot be fulfilled on leases.coordination.k8s.io "
                                 "\"kcr-cas\": the object has been modified"),
             e.message);
}

BOOST_AUTO_TEST_CASE(event_create_and_patch) {
  api_under_test srv;
  api_client c(srv.config());
  json::object ev{{"metadata", {{"name", "node-1.17f0c3b2a1d2e3f4"}, {"namespace", "default"}}},
                  {"involvedObject", {{"kind", "Node"}, {"name", "node-1"}, {"apiVersion", "v1"}}},
                  {"reason", "OverlayIPAllocated"},
                  {"message", "first"},
                  {"source", {{"component", "kube-chorus-router"}}},
                  {"firstTimestamp", "2025-01-01T10:00:00Z"},
                  {"lastTimestamp", "2025-01-01T10:00:00Z"},
                  {"count", 1},
                  {"type", "Normal"}};
  auto created = ok(c.create_event("default", ev));
  BOOST_TEST(str(created.at("kind")) == "Event");
  BOOST_TEST(created.at("count").to_number<int>() == 1);
  auto patched =
      ok(c.patch_event("default", "node-1.17f0c3b2a1d2e3f4", 2, "2025-01-01T10:05:00Z", "second"));
  BOOST_TEST(patched.at("count").to_number<int>() == 2);
  BOOST_TEST(str(patched.at("message")) == "second");
  BOOST_TEST(str(patched.at("lastTimestamp")) == "2025-01-01T10:05:00Z");
  BOOST_TEST(str(patched.at("reason")) == "OverlayIPAllocated"); // merged, not replaced
  BOOST_TEST(str(patched.at("firstTimestamp")) == "2025-01-01T10:00:00Z");
  BOOST_TEST(rv_of(patched) != rv_of(created));
  auto missing = expect_api_error(
      [&] { return c.patch_event("default", "no-such-event", 2, "2025-01-01T10:05:00Z", "x"); });
  BOOST_TEST(missing.is_not_found());
  BOOST_TEST(missing.message == "events \"no-such-event\" not found");
}

BOOST_AUTO_TEST_CASE(forbidden_carries_verb_and_resource) {
  // The fake forbids by flag (its token user is this ServiceAccount); the real server refuses
  // a ServiceAccount without RBAC bindings.
  api_under_test srv({"--forbid", "update:configmaps", "--token", "t"}, true);
  std::string user = "system:serviceaccount:kube-system:kube-chorus-router";
  auto cfg = srv.real() ? srv.real_server().config(srv.real_server().token("kube-chorus-router"))
                        : srv.fake().config("t");
  api_client admin(srv.real() ? srv.config() : cfg);
  auto cm = ok(admin.create_configmap("kube-system", configmap("kcr-forbidden")));
  api_client c(cfg);
  auto e = expect_api_error([&] { return c.update_configmap("kube-system", cm); });
  BOOST_TEST(e.is_forbidden());
  BOOST_TEST(e.reason == "Forbidden");
  BOOST_TEST(e.verb == "update");
  BOOST_TEST(e.resource == "configmaps");
  BOOST_TEST(contains(e.rbac_hint(), "update configmaps"));
  BOOST_TEST(e.message == "configmaps \"kcr-forbidden\" is forbidden: User \"" + user +
                              "\" cannot update resource \"configmaps\" in API group \"\" in the "
                              "namespace \"kube-system\"");
}

BOOST_AUTO_TEST_CASE(injected_500_and_429_are_api_errors,
                     *fake_only("injects 500 and 429 answers")) {
  fake_apiserver fake;
  api_client c(fake.config());
  fake.fault({{"fail", {{"status", 500}, {"count", 1}, {"path_prefix", "/api/v1/nodes"}}}});
  BOOST_TEST(expect_api_error([&] { return c.list_nodes(); }).code == 500);
  fake.fault({{"fail", {{"status", 429}, {"count", 1}, {"path_prefix", "/api/v1/nodes"}}}});
  BOOST_TEST(expect_api_error([&] { return c.list_nodes(); }).is_too_many_requests());
  BOOST_TEST(ok(c.list_nodes()).items.empty());
  BOOST_TEST(c.connections_opened() == 1u);
}

BOOST_AUTO_TEST_CASE(tls_right_ca_wrong_ca_insecure_server_name_client_cert) {
  // The fake: client certificates turn authentication on (the other cases use no credentials).
  // The real server: the admin client certificate is the credential.
  api_under_test srv({"--make-client-cert", "kcr-test", "--token", "t"}, true);
  auto base = srv.real() ? srv.config() : srv.fake().config("t");
  BOOST_TEST(base->server.tls());
  {
    api_client c(base);
    ok(c.list_nodes());
  }
  {
    // Another fake's CA is the wrong one.
    fake_apiserver other({}, true);
    auto cfg = std::make_shared<client_config>(*base);
    cfg->ca_pem = other.config()->ca_pem;
    api_client wrong(cfg);
    auto msg = expect_transport_error([&] { return wrong.list_nodes(); });
    BOOST_TEST(contains(msg, "TLS verification of " + base->server.to_string() + " failed"), msg);
    BOOST_TEST(contains(msg, "wrong CA"), msg);
  }
  {
    auto cfg = std::make_shared<client_config>(*base);
    cfg->ca_pem.clear();
    cfg->insecure_skip_tls_verify = true;
    api_client c(cfg);
    ok(c.list_nodes());
  }
  {
    auto cfg = std::make_shared<client_config>(*base);
    cfg->tls_server_name = "kubernetes.default.svc"; // a SAN of both servers' certificates
    api_client c(cfg);
    ok(c.list_nodes());
    cfg = std::make_shared<client_config>(*base);
    cfg->tls_server_name = "not-in-the-cert.example";
    api_client wrong(cfg);
    auto msg = expect_transport_error([&] { return wrong.list_nodes(); });
    BOOST_TEST(contains(msg, "TLS verification"), msg);
  }
  {
    // Without credentials the server takes us for system:anonymous: 403, not 401.
    auto cfg = std::make_shared<client_config>(*base);
    cfg->client_cert_pem.clear();
    cfg->client_key_pem.clear();
    cfg->token.reset();
    api_client anonymous(cfg);
    auto e = expect_api_error([&] { return anonymous.list_nodes(); });
    BOOST_TEST(e.code == 403);
    BOOST_TEST(e.message == "nodes is forbidden: User \"system:anonymous\" cannot list resource "
                            "\"nodes\" in API group \"\" at the cluster scope");
  }
  if (skip_rest_on_real("the fake's own client certificate and request log"))
    return; // (on the real server every call above authenticated by certificate)
  auto& fake = srv.fake();
  auto read = [](const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  auto cfg = fake.config();
  cfg->client_cert_pem = read(fake.tls_dir + "/client.crt");
  cfg->client_key_pem = read(fake.tls_dir + "/client.key");
  BOOST_TEST_REQUIRE(!cfg->client_cert_pem.empty());
  api_client c(cfg);
  fake.clear_requests();
  ok(c.list_nodes());
  bool by_cert = false;
  for (const auto& r : fake.requests(1))
    by_cert |= str(r.at("auth")) == "cert" && r.at("status").to_number<int>() == 200;
  BOOST_TEST(by_cert);
}

BOOST_AUTO_TEST_CASE(token_rotation_rereads_the_file_after_401,
                     *fake_only("swaps the accepted tokens on demand (a real token cannot be "
                                "revoked at once); the 401 itself is checked on both")) {
  fake_apiserver fake({"--token", "old-token"}, true);
  auto dir = fake.make_temp_dir();
  std::ofstream(dir + "/token") << "old-token\n";
  auto cfg = fake.config();
  cfg->token = token_source::from_file(dir + "/token");
  api_client c(cfg);
  ok(c.list_nodes());
  BOOST_TEST(str(fake.requests(1).back().at("auth")) == "bearer");

  fake.control("POST", "/tokens", json::object{{"tokens", json::array{"new-token"}}});
  std::ofstream(dir + "/token") << "new-token\n";
  fake.clear_requests();
  BOOST_TEST(ok(c.list_nodes()).items.empty()); // 401, re-read, retried once: success
  // One 401, then the retry with the re-read token succeeds. (The fake may log an earlier
  // request late, so look at the order of statuses from the 401 on.)
  std::vector<int> statuses;
  for (const auto& r : fake.requests(2))
    statuses.push_back(r.at("status").to_number<int>());
  auto first401 = std::find(statuses.begin(), statuses.end(), 401);
  BOOST_TEST_REQUIRE((first401 != statuses.end()));
  BOOST_TEST((std::vector<int>(first401, statuses.end()) == std::vector<int>{401, 200}));
  BOOST_TEST(cfg->token->reads() >= 2u);

  // A wrong token stays a 401 after one retry.
  fake.control("POST", "/tokens", json::object{{"tokens", json::array{"third"}}});
  auto e = expect_api_error([&] { return c.list_nodes(); });
  BOOST_TEST(e.is_unauthorized());
  BOOST_TEST(e.reason == "Unauthorized");
}

BOOST_AUTO_TEST_CASE(credentials_never_go_over_plain_http,
                     *fake_only("the real kube-apiserver serves https only")) {
  fake_apiserver fake;
  api_client c(fake.config("secret-token"));
  ok(c.list_nodes());
  BOOST_TEST(str(fake.requests(1).back().at("auth")) == "none");
}

BOOST_AUTO_TEST_CASE(keep_alive_and_reconnect_after_refused) {
  api_under_test srv;
  api_client c(srv.config());
  for (int i = 0; i < 100; ++i)
    ok(c.list_nodes());
  BOOST_TEST(c.connections_opened() == 1u);
  BOOST_TEST(c.requests_sent() == 100u);
  if (skip_rest_on_real("refusing connections needs the fake's refuse fault"))
    return;

  // The server drops every connection and refuses new ones for a second.
  srv.fake().fault({{"refuse_seconds", 1.0}});
  auto msg = expect_transport_error([&] { return c.list_nodes(); });
  BOOST_TEST(contains(msg, "refused"), msg);
  std::this_thread::sleep_for(1300ms);
  BOOST_TEST(ok(c.list_nodes()).items.empty());
  BOOST_TEST(c.connections_opened() == 2u);
}

BOOST_AUTO_TEST_CASE(stale_kept_alive_connection_is_replaced,
                     *fake_only("closes kept-alive connections server-side on demand")) {
  fake_apiserver fake;
  api_client c(fake.config());
  ok(c.list_nodes());
  // Closing every open connection server-side, as an idle timeout would.
  fake.fault({{"refuse_seconds", 0.1}});
  std::this_thread::sleep_for(400ms);
  BOOST_TEST(ok(c.list_nodes()).items.empty()); // no error: reconnected transparently
  BOOST_TEST(c.connections_opened() == 2u);
}

BOOST_AUTO_TEST_CASE(watch_http_410_is_expired,
                     *fake_only("the real server reports a too-old RV as an ERROR event (see "
                                "client_conformance_test); HTTP 410 is the fake's option")) {
  fake_apiserver fake({"--expired-as-http-410"});
  api_client c(fake.config());
  auto list = ok(c.list_nodes());
  fake.control("POST", "/nodes", json::object{{"metadata", {{"name", "n1"}}}});
  fake.fault({{"expire", true}});
  auto e = expect_api_error([&] {
    return c.watch_nodes({list.resource_version, 10s, true}, [](watch_event&&) { return true; });
  });
  BOOST_TEST(e.code == 410);
  BOOST_TEST(e.is_expired());
  BOOST_TEST(e.verb == "watch");
}

BOOST_AUTO_TEST_CASE(watch_stops_promptly_from_another_thread) {
  api_under_test srv;
  api_client c(srv.config());
  // A watch blocked waiting for events ends promptly when stopped from another thread.
  auto now = ok(c.list_nodes());
  auto t0 = std::chrono::steady_clock::now();
  std::thread stopper([&] {
    std::this_thread::sleep_for(300ms);
    c.stop();
  });
  auto watched =
      c.watch_nodes({now.resource_version, 60s, true}, [](watch_event&&) { return true; });
  BOOST_TEST((!watched && watched.error().is_stopped()));
  stopper.join();
  auto took = std::chrono::steady_clock::now() - t0;
  BOOST_TEST((took < 1s));
  auto listed = c.list_nodes();
  BOOST_TEST((!listed && listed.error().is_stopped()));
}

BOOST_AUTO_TEST_CASE(non_json_error_body_keeps_code_and_text) {
  auto e = make_api_failure(502, "<html>Bad Gateway</html>\n", "list", "nodes");
  BOOST_TEST(e.code == 502);
  BOOST_TEST(e.reason == "");
  BOOST_TEST(e.message == "<html>Bad Gateway</html>");
  BOOST_TEST(contains(e.what(), "list nodes: HTTP 502"));
  BOOST_TEST(url_encode("metadata.name=a b/+") == "metadata.name%3Da%20b%2F%2B");
}

BOOST_AUTO_TEST_CASE(failure_texts_and_kinds) {
  // The texts logs and tests match: what() is api_error::what() of before (request first),
  // describe() the actors' text of before (no request), a failure without an answer its message.
  api_failure conflict{409, "Conflict", "the object has been modified", "patch", "configmaps"};
  BOOST_TEST(conflict.what() ==
             "patch configmaps: HTTP 409 Conflict: the object has been modified");
  BOOST_TEST(conflict.describe() == "HTTP 409 Conflict: the object has been modified");
  BOOST_TEST(conflict.is_answer());
  BOOST_TEST((conflict.is_conflict() && !conflict.is_already_exists()));
  api_failure fake{404, "NotFound", "gone"}; // as the actors' fakes build one: no request
  BOOST_TEST(fake.what() == "HTTP 404 NotFound: gone");
  BOOST_TEST(fake.is_not_found());
  api_failure bare{500, "", "", "list", "nodes"};
  BOOST_TEST(bare.what() == "list nodes: HTTP 500");
  auto refused = api_failure::no_answer("connect to https://192.0.2.1:6443: refused");
  BOOST_TEST((refused.is_transport() && !refused.is_answer() && !refused.is_stopped()));
  BOOST_TEST(refused.code == 0);
  BOOST_TEST(refused.what() == "connect to https://192.0.2.1:6443: refused");
  BOOST_TEST(refused.describe() == refused.what());
  auto stopped = api_failure::stopped();
  BOOST_TEST((stopped.is_stopped() && !stopped.is_transport()));
  BOOST_TEST(stopped.what() == "kubernetes client stopped");
  api_failure forbidden{403, "Forbidden", "no", "update", "configmaps"};
  BOOST_TEST(forbidden.rbac_hint() == "the service account needs RBAC permission to update "
                                      "configmaps (check the ClusterRole/Role bound to it)");
}
