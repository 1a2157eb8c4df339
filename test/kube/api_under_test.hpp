// The server the kube client tests run against, chosen by KCR_TEST_API: "fake" (default,
// test/fakeapi/fake_apiserver.py, a fresh one per test case) or "real" (etcd + kube-apiserver,
// ONE per test binary: real_apiserver::shared()). ctest registers each client test binary twice
// (test_kube_client_X and test_kube_client_X_real).
//
// Cases that need what only the fake can do on demand (fault injection, byte-level framing,
// plain http, its request log) are marked fake_only(why): on the real server they are skipped
// and the reason is printed. Objects are created through the back door (the fake's control
// port, or admin calls on the real server); the assertions use the client under test.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "kube/api_failure.hpp"
#include "kube/client_config.hpp"
#include "test/kube/fake_apiserver_process.hpp"
#include "test/kube/real_apiserver_process.hpp"

namespace kcr::test {

/// True when KCR_TEST_API=real.
bool real_api();

/// Decorator for a whole case the real server cannot run: skipped there, with `why` printed.
boost::unit_test::decorator::precondition fake_only(std::string why);

/// For the fake-only rest of a case: on the real server prints `why` and returns true
/// (`if (skip_rest_on_real("...")) return;`).
bool skip_rest_on_real(const std::string& why);

class api_under_test {
public:
  /// Fake: a fresh fake with `fake_args`. Real: the shared control plane, with every Node
  /// deleted (Nodes are cluster-wide and a bare control plane has none of its own); other
  /// objects are kept apart by the names each case uses.
  explicit api_under_test(std::vector<std::string> fake_args = {}, bool fake_tls = false);

  bool real() const { return real_ != nullptr; }
  /// The fake (throws std::logic_error on the real server).
  fake_apiserver& fake();
  real_apiserver& real_server();

  /// Fake: no credentials; real: the admin client certificate.
  std::shared_ptr<kube::client_config> config() const;

  // ---- setup through the back door
  void add_node(const std::string& name);
  /// `count` Nodes named prefix0000, prefix0001, ...
  void add_nodes(int count, const std::string& prefix);
  void patch_node(const std::string& name, const boost::json::object& merge_patch);
  void delete_node(const std::string& name);
  void add_configmap(const std::string& ns, const std::string& name);
  /// Makes every resourceVersion seen so far too old where the server checks storage: the
  /// fake's `expire` fault; on the real server a write (so that the current revision is newer
  /// than anything seen) and an etcd compaction.
  void expire_history();

private:
  std::unique_ptr<fake_apiserver> fake_;
  real_apiserver* real_ = nullptr;
};

// Small readers shared by the client suites.
/// The value of a call that must succeed; a failure ends the case with its text.
template <class T>
T ok(kube::api_result<T> r) {
  BOOST_REQUIRE_MESSAGE(r.ok(), "the call failed: " << (r.ok() ? "" : r.error().what()));
  return std::move(r.value());
}

/// The failure of a call that must fail with an answer (a non-2xx status).
template <class F>
kube::api_failure expect_api_error(F&& call) {
  auto r = call();
  BOOST_REQUIRE_MESSAGE(!r.ok(), "expected an answered failure, the call succeeded");
  BOOST_REQUIRE_MESSAGE(r.error().is_answer(),
                        "expected an answered failure, got: " << r.error().what());
  return r.error();
}

/// The text of a call that must fail without a usable answer (refused, TLS, framing).
template <class F>
std::string expect_transport_error(F&& call) {
  auto r = call();
  BOOST_REQUIRE_MESSAGE(!r.ok(), "expected a failure without an answer, the call succeeded");
  BOOST_REQUIRE_MESSAGE(r.error().is_transport(),
                        "expected a failure without an answer, got: " << r.error().what());
  return r.error().what();
}

inline std::string str(const boost::json::value& v) {
  return v.is_string() ? std::string(v.as_string()) : "";
}

inline std::string rv_of(const boost::json::object& o) {
  return str(o.at("metadata").as_object().at("resourceVersion"));
}

inline bool contains(const std::string& s, const std::string& needle) {
  return s.find(needle) != std::string::npos;
}

} // namespace kcr::test
