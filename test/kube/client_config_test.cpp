// kubeconfig / in-cluster / --master loading, as tables over files in a temp folder.
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "kube/client_config.hpp"
#include "test/kube/temp_dir.hpp"

using namespace kcr::kube;
namespace fs = std::filesystem;

namespace {

using kcr::test::temp_dir;

// "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n" in base64.
const std::string ca_pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const std::string ca_b64 =
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=";

env_getter env_of(std::map<std::string, std::string> m) {
  return [m](const std::string& k) -> std::optional<std::string> {
    auto it = m.find(k);
    if (it == m.end())
      return std::nullopt;
    return it->second;
  };
}

void check_error(const std::function<void()>& f, const std::vector<std::string>& needles) {
  try {
    f();
    BOOST_ERROR("expected a config_error containing " << needles.front());
  } catch (const config_error& e) {
    std::string msg = e.what();
    for (const auto& n : needles)
      BOOST_TEST(msg.find(n) != std::string::npos,
                 "message \"" << msg << "\" lacks \"" << n << "\"");
  }
}

const char* two_contexts =
    R"(apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: prod-cluster
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: )"
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="
    R"(
    certificate-authority: does-not-matter.crt
    tls-server-name: api.internal
- name: dev-cluster
  cluster:
    server: https://[fd00::1]:8443/proxy/
    certificate-authority: certs/ca.crt
contexts:
- name: prod
  context: {cluster: prod-cluster, user: admin, namespace: kube-system}
- name: dev
  context: {cluster: dev-cluster, user: dev-user}
users:
- name: admin
  user:
    token: fixed-token
    tokenFile: ignored-because-token-wins
- name: dev-user
  user:
    tokenFile: secrets/token
    client-certificate-data: Y2VydA==
    client-key-data: a2V5
)";

} // namespace

BOOST_AUTO_TEST_CASE(kubeconfig_contexts_data_and_relative_files) {
  temp_dir t;
  t.write("certs/ca.crt", ca_pem);
  t.write("secrets/token", "dev-token\n");
  auto kc = t.write("config", two_contexts);

  auto prod = load_kubeconfig({kc});
  BOOST_TEST(prod.server.to_string() == "https://10.0.0.1:6443");
  BOOST_TEST(prod.ca_pem == ca_pem); // data wins over the (missing) file
  BOOST_TEST(prod.tls_server_name == "api.internal");
  BOOST_TEST(prod.default_namespace == "kube-system");
  BOOST_TEST_REQUIRE(prod.token != nullptr);
  BOOST_TEST(prod.token->token() == "fixed-token");
  BOOST_TEST(!prod.token->file_based());
  BOOST_TEST(prod.source.find("fixed-token") == std::string::npos); // never log credentials

  auto dev = load_kubeconfig({kc}, "dev");
  BOOST_TEST(dev.server.host == "fd00::1");
  BOOST_TEST(dev.server.port == "8443");
  BOOST_TEST(dev.server.base_path == "/proxy");
  BOOST_TEST(dev.ca_pem == ca_pem); // relative to the kubeconfig's folder
  BOOST_TEST(dev.default_namespace == "default");
  BOOST_TEST_REQUIRE(dev.token != nullptr);
  BOOST_TEST(dev.token->file_based());
  BOOST_TEST(dev.token->token() == "dev-token");
  BOOST_TEST(dev.client_cert_pem == "cert");
  BOOST_TEST(dev.client_key_pem == "key");
}

BOOST_AUTO_TEST_CASE(several_files_first_wins) {
  temp_dir t;
  auto a = t.write("a.yaml", R"(
clusters:
- name: c
  cluster: {server: "https://first.example:6443", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: from-a}
)");
  auto b = t.write("b.yaml", R"(
current-context: ctx
clusters:
- name: c
  cluster: {server: "https://second.example:6443"}
contexts:
- name: ctx
  context: {cluster: c, user: u}
users:
- name: u
  user: {token: from-b}
)");
  auto c = t.write("c.yaml", "current-context: other\n");
  auto cfg = load_kubeconfig({a, t.path.string() + "/missing.yaml", b, c});
  BOOST_TEST(cfg.server.host == "first.example");
  BOOST_TEST(cfg.insecure_skip_tls_verify);
  BOOST_TEST(cfg.token->token() == "from-a");
  BOOST_TEST(cfg.source.find("ctx") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(kubeconfig_errors_name_the_file_and_problem) {
  temp_dir t;
  struct row {
    const char* name;
    std::string text;
    std::vector<std::string> needles;
  };
  std::vector<row> rows = {
      {"no-current.yaml", "clusters: []\n", {"no-current.yaml", "current-context"}},
      {"bad.yaml", "clusters:\n  - name: [unclosed\n", {"bad.yaml", "invalid YAML", "line"}},
      {"ca-insecure.yaml",
       "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
       "clusters: [{name: c, cluster: {server: 'https://h', certificate-authority-data: " +
           ca_b64 + ", insecure-skip-tls-verify: true}}]\n",
       {"ca-insecure.yaml", "insecure"}},
      {"no-context.yaml",
       "current-context: nope\n",
       {"no-context.yaml", "context \"nope\" not found"}},
      {"no-server.yaml",
       "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
       "clusters: [{name: c, cluster: {}}]\n",
       {"no-server.yaml", "has no server"}},
      {"bad-url.yaml",
       "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
       "clusters: [{name: c, cluster: {server: 'ftp://h'}}]\n",
       {"bad-url.yaml", "scheme"}},
      {"long-port.yaml",
       "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
       "clusters: [{name: c, cluster: {server: 'https://h:123456789012345678901234'}}]\n",
       {"long-port.yaml", "cluster \"c\"", "port 123456789012345678901234 is out of range"}},
      {"ca-file.yaml",
       "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
       "clusters: [{name: c, cluster: {server: 'https://h', certificate-authority: nope.crt}}]\n",
       {"ca-file.yaml", "nope.crt", "cannot read"}},
      {"bad-bool.yaml",
       "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
       "clusters: [{name: c, cluster: {server: 'https://h', insecure-skip-tls-verify: maybe}}]\n",
       {"bad-bool.yaml", "insecure-skip-tls-verify"}},
      {"exec.yaml",
       "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
       "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
       "users: [{name: u, user: {exec: {command: aws}}}]\n",
       {"exec.yaml", "exec"}},
      {"missing-token-file.yaml",
       "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
       "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
       "users: [{name: u, user: {tokenFile: gone}}]\n",
       {"missing-token-file.yaml", "gone"}},
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT(r.name) {
      auto f = t.write(r.name, r.text);
      check_error([&] { load_kubeconfig({f}); }, r.needles);
    }
  }
  check_error([&] { load_kubeconfig({t.path.string() + "/absent"}); }, {"absent", "cannot read"});
}

BOOST_AUTO_TEST_CASE(token_file_is_reread_after_invalidate_and_periodically) {
  temp_dir t;
  auto f = t.write("token", "one\n");
  auto ts = token_source::from_file(f, std::chrono::milliseconds(50));
  BOOST_TEST(ts->token() == "one");
  t.write("token", "two\n");
  BOOST_TEST(ts->token() == "one"); // not re-read yet
  BOOST_TEST(ts->invalidate());
  BOOST_TEST(ts->token() == "two");
  t.write("token", "three\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  BOOST_TEST(ts->token() == "three");
  fs::remove(f); // a failed re-read keeps the last good token
  ts->invalidate();
  BOOST_TEST(ts->token() == "three");
  BOOST_TEST(!token_source::fixed("x")->invalidate());
}

BOOST_AUTO_TEST_CASE(in_cluster_from_a_temp_dir) {
  temp_dir t;
  t.write("ca.crt", ca_pem);
  t.write("token", "sa-token\n");
  t.write("namespace", "kcr-system\n");
  struct row {
    std::map<std::string, std::string> env;
    std::string url;
    std::string ns;
  };
  std::vector<row> rows = {
      {{{"KUBERNETES_SERVICE_HOST", "10.43.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}},
       "https://10.43.0.1:443",
       "kcr-system"},
      {{{"KUBERNETES_SERVICE_HOST", "fd00:43::1"},
        {"KUBERNETES_SERVICE_PORT", "6443"},
        {"POD_NAMESPACE", "from-env"}},
       "https://[fd00:43::1]:6443",
       "from-env"},
  };
  for (const auto& r : rows) {
    auto cfg = in_cluster_config(t.path.string(), env_of(r.env));
    BOOST_TEST(cfg.server.to_string() == r.url);
    BOOST_TEST(cfg.default_namespace == r.ns);
    BOOST_TEST(cfg.ca_pem == ca_pem);
    BOOST_TEST(cfg.token->token() == "sa-token");
    BOOST_TEST(cfg.token->file_based());
  }
  check_error(
      [&] {
        in_cluster_config(t.path.string(), env_of({{"KUBERNETES_SERVICE_HOST", "h"}}));
      },
      {"KUBERNETES_SERVICE_PORT"});
  check_error([&] { in_cluster_config(t.path.string(), env_of({})); }, {"KUBERNETES_SERVICE_HOST"});
  check_error(
      [&] {
        in_cluster_config(t.path.string(),
                          env_of({{"KUBERNETES_SERVICE_HOST", "h"},
                                  {"KUBERNETES_SERVICE_PORT", "99999999999999999999999"}}));
      },
      {"in-cluster config", "KUBERNETES_SERVICE_PORT", "out of range"});
  fs::remove(t.path / "token");
  check_error(
      [&] {
        in_cluster_config(t.path.string(), env_of({{"KUBERNETES_SERVICE_HOST", "h"},
                                                   {"KUBERNETES_SERVICE_PORT", "1"}}));
      },
      {"token", "cannot read"});
}

BOOST_AUTO_TEST_CASE(selection_order_and_master_override) {
  temp_dir t;
  t.write("certs/ca.crt", ca_pem);
  t.write("secrets/token", "dev-token\n");
  auto kc = t.write("config", two_contexts);
  config_options o;
  o.kubeconfig = kc;
  o.master = "https://192.0.2.10:9443";
  auto cfg = load_client_config(o, env_of({}));
  BOOST_TEST(cfg.server.to_string() == "https://192.0.2.10:9443");
  BOOST_TEST(cfg.token->token() == "fixed-token");

  config_options env_only;
  env_only.context = "dev";
  cfg = load_client_config(env_only, env_of({{"KUBECONFIG", t.path.string() + "/x:" + kc}}));
  BOOST_TEST(cfg.server.host == "fd00::1");

  config_options master_only;
  master_only.master = "http://127.0.0.1:8080";
  cfg = load_client_config(master_only, env_of({{"HOME", t.path.string()}}));
  BOOST_TEST(cfg.server.to_string() == "http://127.0.0.1:8080");
  BOOST_TEST(cfg.token == nullptr);

  check_error([&] { load_client_config(config_options{}, env_of({})); }, {"--kubeconfig"});
}

BOOST_AUTO_TEST_CASE(server_urls) {
  struct row {
    const char* in;
    const char* out; // nullptr = error
  };
  row rows[] = {
      {"https://h", "https://h:443"},
      {"http://h", "http://h:80"},
      {"HTTPS://10.0.0.1:6443/", "https://10.0.0.1:6443"},
      {"https://[::1]:6443/k8s/clusters/c-1", "https://[::1]:6443/k8s/clusters/c-1"},
      {"https://::1:6443", nullptr},
      {"h:6443", nullptr},
      {"https://h:0", nullptr},
      {"https://h:99999", nullptr},
      {"https://h:000443", "https://h:000443"},
      // 20+ digits: std::stoul threw std::out_of_range here (issue 15)
      {"https://h:123456789012345678901234567890", nullptr},
      {"https://[::1]:99999999999999999999999", nullptr},
      {"https://h:00000", nullptr},
      {"https://h:x", nullptr},
      {"https://", nullptr},
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT(r.in) {
      if (r.out)
        BOOST_TEST(parse_server_url(r.in).to_string() == r.out);
      else
        BOOST_CHECK_THROW(parse_server_url(r.in), config_error);
    }
  }
}

BOOST_AUTO_TEST_CASE(base64) {
  BOOST_TEST(*base64_decode("aGVsbG8=") == "hello");
  BOOST_TEST(*base64_decode("aGVsbG8") == "hello");
  BOOST_TEST(*base64_decode("aGVs\nbG8=\n") == "hello");
  BOOST_TEST(*base64_decode("") == "");
  BOOST_TEST(!base64_decode("a*b=").has_value());
  BOOST_TEST(!base64_decode("aGVsbG8=x").has_value());
  BOOST_TEST(!base64_decode("a").has_value());
}
