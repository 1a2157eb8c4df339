// kubeconfig exec credential plugins. See exec_credential.hpp.
#include "kube/exec_credential.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <boost/json.hpp>

#include "kube/base64.hpp"

extern char** environ;

namespace kcr::kube {

namespace json = boost::json;
using std::chrono::system_clock;

namespace {

std::string str_field(const json::object& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null())
    return {};
  if (!it->value().is_string())
    throw std::runtime_error(std::string("\"") + key + "\" is not a string");
  return std::string(it->value().get_string());
}

// The end of a plugin's stderr (or stdout), on one line ("; " between lines) for the log.
std::string tail(const std::string& text, std::size_t max = 600) {
  std::string t;
  for (char c : text) {
    if (c == '\r')
      continue;
    if (c == '\n')
      t += "; ";
    else
      t.push_back(c);
  }
  while (!t.empty() && (t.back() == ' ' || t.back() == ';'))
    t.pop_back();
  if (t.size() > max)
    t = "..." + t.substr(t.size() - max);
  return t;
}

struct run_result {
  int status = -1; // exit status, or -1 when killed by a signal
  std::string out, err;
};

// Everything the child gets, prepared before spawning (no allocation after fork).
struct spawn_args {
  std::vector<std::string> argv_s, env_s;
  std::vector<char*> argv, envp;

  explicit spawn_args(const exec_config& c) {
    argv_s.push_back(c.command);
    argv_s.insert(argv_s.end(), c.args.begin(), c.args.end());
    std::vector<std::string> added;
    for (const auto& [k, v] : c.env)
      added.push_back(k + "=" + v);
    added.push_back("KUBERNETES_EXEC_INFO=" + c.exec_info);
    auto overridden = [&](const char* e) {
      return std::any_of(added.begin(), added.end(), [&](const std::string& a) {
        auto n = a.find('=');
        return std::strncmp(e, a.c_str(), n + 1) == 0;
      });
    };
    for (char** e = environ; e && *e; ++e)
      if (!overridden(*e))
        env_s.emplace_back(*e);
    env_s.insert(env_s.end(), added.begin(), added.end());
    for (auto& s : argv_s)
      argv.push_back(s.data());
    argv.push_back(nullptr);
    for (auto& s : env_s)
      envp.push_back(s.data());
    envp.push_back(nullptr);
  }
};

// Spawns the plugin in its own process group (a timeout kills the whole group, e.g. a shell
// and its children) with stdin from /dev/null, default signal handling and an empty mask.
// Returns the pid; errno-style error number in `err` when the command cannot be started.
pid_t spawn(spawn_args& a, int out_fd, int err_fd, int& err) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  pid_t pid = -1;
  err = posix_spawnp(&pid, a.argv[0], &fa, &attr, a.argv.data(), a.envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return err ? -1 : pid;
}

// Reads both pipes until EOF and waits for the exit, all within `timeout`; false on timeout
// (the process group is then killed and reaped).
bool collect(pid_t pid, int out_fd, int err_fd, std::chrono::milliseconds timeout, run_result& r) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left_ms = [&] {
    auto d = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<long long>(0, d.count()));
  };
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0 && left_ms() > 0) {
    if (::poll(fds, 2, left_ms()) < 0 && errno != EINTR)
      break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0 && sinks[i]->size() < (8u << 20))
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      else if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int st = 0;
  for (;;) {
    pid_t w = ::waitpid(pid, &st, WNOHANG);
    if (w == pid || (w < 0 && errno != EINTR))
      break;
    if (left_ms() == 0) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return true;
}

} // namespace

// ---------------------------------------------------------------- pure parts

system_clock::time_point parse_rfc3339(const std::string& text) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      consumed == 0)
    throw std::runtime_error("expirationTimestamp \"" + text + "\" is not RFC 3339");
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::string rest = text.substr(static_cast<std::size_t>(consumed));
  std::chrono::nanoseconds frac{0};
  if (!rest.empty() && rest[0] == '.') {
    std::size_t i = 1;
    long long scale = 100000000;
    for (; i < rest.size() && std::isdigit(static_cast<unsigned char>(rest[i])); ++i) {
      frac += std::chrono::nanoseconds((rest[i] - '0') * scale);
      scale /= 10;
    }
    rest = rest.substr(i);
  }
  long offset = 0;
  if (rest == "Z" || rest == "z") {
    offset = 0;
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
             std::isdigit(static_cast<unsigned char>(rest[1])) &&
             std::isdigit(static_cast<unsigned char>(rest[2])) &&
             std::isdigit(static_cast<unsigned char>(rest[4])) &&
             std::isdigit(static_cast<unsigned char>(rest[5]))) {
    // Digits only: std::stol would throw std::invalid_argument (not a runtime_error) on "+ab:cd".
    offset = (std::stol(rest.substr(1, 2)) * 60 + std::stol(rest.substr(4, 2))) * 60;
    if (rest[0] == '-')
      offset = -offset;
  } else {
    throw std::runtime_error("expirationTimestamp \"" + text + "\" is not RFC 3339");
  }
  auto secs = ::timegm(&tm) - offset;
  return system_clock::from_time_t(secs) + std::chrono::duration_cast<system_clock::duration>(frac);
}

exec_credential parse_exec_credential(const std::string& text, const std::string& api_version) {
  json::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object())
    throw std::runtime_error("its output is not an ExecCredential JSON object (" +
                             (ec ? ec.message() : std::string("not an object")) + "): \"" +
                             tail(text, 200) + "\"");
  const auto& o = v.get_object();
  auto kind = str_field(o, "kind");
  auto version = str_field(o, "apiVersion");
  if (kind != "ExecCredential")
    throw std::runtime_error("its output has kind \"" + kind + "\", expected ExecCredential");
  if (version != api_version)
    throw std::runtime_error("it returned apiVersion \"" + version +
                             "\" but the kubeconfig "
                             "asks for \"" +
                             api_version + "\"");
  auto st = o.find("status");
  if (st == o.end() || !st->value().is_object())
    throw std::runtime_error("its ExecCredential has no status");
  const auto& s = st->value().get_object();
  exec_credential c;
  c.token = str_field(s, "token");
  c.client_cert_pem = str_field(s, "clientCertificateData");
  c.client_key_pem = str_field(s, "clientKeyData");
  if (c.client_cert_pem.empty() != c.client_key_pem.empty())
    throw std::runtime_error("it returned a client certificate without a key (or a key "
                             "without a certificate)");
  if (c.token.empty() && c.client_cert_pem.empty())
    throw std::runtime_error("it returned neither a token nor a client certificate and key");
  if (auto exp = str_field(s, "expirationTimestamp"); !exp.empty())
    c.expiry = parse_rfc3339(exp);
  return c;
}

std::string make_exec_info(const std::string& api_version, const exec_cluster_info* cluster) {
  json::object spec{{"interactive", false}};
  if (cluster) {
    json::object cl{{"server", cluster->server}};
    if (!cluster->tls_server_name.empty())
      cl["tls-server-name"] = cluster->tls_server_name;
    if (cluster->insecure_skip_tls_verify)
      cl["insecure-skip-tls-verify"] = true;
    if (!cluster->ca_pem.empty())
      cl["certificate-authority-data"] = base64_encode(cluster->ca_pem);
    if (!cluster->proxy_url.empty())
      cl["proxy-url"] = cluster->proxy_url;
    spec["cluster"] = std::move(cl);
  }
  json::object info{{"apiVersion", api_version}, {"kind", "ExecCredential"}, {"spec", spec}};
  return json::serialize(info);
}

// ---------------------------------------------------------------- the source

exec_credential_source::exec_credential_source(exec_config cfg) : cfg_(std::move(cfg)) {}

std::string exec_credential_source::where() const {
  return "kubeconfig " + cfg_.kubeconfig + ": user \"" + cfg_.user + "\": exec plugin " +
         cfg_.command;
}

exec_credential exec_credential_source::run_plugin() {
  ++runs_;
  spawn_args args(cfg_);
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0)
    throw std::runtime_error(where() + ": pipe: " + std::strerror(errno));
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    throw std::runtime_error(where() + ": pipe: " + std::strerror(errno));
  }
  int spawn_err = 0;
  pid_t pid = spawn(args, out[1], err[1], spawn_err);
  ::close(out[1]);
  ::close(err[1]);
  run_result r;
  bool finished = pid > 0 && collect(pid, out[0], err[0], cfg_.timeout, r);
  ::close(out[0]);
  ::close(err[0]);
  if (pid <= 0) {
    std::string msg = where() + ": cannot run it: " + std::strerror(spawn_err);
    if (spawn_err == ENOENT)
      msg = where() + ": executable not found";
    if (!cfg_.install_hint.empty())
      msg += "; install hint: " + cfg_.install_hint;
    throw std::runtime_error(msg);
  }
  if (!finished)
    throw std::runtime_error(where() + ": did not finish within " +
                             std::to_string(cfg_.timeout.count() / 1000.0).substr(0, 4) +
                             " s (killed)");
  if (r.status != 0)
    throw std::runtime_error(where() + ": " +
                             (r.status < 0 ? std::string("killed by a signal")
                                           : "exited with status " + std::to_string(r.status)) +
                             (r.err.empty() ? "" : ": " + tail(r.err)));
  try {
    return parse_exec_credential(r.out, cfg_.api_version);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(where() + ": " + e.what());
  }
}

exec_credential exec_credential_source::get() {
  std::lock_guard lock(mutex_);
  auto now = system_clock::now();
  if (have_ && !stale_ && now < refresh_at_)
    return cached_;
  try {
    cached_ = run_plugin();
  } catch (const std::runtime_error&) {
    // Still valid (we are only in the margin before expiry): keep it, retry in a second.
    if (have_ && !stale_ && now < cached_.expiry) {
      refresh_at_ = std::min(now + std::chrono::seconds(1), cached_.expiry);
      return cached_;
    }
    throw;
  }
  have_ = true;
  stale_ = false;
  // Fetch again a little before expiry: up to 10 s, at most a fifth of the lifetime (a plugin
  // that hands out 5 s credentials is not run on every request).
  if (cached_.expiry == system_clock::time_point::max()) {
    refresh_at_ = cached_.expiry;
  } else {
    auto life = cached_.expiry - now;
    auto margin = std::min<system_clock::duration>(std::chrono::seconds(10), life / 5);
    refresh_at_ = cached_.expiry - std::max<system_clock::duration>(margin, {});
  }
  return cached_;
}

void exec_credential_source::invalidate() {
  std::lock_guard lock(mutex_);
  stale_ = true;
}

unsigned exec_credential_source::runs() const {
  std::lock_guard lock(mutex_);
  return runs_;
}

} // namespace kcr::kube
