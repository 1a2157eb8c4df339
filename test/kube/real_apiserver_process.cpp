// See real_apiserver_process.hpp.
#include "test/kube/real_apiserver_process.hpp"

#include <chrono>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <signal.h>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "test/kube/fake_apiserver_process.hpp" // source_dir()

namespace kcr::test {

namespace json = boost::json;

namespace {

// The launcher waits up to 90 s for /readyz on a busy machine; allow a little more.
constexpr auto startup_timeout = std::chrono::seconds(120);

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string str(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_string() ? std::string(it->value().get_string()) : "";
}

// Reads from `fd` until a newline, EOF or the deadline; returns what came.
std::string read_line(int fd, std::chrono::steady_clock::time_point deadline) {
  std::string line;
  while (line.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      break;
    char buf[4096];
    auto n = ::read(fd, buf, sizeof buf);
    if (n <= 0)
      break;
    line.append(buf, static_cast<size_t>(n));
  }
  return line.substr(0, line.find('\n'));
}

} // namespace

real_apiserver& real_apiserver::shared() {
  // A failed start is not retried per test case: every case fails with the first error.
  static std::string failed;
  if (!failed.empty())
    throw std::runtime_error(failed);
  try {
    static real_apiserver instance;
    return instance;
  } catch (const std::exception& e) {
    failed = e.what();
    throw;
  }
}

real_apiserver::real_apiserver() {
  auto script = source_dir() + "/test/controlplane/controlplane.py";
  char tmpl[] = "/tmp/kcr-real-log-XXXXXX";
  int log_fd = ::mkstemp(tmpl);
  if (log_fd < 0)
    throw std::runtime_error("mkstemp failed");
  log_file_ = tmpl;
  int out[2];
  if (::pipe(out) != 0)
    throw std::runtime_error("pipe failed");
  auto t0 = std::chrono::steady_clock::now();
  pid_ = ::fork();
  if (pid_ < 0)
    throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(out[1], 1);
    ::dup2(log_fd, 2);
    ::close(out[0]);
    ::close(out[1]);
    std::vector<std::string> args{"python3", script, "up", "--json", "--die-with-parent"};
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp("python3", argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(log_fd);
  auto line = read_line(out[0], t0 + startup_timeout);
  ::close(out[0]); // the launcher prints nothing more on stdout
  boost::system::error_code ec;
  auto v = json::parse(line, ec);
  if (ec || !v.is_object()) {
    auto log = read_file(log_file_);
    shutdown();
    throw std::runtime_error(
        "the real control plane did not start (`make controlplane` builds etcd and "
        "kube-apiserver into build/controlplane/bin); launcher output:\n" +
        line + "\n" + log);
  }
  auto& o = v.get_object();
  server = str(o, "server");
  ca_file = str(o, "ca_file");
  etcd_url = str(o, "etcd_url");
  workdir = str(o, "workdir");
  startup_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  admin_ = std::make_unique<kube::http_connection>(config());
  auto ecfg = std::make_shared<kube::client_config>();
  ecfg->server = kube::parse_server_url(etcd_url);
  ecfg->source = "etcd " + etcd_url;
  etcd_ = std::make_unique<kube::http_connection>(ecfg);
}

real_apiserver::~real_apiserver() {
  shutdown();
}

void real_apiserver::shutdown() {
  admin_.reset();
  etcd_.reset();
  if (pid_ > 0) {
    // The launcher stops kube-apiserver and etcd (up to 10 s each) and removes its folder.
    ::kill(pid_, SIGTERM);
    int status = 0;
    bool gone = false;
    for (int i = 0; i < 1500 && !gone; ++i) {
      gone = ::waitpid(pid_, &status, WNOHANG) == pid_;
      if (!gone)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!gone) {
      ::kill(pid_, SIGKILL); // its children die with it (PR_SET_PDEATHSIG)
      ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }
  if (!log_file_.empty())
    ::unlink(log_file_.c_str());
  log_file_.clear();
}

std::shared_ptr<kube::client_config> real_apiserver::config(const std::string& token) const {
  auto cfg = std::make_shared<kube::client_config>();
  cfg->server = kube::parse_server_url(server);
  cfg->ca_pem = read_file(ca_file);
  if (token.empty()) {
    cfg->client_cert_pem = read_file(workdir + "/pki/admin.crt");
    cfg->client_key_pem = read_file(workdir + "/pki/admin.key");
    cfg->source = "real kube-apiserver " + server + " (admin)";
  } else {
    cfg->token = kube::token_source::fixed(token);
    cfg->source = "real kube-apiserver " + server + " (token)";
  }
  cfg->connect_timeout = std::chrono::seconds(5);
  cfg->request_timeout = std::chrono::seconds(30);
  return cfg;
}

kube::http_response real_apiserver::admin(const std::string& method, const std::string& path,
                                          const json::value& body,
                                          const std::string& content_type) {
  kube::http_request req{method, path, body.is_null() ? "" : json::serialize(body),
                         body.is_null() ? "" : content_type, ""};
  return admin_->request(req);
}

json::value real_apiserver::admin_json(const std::string& method, const std::string& path,
                                       const json::value& body,
                                       std::initializer_list<int> also_ok) {
  auto resp = admin(method, path, body);
  bool ok = resp.status >= 200 && resp.status <= 299;
  for (int s : also_ok)
    ok |= resp.status == s;
  if (!ok)
    throw std::runtime_error("real kube-apiserver " + method + " " + path + ": " +
                             std::to_string(resp.status) + " " + resp.body.substr(0, 500));
  return resp.body.empty() ? json::value() : json::parse(resp.body);
}

std::string real_apiserver::token(const std::string& sa, const std::string& ns) {
  auto base = "/api/v1/namespaces/" + ns + "/serviceaccounts";
  admin_json(
      "POST", base,
      json::object{{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", sa}}}},
      {409});
  auto tr = admin_json("POST", base + "/" + sa + "/token",
                       json::object{{"apiVersion", "authentication.k8s.io/v1"},
                                    {"kind", "TokenRequest"},
                                    {"spec", {{"expirationSeconds", 3600}}}});
  return std::string(tr.at("status").at("token").as_string());
}

void real_apiserver::bind_cluster_role(const std::string& sa, const std::string& ns,
                                       const std::string& role) {
  json::object crb{
      {"apiVersion", "rbac.authorization.k8s.io/v1"},
      {"kind", "ClusterRoleBinding"},
      {"metadata", {{"name", "kcr-test-" + ns + "-" + sa + "-" + role}}},
      {"roleRef",
       {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", role}}},
      {"subjects", json::array{{{"kind", "ServiceAccount"}, {"name", sa}, {"namespace", ns}}}}};
  admin_json("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", crb, {409});
}

json::value real_apiserver::etcd(const std::string& path, const json::value& body) {
  kube::http_request req{"POST", path, json::serialize(body), "application/json", ""};
  auto resp = etcd_->request(req);
  if (resp.status != 200)
    throw std::runtime_error("etcd " + path + ": " + std::to_string(resp.status) + " " + resp.body);
  return json::parse(resp.body);
}

long long real_apiserver::compact() {
  // etcd's JSON gateway takes base64 keys: "AA==" is a NUL byte (any key gives the header).
  auto range = etcd("/v3/kv/range", json::object{{"key", "AA=="}});
  auto rev = std::stoll(std::string(range.at("header").at("revision").as_string()));
  // Like kube-apiserver's own compactor: record the revision under compact_rev_key first. The
  // API server watches that key and drops its watch cache's list snapshots up to it (polled
  // every 15 s); a bare etcd compaction goes unnoticed, and lists keep coming from the cache.
  auto b64 = [](const std::string& s) {
    static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (std::size_t i = 0; i < s.size(); i += 3) {
      unsigned v = static_cast<unsigned char>(s[i]) << 16;
      if (i + 1 < s.size())
        v |= static_cast<unsigned char>(s[i + 1]) << 8;
      if (i + 2 < s.size())
        v |= static_cast<unsigned char>(s[i + 2]);
      out += t[(v >> 18) & 63];
      out += t[(v >> 12) & 63];
      out += i + 1 < s.size() ? t[(v >> 6) & 63] : '=';
      out += i + 2 < s.size() ? t[v & 63] : '=';
    }
    return out;
  };
  etcd("/v3/kv/put",
       json::object{{"key", b64("compact_rev_key")}, {"value", b64(std::to_string(rev))}});
  etcd("/v3/kv/compaction", json::object{{"revision", rev}, {"physical", true}});
  return rev;
}

} // namespace kcr::test
