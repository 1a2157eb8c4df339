// api_client against the fake API server: paging, CAS, errors, auth, TLS, keep-alive, faults.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "kube/api_client.hpp"
#include "test/kube/fake_apiserver_process.hpp"

namespace json = boost::json;
using namespace kcr::kube;
using kcr::test::fake_apiserver;
using namespace std::chrono_literals;

namespace {

std::string str(const json::value& v) {
  return v.is_string() ? std::string(v.as_string()) : "";
}

std::string rv_of(const json::object& o) {
  return str(o.at("metadata").as_object().at("resourceVersion"));
}

json::object configmap(const std::string& name, const std::string& rv = "") {
  json::object md{{"name", name}, {"namespace", "kube-system"}};
  if (!rv.empty())
    md["resourceVersion"] = rv;
  return {{"metadata", md}, {"data", {{"EndpointIP", "192.168.254.254"}}}};
}

template <class F>
api_error expect_api_error(F&& f) {
  try {
    f();
  } catch (const api_error& e) {
    return e;
  }
  BOOST_FAIL("expected an api_error");
  throw;
}

std::string expect_transport_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const transport_error& e) {
    return e.what();
  }
  BOOST_FAIL("expected a transport_error");
  return {};
}

bool contains(const std::string& s, const std::string& needle) {
  return s.find(needle) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_CASE(list_5000_nodes_in_pages_with_one_resource_version) {
  fake_apiserver fake({"--seed-nodes", "5000"});
  api_client c(fake.config());
  auto list = c.list_nodes(500);
  BOOST_TEST(list.items.size() == 5000u);
  std::set<std::string> names;
  for (const auto& n : list.items)
    names.insert(str(n.at("metadata").as_object().at("name")));
  BOOST_TEST(names.size() == 5000u);
  BOOST_TEST(!list.resource_version.empty());

  // Every page reports the first page's RV; walk the pages by hand to see it.
  std::string cont, first_rv;
  int pages = 0;
  do {
    auto v = c.call(
        "GET", "/api/v1/nodes?limit=500" + (cont.empty() ? "" : "&continue=" + url_encode(cont)),
        "list", "nodes");
    auto& md = v.as_object().at("metadata").as_object();
    if (first_rv.empty())
      first_rv = str(md.at("resourceVersion"));
    BOOST_TEST(str(md.at("resourceVersion")) == first_rv);
    BOOST_TEST(v.as_object().at("items").as_array().size() == 500u);
    cont = md.contains("continue") ? str(md.at("continue")) : "";
    ++pages;
  } while (!cont.empty());
  BOOST_TEST(pages == 10);

  // One connection for all of it, and every request said who we are.
  BOOST_TEST(c.connections_opened() == 1u);
  auto reqs = fake.requests(20);
  BOOST_TEST(reqs.size() == 20u);
  for (const auto& r : reqs)
    BOOST_TEST(str(r.at("user_agent")) == "kube-chorus-router/" KCR_VERSION);
}

BOOST_AUTO_TEST_CASE(expired_continue_restarts_the_list) {
  fake_apiserver fake({"--seed-nodes", "2000"});
  api_client c(fake.config());
  // By hand: an expired continue token is a 410 Expired.
  auto page = c.call("GET", "/api/v1/nodes?limit=100", "list", "nodes");
  auto cont = str(page.at("metadata").at("continue"));
  fake.fault({{"expire", true}});
  auto e = expect_api_error([&] {
    c.call("GET", "/api/v1/nodes?limit=100&continue=" + url_encode(cont), "list", "nodes");
  });
  BOOST_TEST(e.code == 410);
  BOOST_TEST(e.is_expired());

  // list() restarts from scratch: expire while it pages (each answer delayed 30 ms).
  fake.control("POST", "/faults", json::object{{"delay_ms", 30}});
  fake.clear_requests();
  std::thread expirer([&] {
    std::this_thread::sleep_for(150ms);
    fake.fault({{"expire", true}});
  });
  auto list = c.list_nodes(101); // 101: tells these requests apart from the ones above
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
  fake_apiserver fake;
  api_client c(fake.config());
  auto created = c.create_configmap("kube-system", configmap("kcr"));
  auto rv1 = rv_of(created);
  BOOST_TEST(!rv1.empty());

  auto exists = expect_api_error([&] { c.create_configmap("kube-system", configmap("kcr")); });
  BOOST_TEST(exists.is_already_exists());
  BOOST_TEST(!exists.is_conflict());
  BOOST_TEST(exists.verb == "create");
  BOOST_TEST(exists.resource == "configmaps");

  auto got = c.get_configmap("kube-system", "kcr");
  BOOST_TEST(rv_of(got) == rv1);
  got["data"].as_object()["Type"] = "VXLAN";
  auto updated = c.update_configmap("kube-system", got);
  BOOST_TEST(rv_of(updated) != rv1);
  BOOST_TEST(str(updated.at("data").at("Type")) == "VXLAN");

  // The stale RV loses: a conflict, reported, not retried.
  auto stale = configmap("kcr", rv1);
  fake.clear_requests();
  auto conflict = expect_api_error([&] { c.update_configmap("kube-system", stale); });
  BOOST_TEST(conflict.is_conflict());
  BOOST_TEST(conflict.code == 409);
  BOOST_TEST(contains(conflict.message, "the object has been modified"));

  // An update without a resourceVersion is never sent.
  BOOST_CHECK_THROW(c.update_configmap("kube-system", configmap("kcr")), std::invalid_argument);
  std::this_thread::sleep_for(100ms);
  // (The fake may log the earlier successful PUT late, so count by status.)
  int conflicts = 0, after = 0;
  for (const auto& r : fake.requests(1)) {
    int status = r.at("status").to_number<int>();
    conflicts += status == 409;
    after += conflicts > 0 && status != 409;
  }
  BOOST_TEST(conflicts == 1); // sent once, not retried
  BOOST_TEST(after == 0);     // and nothing after it

  auto missing = expect_api_error([&] { c.get_configmap("kube-system", "nope"); });
  BOOST_TEST(missing.is_not_found());
  BOOST_TEST(missing.reason == "NotFound");
  BOOST_TEST(contains(missing.message, "configmaps \"nope\" not found"));
  BOOST_TEST(c.connections_opened() == 1u);
}

BOOST_AUTO_TEST_CASE(lease_compare_and_swap) {
  fake_apiserver fake;
  api_client c(fake.config());
  BOOST_TEST(expect_api_error([&] { c.get_lease("kube-system", "kcr"); }).is_not_found());
  json::object lease{{"metadata", {{"name", "kcr"}, {"namespace", "kube-system"}}},
                     {"spec", {{"holderIdentity", "node-a_1"}, {"leaseDurationSeconds", 15}}}};
  auto mine = c.create_lease("kube-system", lease);
  BOOST_TEST(str(mine.at("kind")) == "Lease");
  BOOST_TEST(expect_api_error([&] { c.create_lease("kube-system", lease); }).is_already_exists());
  auto theirs = c.get_lease("kube-system", "kcr");
  theirs["spec"].as_object()["holderIdentity"] = "node-b_2";
  auto renewed = c.update_lease("kube-system", theirs);
  BOOST_TEST(str(renewed.at("spec").at("holderIdentity")) == "node-b_2");
  mine["spec"].as_object()["holderIdentity"] = "node-a_1";
  BOOST_TEST(expect_api_error([&] { c.update_lease("kube-system", mine); }).is_conflict());
}

BOOST_AUTO_TEST_CASE(event_create_and_patch) {
  fake_apiserver fake;
  api_client c(fake.config());
  json::object ev{{"metadata", {{"name", "node-1.17f0c3b2a1d2e3f4"}, {"namespace", "default"}}},
                  {"involvedObject", {{"kind", "Node"}, {"name", "node-1"}, {"apiVersion", "v1"}}},
                  {"reason", "OverlayIPAllocated"},
                  {"message", "first"},
                  {"source", {{"component", "kube-chorus-router"}}},
                  {"firstTimestamp", "2025-01-01T10:00:00Z"},
                  {"lastTimestamp", "2025-01-01T10:00:00Z"},
                  {"count", 1},
                  {"type", "Normal"}};
  c.create_event("default", ev);
  auto patched =
      c.patch_event("default", "node-1.17f0c3b2a1d2e3f4", 2, "2025-01-01T10:05:00Z", "second");
  BOOST_TEST(patched.at("count").to_number<int>() == 2);
  BOOST_TEST(str(patched.at("message")) == "second");
  BOOST_TEST(str(patched.at("lastTimestamp")) == "2025-01-01T10:05:00Z");
  BOOST_TEST(str(patched.at("reason")) == "OverlayIPAllocated"); // merged, not replaced
  bool patched_ok = false;
  for (const auto& r : fake.requests(2))
    patched_ok |= str(r.at("method")) == "PATCH" && r.at("status").to_number<int>() == 200;
  BOOST_TEST(patched_ok);
}

BOOST_AUTO_TEST_CASE(forbidden_carries_verb_and_resource) {
  fake_apiserver fake({"--forbid", "update:configmaps"});
  api_client c(fake.config());
  auto cm = c.create_configmap("kube-system", configmap("kcr"));
  auto e = expect_api_error([&] { c.update_configmap("kube-system", cm); });
  BOOST_TEST(e.is_forbidden());
  BOOST_TEST(e.verb == "update");
  BOOST_TEST(e.resource == "configmaps");
  BOOST_TEST(contains(e.rbac_hint(), "update configmaps"));
  BOOST_TEST(contains(e.message, "cannot update resource \"configmaps\""));
}

BOOST_AUTO_TEST_CASE(injected_500_and_429_are_api_errors) {
  fake_apiserver fake;
  api_client c(fake.config());
  fake.fault({{"fail", {{"status", 500}, {"count", 1}, {"path_prefix", "/api/v1/nodes"}}}});
  BOOST_TEST(expect_api_error([&] { c.list_nodes(); }).code == 500);
  fake.fault({{"fail", {{"status", 429}, {"count", 1}, {"path_prefix", "/api/v1/nodes"}}}});
  BOOST_TEST(expect_api_error([&] { c.list_nodes(); }).is_too_many_requests());
  BOOST_TEST(c.list_nodes().items.empty());
  BOOST_TEST(c.connections_opened() == 1u);
}

BOOST_AUTO_TEST_CASE(tls_right_ca_wrong_ca_insecure_server_name_client_cert) {
  // Client certificates turn authentication on: the other cases use a token.
  fake_apiserver fake({"--make-client-cert", "kcr-test", "--token", "t"}, true);
  BOOST_TEST_REQUIRE(!fake.ca_file.empty());
  BOOST_TEST(fake.api_url.rfind("https://", 0) == 0);
  {
    api_client c(fake.config("t"));
    BOOST_TEST(c.list_nodes().items.empty());
  }
  {
    // Another fake's CA is the wrong one.
    fake_apiserver other({}, true);
    api_client c(other.config());
    auto cfg = fake.config();
    cfg->ca_pem = other.config()->ca_pem;
    api_client wrong(cfg);
    auto msg = expect_transport_error([&] { wrong.list_nodes(); });
    BOOST_TEST(contains(msg, "TLS verification of " + fake.api_url + " failed"), msg);
    BOOST_TEST(contains(msg, "wrong CA"), msg);
  }
  {
    auto cfg = fake.config("t");
    cfg->ca_pem.clear();
    cfg->insecure_skip_tls_verify = true;
    api_client c(cfg);
    BOOST_TEST(c.list_nodes().items.empty());
  }
  {
    auto cfg = fake.config("t");
    cfg->tls_server_name = "kubernetes.default.svc"; // a SAN of the fake's certificate
    api_client c(cfg);
    BOOST_TEST(c.list_nodes().items.empty());
    cfg = fake.config();
    cfg->tls_server_name = "not-in-the-cert.example";
    api_client wrong(cfg);
    auto msg = expect_transport_error([&] { wrong.list_nodes(); });
    BOOST_TEST(contains(msg, "TLS verification"), msg);
  }
  {
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
    c.list_nodes();
    bool by_cert = false;
    for (const auto& r : fake.requests(1))
      by_cert |= str(r.at("auth")) == "cert" && r.at("status").to_number<int>() == 200;
    BOOST_TEST(by_cert);
  }
}

BOOST_AUTO_TEST_CASE(token_rotation_rereads_the_file_after_401) {
  fake_apiserver fake({"--token", "old-token"}, true);
  auto dir = fake.make_temp_dir();
  std::ofstream(dir + "/token") << "old-token\n";
  auto cfg = fake.config();
  cfg->token = token_source::from_file(dir + "/token");
  api_client c(cfg);
  c.list_nodes();
  BOOST_TEST(str(fake.requests(1).back().at("auth")) == "bearer");

  fake.control("POST", "/tokens", json::object{{"tokens", json::array{"new-token"}}});
  std::ofstream(dir + "/token") << "new-token\n";
  fake.clear_requests();
  BOOST_TEST(c.list_nodes().items.empty()); // 401, re-read, retried once: success
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
  auto e = expect_api_error([&] { c.list_nodes(); });
  BOOST_TEST(e.is_unauthorized());
  BOOST_TEST(e.reason == "Unauthorized");
}

BOOST_AUTO_TEST_CASE(credentials_never_go_over_plain_http) {
  fake_apiserver fake;
  api_client c(fake.config("secret-token"));
  c.list_nodes();
  BOOST_TEST(str(fake.requests(1).back().at("auth")) == "none");
}

BOOST_AUTO_TEST_CASE(keep_alive_and_reconnect_after_refused) {
  fake_apiserver fake;
  api_client c(fake.config());
  for (int i = 0; i < 100; ++i)
    c.list_nodes();
  BOOST_TEST(c.connections_opened() == 1u);
  BOOST_TEST(c.requests_sent() == 100u);

  // The server drops every connection and refuses new ones for a second.
  fake.fault({{"refuse_seconds", 1.0}});
  auto msg = expect_transport_error([&] { c.list_nodes(); });
  BOOST_TEST(contains(msg, "refused"), msg);
  std::this_thread::sleep_for(1300ms);
  BOOST_TEST(c.list_nodes().items.empty());
  BOOST_TEST(c.connections_opened() == 2u);
}

BOOST_AUTO_TEST_CASE(stale_kept_alive_connection_is_replaced) {
  fake_apiserver fake;
  api_client c(fake.config());
  c.list_nodes();
  // Closing every open connection server-side, as an idle timeout would.
  fake.fault({{"refuse_seconds", 0.1}});
  std::this_thread::sleep_for(400ms);
  BOOST_TEST(c.list_nodes().items.empty()); // no error: reconnected transparently
  BOOST_TEST(c.connections_opened() == 2u);
}

BOOST_AUTO_TEST_CASE(watch_http_410_and_stop_from_another_thread) {
  fake_apiserver fake({"--expired-as-http-410"});
  api_client c(fake.config());
  auto list = c.list_nodes();
  fake.control("POST", "/nodes", json::object{{"metadata", {{"name", "n1"}}}});
  fake.fault({{"expire", true}});
  auto e = expect_api_error([&] {
    c.watch_nodes({list.resource_version, 10s, true}, [](watch_event&&) { return true; });
  });
  BOOST_TEST(e.code == 410);
  BOOST_TEST(e.is_expired());
  BOOST_TEST(e.verb == "watch");

  // A watch blocked waiting for events ends promptly when stopped from another thread.
  auto now = c.list_nodes();
  auto t0 = std::chrono::steady_clock::now();
  std::thread stopper([&] {
    std::this_thread::sleep_for(300ms);
    c.stop();
  });
  BOOST_CHECK_THROW(
      c.watch_nodes({now.resource_version, 60s, true}, [](watch_event&&) { return true; }),
      stopped_error);
  stopper.join();
  auto took = std::chrono::steady_clock::now() - t0;
  BOOST_TEST((took < 1s));
  BOOST_CHECK_THROW(c.list_nodes(), stopped_error);
}

BOOST_AUTO_TEST_CASE(non_json_error_body_keeps_code_and_text) {
  auto e = make_api_error(502, "<html>Bad Gateway</html>\n", "list", "nodes");
  BOOST_TEST(e.code == 502);
  BOOST_TEST(e.reason == "");
  BOOST_TEST(e.message == "<html>Bad Gateway</html>");
  BOOST_TEST(contains(e.what(), "list nodes: HTTP 502"));
  BOOST_TEST(url_encode("metadata.name=a b/+") == "metadata.name%3Da%20b%2F%2B");
}
