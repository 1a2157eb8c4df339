// Standalone auth like kubectl, without a server: NO_PROXY matching and proxy selection as
// tables, ExecCredential parsing, and exec plugins run as real scripts (caching until expiry,
// re-run after invalidate(), the errors of a broken plugin).
#include <filesystem>
#include <fstream>
#include <map>
#include <sys/stat.h>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "kube/client_config.hpp"
#include "kube/exec_credential.hpp"
#include "kube/proxy.hpp"
#include "test/kube/temp_dir.hpp"

using namespace kcr::kube;
namespace fs = std::filesystem;
using std::chrono::system_clock;

namespace {

using kcr::test::temp_dir;

env_getter env_of(std::map<std::string, std::string> m) {
  return [m](const std::string& k) -> std::optional<std::string> {
    auto it = m.find(k);
    if (it == m.end())
      return std::nullopt;
    return it->second;
  };
}

const char* v1 = "client.authentication.k8s.io/v1";

// A plugin that counts its runs in `runs` and prints token "tok-<n>" valid for `ttl` seconds.
std::string counting_plugin(const temp_dir& t, int ttl) {
  return t.write("plugin.sh",
                 "#!/bin/sh\n"
                 "n=$(($(cat " +
                     (t.path / "runs").string() +
                     " 2>/dev/null || echo 0) + 1))\n"
                     "echo $n > " +
                     (t.path / "runs").string() +
                     "\n"
                     "exp=$(date -u -d \"+" +
                     std::to_string(ttl) +
                     " seconds\" +%Y-%m-%dT%H:%M:%SZ)\n"
                     "printf '{\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\",\"status\":"
                     "{\"token\":\"tok-%s\",\"expirationTimestamp\":\"%s\"}}' "
                     "\"$WANT_VERSION\" $n $exp\n",
                 true);
}

exec_config plugin_config(const std::string& command) {
  exec_config c;
  c.command = command;
  c.api_version = v1;
  c.kubeconfig = "/k/config";
  c.user = "robot";
  c.env = {{"WANT_VERSION", v1}};
  c.exec_info = make_exec_info(v1, nullptr);
  return c;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

} // namespace

BOOST_AUTO_TEST_CASE(no_proxy_matching_like_go) {
  struct row {
    std::string no_proxy, host, port;
    bool match;
  };
  std::vector<row> rows = {
      {"", "api.example.com", "443", false},
      {"*", "api.example.com", "443", true},
      {"example.com", "example.com", "443", true},
      {"example.com", "api.example.com", "443", true},
      {"example.com", "badexample.com", "443", false},
      {".example.com", "api.example.com", "443", true},
      {".example.com", "example.com", "443", false},
      {"*.example.com", "api.example.com", "443", true},
      {"*.example.com", "example.com", "443", false},
      {"EXAMPLE.com", "Api.Example.COM", "443", true},
      {"other.org, example.com:6443", "api.example.com", "6443", true},
      {"example.com:6443", "api.example.com", "443", false},
      {"10.0.0.0/8", "10.1.2.3", "443", true},
      {"10.0.0.0/8", "11.1.2.3", "443", false},
      {"10.0.0.0/8", "ten.example.com", "443", false},
      {"192.0.2.7", "192.0.2.7", "443", true},
      {"192.0.2.7", "192.0.2.8", "443", false},
      {"192.0.2.7:6443", "192.0.2.7", "443", false},
      {"fd00::/8", "fd00::1", "443", true},
      {"[fd00::1]:443", "fd00::1", "443", true},
      {"fd00::1", "fd00::2", "443", false},
      {" , ,example.com", "example.com", "443", true},
  };
  for (const auto& r : rows)
    BOOST_TEST_CONTEXT("NO_PROXY=" << r.no_proxy << " host " << r.host << ":" << r.port)
  BOOST_TEST(no_proxy_matches(r.no_proxy, r.host, r.port) == r.match);
}

BOOST_AUTO_TEST_CASE(proxy_selection_env_no_proxy_loopback_and_proxy_url) {
  auto https = parse_server_url("https://api.example.com:6443");
  auto http = parse_server_url("http://api.example.com:8080");
  auto loop = parse_server_url("https://127.0.0.1:6443");
  auto local = parse_server_url("https://localhost:6443");
  std::map<std::string, std::string> env = {{"HTTPS_PROXY", "http://proxy:3128"},
                                            {"http_proxy", "plain:8000"}};
  struct row {
    const char* what;
    server_url server;
    std::string kubeconfig_proxy;
    std::map<std::string, std::string> env;
    std::string want; // "" = direct
  };
  auto with = [&](std::map<std::string, std::string> extra) {
    auto e = env;
    for (auto& [k, v] : extra)
      e[k] = v;
    return e;
  };
  std::vector<row> rows = {
      {"HTTPS_PROXY for https", https, "", env, "http://proxy:3128"},
      {"http_proxy for http", http, "", env, "http://plain:8000"},
      {"no variables", https, "", {}, ""},
      {"empty HTTPS_PROXY is unset", https, "", {{"HTTPS_PROXY", ""}}, ""},
      {"lower case https_proxy", https, "", {{"https_proxy", "http://low:1"}}, "http://low:1"},
      {"upper case wins", https, "", with({{"https_proxy", "http://low:1"}}), "http://proxy:3128"},
      {"NO_PROXY suffix", https, "", with({{"NO_PROXY", ".example.com"}}), ""},
      {"no_proxy lower case", https, "", with({{"no_proxy", "example.com"}}), ""},
      {"NO_PROXY other", https, "", with({{"NO_PROXY", "example.org"}}), "http://proxy:3128"},
      {"loopback never", loop, "", env, ""},
      {"localhost never", local, "", env, ""},
      {"proxy-url wins over env", https, "http://kc:9", env, "http://kc:9"},
      {"proxy-url ignores NO_PROXY", https, "http://kc:9", with({{"NO_PROXY", "*"}}),
       "http://kc:9"},
      {"proxy-url also for loopback", loop, "http://kc:9", {}, "http://kc:9"},
      {"user in proxy URL", https, "http://u%40x:p%3Aw@kc:9", {}, "http://u@x@kc:9"},
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT(r.what) {
      auto p = proxy_for(r.server, r.kubeconfig_proxy, env_of(r.env));
      BOOST_TEST((p ? p->to_string() : std::string()) == r.want);
    }
  }
  auto p = parse_proxy_url("http://u%40x:p%3Aw@kc:9");
  BOOST_TEST(p.username == "u@x");
  BOOST_TEST(p.password == "p:w");
  BOOST_TEST(p.authorization() == "Basic dUB4OnA6dw=="); // base64("u@x:p:w")
  BOOST_TEST(parse_proxy_url("http://[fd00::1]:3128").authority() == "[fd00::1]:3128");
  BOOST_TEST(parse_proxy_url("proxy").port == "80");
  for (auto bad : {"https://p:1", "socks5://p:1", "ftp://p", "http://:1", "http://p:99999"})
    BOOST_TEST_CONTEXT(bad) BOOST_CHECK_THROW(parse_proxy_url(bad), config_error);
  auto msg = error_of([] { parse_proxy_url("socks5://user:secret@p:1"); });
  BOOST_TEST(msg.find("secret") == std::string::npos); // a password never lands in a log
}

BOOST_AUTO_TEST_CASE(exec_credential_parsing) {
  auto c = parse_exec_credential(
      R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",
          "status":{"token":"abc","expirationTimestamp":"2030-01-02T03:04:05Z"}})",
      v1);
  BOOST_TEST(c.token == "abc");
  BOOST_TEST(system_clock::to_time_t(c.expiry) == 1893553445);
  auto cert = parse_exec_credential(
      R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",
          "status":{"clientCertificateData":"CERT","clientKeyData":"KEY"}})",
      v1);
  BOOST_TEST(cert.client_cert_pem == "CERT");
  BOOST_TEST(cert.client_key_pem == "KEY");
  BOOST_TEST((cert.expiry == system_clock::time_point::max()));
  BOOST_TEST(system_clock::to_time_t(parse_rfc3339("2030-01-02T05:04:05.5+02:00")) == 1893553445);
  struct row {
    std::string text, needle;
  };
  std::vector<row> rows = {
      {"not json", "not an ExecCredential JSON"},
      {R"({"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential",
           "status":{"token":"x"}})",
       "v1beta1"},
      {R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"Pod","status":{}})", "Pod"},
      {R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential"})", "status"},
      {R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{}})",
       "neither a token nor a client certificate"},
      {R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",
           "status":{"clientCertificateData":"C"}})",
       "without a key"},
      {R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",
           "status":{"token":"x","expirationTimestamp":"tomorrow"}})",
       "RFC 3339"},
      // std::stol threw std::invalid_argument on a non-numeric offset (issue 15's stoi/stoul hunt)
      {R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",
           "status":{"token":"x","expirationTimestamp":"2030-01-02T05:04:05+ab:cd"}})",
       "RFC 3339"},
  };
  for (const auto& r : rows)
    BOOST_TEST_CONTEXT(r.text) {
      auto msg = error_of([&] { parse_exec_credential(r.text, v1); });
      BOOST_TEST(msg.find(r.needle) != std::string::npos, msg);
    }
  auto info = make_exec_info(v1, nullptr);
  BOOST_TEST(info.find(R"("interactive":false)") != std::string::npos);
  BOOST_TEST(info.find("cluster") == std::string::npos);
  exec_cluster_info cl{"https://h:1", "", "PEM", false, ""};
  auto with_cluster = make_exec_info(v1, &cl);
  BOOST_TEST(with_cluster.find(R"("server":"https://h:1")") != std::string::npos);
  BOOST_TEST(with_cluster.find(R"("certificate-authority-data":"UEVN")") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(exec_plugin_cached_until_expiry_and_rerun_after_invalidate) {
  temp_dir t;
  exec_credential_source src(plugin_config(counting_plugin(t, 3600)));
  BOOST_TEST(src.get().token == "tok-1");
  BOOST_TEST(src.get().token == "tok-1"); // cached
  BOOST_TEST(src.runs() == 1u);
  src.invalidate(); // a 401
  BOOST_TEST(src.get().token == "tok-2");
  BOOST_TEST(src.runs() == 2u);

  temp_dir t2; // a credential that expires in 1 s: run again once it is (nearly) expired
  exec_credential_source short_lived(plugin_config(counting_plugin(t2, 1)));
  BOOST_TEST(short_lived.get().token == "tok-1");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  BOOST_TEST(short_lived.get().token == "tok-2");
}

BOOST_AUTO_TEST_CASE(exec_plugin_gets_exec_info_env_and_args) {
  temp_dir t;
  auto dump = t.path / "seen";
  auto cmd = t.write("bin/plugin",
                     "#!/bin/sh\n"
                     "{ echo \"$KUBERNETES_EXEC_INFO\"; echo \"$FOO\"; echo \"$@\"; } > " +
                         dump.string() +
                         "\n"
                         "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                         "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\"}}'\n",
                     true);
  // Relative command with a slash: resolved against the kubeconfig's folder (client-go).
  auto kc =
      t.write("kube/config",
              "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
              "clusters: [{name: c, cluster: {server: 'https://h:6443'}}]\n"
              "users: [{name: u, user: {exec: {command: ../bin/plugin, args: [a, b],\n"
              "  env: [{name: FOO, value: bar}], apiVersion: " +
                  std::string(v1) + ", interactiveMode: Never, provideClusterInfo: true}}}]\n");
  auto cfg = load_kubeconfig({kc});
  BOOST_TEST(cfg.token->exec_based());
  BOOST_TEST(cfg.token->token() == "t");
  BOOST_TEST(cfg.token->exec()->config().command == cmd);
  auto seen = t.read("seen");
  BOOST_TEST(seen.find(R"("kind":"ExecCredential")") != std::string::npos, seen);
  BOOST_TEST(seen.find(R"("server":"https://h:6443")") != std::string::npos, seen);
  BOOST_TEST(seen.find("\nbar\na b\n") != std::string::npos, seen);
}

BOOST_AUTO_TEST_CASE(broken_plugins_give_clear_errors) {
  temp_dir t;
  auto kubeconfig = [&](const std::string& name, const std::string& exec) {
    return t.write(name,
                   "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                   "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                   "users: [{name: u, user: {exec: {" +
                       exec + "}}}]\n");
  };
  auto api = std::string("apiVersion: ") + v1 + ", interactiveMode: Never, ";
  t.write("garbage.sh", "#!/bin/sh\necho hello world\n", true);
  t.write("fail.sh", "#!/bin/sh\necho 'line 1' >&2\necho 'token expired, run login' >&2\nexit 3\n",
          true);
  t.write("slow.sh", "#!/bin/sh\nsleep 5\n", true);
  struct row {
    const char* name;
    std::string exec;
    std::vector<std::string> needles;
  };
  std::vector<row> rows = {
      {"garbage.yaml",
       api + "command: ./garbage.sh",
       {"garbage.yaml", "\"u\"", "not an ExecCredential", "hello world"}},
      {"fail.yaml",
       api + "command: ./fail.sh",
       {"fail.yaml", "status 3", "token expired, run login"}},
      {"missing.yaml",
       api + "command: kcr-no-such-plugin, installHint: 'apt install it'",
       {"missing.yaml", "kcr-no-such-plugin", "not found", "apt install it"}},
      {"no-mode.yaml", std::string("apiVersion: ") + v1 + ", command: x", {"interactiveMode"}},
      {"old-api.yaml",
       "apiVersion: client.authentication.k8s.io/v1alpha1, command: x",
       {"v1alpha1", "not supported"}},
      {"always.yaml",
       std::string("apiVersion: ") + v1 + ", interactiveMode: Always, command: x",
       {"terminal"}},
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT(r.name) {
      auto msg = error_of([&] { load_kubeconfig({kubeconfig(r.name, r.exec)}); });
      for (const auto& n : r.needles)
        BOOST_TEST(msg.find(n) != std::string::npos, "\"" << n << "\" in: " << msg);
    }
  }
  auto slow = plugin_config((t.path / "slow.sh").string());
  slow.timeout = std::chrono::milliseconds(300);
  exec_credential_source src(slow);
  auto t0 = std::chrono::steady_clock::now();
  auto msg = error_of([&] { src.get(); });
  BOOST_TEST(msg.find("did not finish") != std::string::npos, msg);
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3)));
}
