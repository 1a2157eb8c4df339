// See api_under_test.hpp.
#include "test/kube/api_under_test.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <thread>

namespace kcr::test {

namespace json = boost::json;

bool real_api() {
  const char* v = std::getenv("KCR_TEST_API");
  return v && std::string(v) == "real";
}

boost::unit_test::decorator::precondition fake_only(std::string why) {
  return boost::unit_test::precondition([why = std::move(why)](boost::unit_test::test_unit_id id) {
    if (!real_api())
      return boost::test_tools::assertion_result(true);
    // Boost.Test logs skipped cases only above --log_level=message: say it here.
    std::cout << "SKIPPED on the real kube-apiserver: "
              << boost::unit_test::framework::get(id, boost::unit_test::TUT_ANY).p_name.get()
              << ": " << why << std::endl;
    boost::test_tools::assertion_result r(false);
    r.message() << "fake only: " << why;
    return r;
  });
}

bool skip_rest_on_real(const std::string& why) {
  if (!real_api())
    return false;
  std::cout << "SKIPPED on the real kube-apiserver: the rest of "
            << boost::unit_test::framework::current_test_case().p_name.get() << ": " << why
            << std::endl;
  return true;
}

api_under_test::api_under_test(std::vector<std::string> fake_args, bool fake_tls) {
  if (!real_api()) {
    fake_ = std::make_unique<fake_apiserver>(std::move(fake_args), fake_tls);
    return;
  }
  real_ = &real_apiserver::shared();
  // DELETE on the collection: every Node gone before the answer (no finalizers here).
  real_->admin_json("DELETE", "/api/v1/nodes");
}

fake_apiserver& api_under_test::fake() {
  if (!fake_)
    throw std::logic_error("this test needs the fake API server");
  return *fake_;
}

real_apiserver& api_under_test::real_server() {
  if (!real_)
    throw std::logic_error("this test needs the real kube-apiserver");
  return *real_;
}

std::shared_ptr<kube::client_config> api_under_test::config() const {
  return real_ ? real_->config() : fake_->config();
}

void api_under_test::add_node(const std::string& name) {
  json::object node{{"metadata", {{"name", name}}}};
  if (real_) {
    node["apiVersion"] = "v1";
    node["kind"] = "Node";
    real_->admin_json("POST", "/api/v1/nodes", node);
  } else {
    fake_->control("POST", "/nodes", node);
  }
}

void api_under_test::add_nodes(int count, const std::string& prefix) {
  if (!real_) {
    fake_->control("POST", "/nodes/bulk", json::object{{"count", count}, {"prefix", prefix}});
    return;
  }
  for (int i = 0; i < count; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "%s%04d", prefix.c_str(), i);
    add_node(name);
  }
}

void api_under_test::patch_node(const std::string& name, const json::object& merge_patch) {
  if (real_) {
    auto resp =
        real_->admin("PATCH", "/api/v1/nodes/" + name, merge_patch, "application/merge-patch+json");
    if (resp.status != 200)
      throw std::runtime_error("patch node " + name + ": " + resp.body);
  } else {
    fake_->control("PATCH", "/nodes/" + name, merge_patch);
  }
}

void api_under_test::delete_node(const std::string& name) {
  if (real_)
    real_->admin_json("DELETE", "/api/v1/nodes/" + name);
  else
    fake_->control("DELETE", "/nodes/" + name);
}

void api_under_test::add_configmap(const std::string& ns, const std::string& name) {
  json::object cm{{"metadata", {{"name", name}, {"namespace", ns}}}};
  if (real_) {
    cm["apiVersion"] = "v1";
    cm["kind"] = "ConfigMap";
    real_->admin_json("POST", "/api/v1/namespaces/" + ns + "/configmaps", cm);
  } else {
    fake_->control("POST", "/configmaps", cm);
  }
}

void api_under_test::expire_history() {
  if (!real_) {
    fake_->fault({{"expire", true}});
    return;
  }
  // An RV from before, a write after it, the compaction; then wait until the API server has
  // noticed (its watch cache polls the compaction every 15 s): an exact list at the old RV
  // is 410 from then on.
  auto old_rv = std::string(real_->admin_json("GET", "/api/v1/nodes?limit=1")
                                .at("metadata")
                                .at("resourceVersion")
                                .as_string());
  static int writes = 0;
  add_configmap("default", "kcr-test-compaction-" + std::to_string(++writes));
  real_->compact();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(40);
  while (real_->admin("GET", "/api/v1/nodes?resourceVersionMatch=Exact&resourceVersion=" + old_rv)
             .status != 410) {
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("the real kube-apiserver did not notice the etcd compaction");
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

} // namespace kcr::test
