// Client configuration: server URLs, the in-cluster service account and the choice between
// --kubeconfig, KUBECONFIG, in-cluster and --master. See client_config.hpp. kubeconfig files are
// read in kubeconfig.cpp, the bearer token in token_source.cpp.
#include "kube/client_config.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kube/config_files.hpp"

namespace kcr::kube {

namespace fs = std::filesystem;

namespace detail {

// Reads a whole file; nullopt with the errno text in `err` when it cannot.
std::optional<std::string> slurp(const std::string& path, std::string& err) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    err = std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    err = "read error";
    return std::nullopt;
  }
  return ss.str();
}

std::string trim(std::string s) {
  auto ws = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  while (!s.empty() && ws(s.back()))
    s.pop_back();
  size_t i = 0;
  while (i < s.size() && ws(s[i]))
    ++i;
  return s.substr(i);
}

std::vector<std::string> split_file_list(const std::string& list) {
  std::vector<std::string> files;
  size_t start = 0;
  while (start <= list.size()) {
    auto end = list.find(':', start);
    if (end == std::string::npos)
      end = list.size();
    if (end > start)
      files.push_back(list.substr(start, end - start));
    start = end + 1;
  }
  return files;
}

} // namespace detail

using detail::slurp;
using detail::trim;

// ---------------------------------------------------------------- URLs

std::string server_url::to_string() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return scheme + "://" + h + ":" + port + base_path;
}

server_url parse_server_url(const std::string& url) {
  server_url u;
  auto bad = [&](const std::string& why) {
    return config_error("server URL \"" + url + "\": " + why);
  };
  auto sep = url.find("://");
  if (sep == std::string::npos)
    throw bad("expected https://host[:port]");
  u.scheme = url.substr(0, sep);
  for (auto& c : u.scheme)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (u.scheme != "https" && u.scheme != "http")
    throw bad("scheme must be https or http");
  std::string rest = url.substr(sep + 3);
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) {
    u.base_path = rest.substr(slash);
    while (!u.base_path.empty() && u.base_path.back() == '/')
      u.base_path.pop_back();
  }
  if (authority.find('@') != std::string::npos)
    throw bad("user info in the URL is not supported");
  if (!authority.empty() && authority[0] == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos)
      throw bad("unterminated [IPv6] host");
    u.host = authority.substr(1, close - 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':')
        throw bad("garbage after ]");
      u.port = after.substr(1);
    }
  } else {
    auto colon = authority.rfind(':');
    if (colon != std::string::npos && authority.find(':') != colon)
      throw bad("an IPv6 host must be written in brackets");
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos)
      u.port = authority.substr(colon + 1);
  }
  if (u.host.empty())
    throw bad("no host");
  if (u.port.empty())
    u.port = u.tls() ? "443" : "80";
  for (char c : u.port)
    if (c < '0' || c > '9')
      throw bad("port \"" + u.port + "\" is not a number");
  // Compared as text first: std::stoul throws out_of_range beyond 20 digits.
  auto digits = u.port.substr(std::min(u.port.find_first_not_of('0'), u.port.size()));
  if (digits.empty() || digits.size() > 5 || std::stoul(digits) > 65535)
    throw bad("port " + u.port + " is out of range (1-65535)");
  return u;
}

void client_config::validate() const {
  if (!ca_pem.empty() && insecure_skip_tls_verify)
    throw config_error(source + ": specifying a root certificates file with the insecure flag is "
                                "not allowed");
  if (client_cert_pem.empty() != client_key_pem.empty())
    throw config_error(source + ": a client certificate needs both a certificate and a key");
}

env_getter process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    if (const char* v = std::getenv(name.c_str()))
      return std::string(v);
    return std::nullopt;
  };
}

// ---------------------------------------------------------------- in-cluster

client_config in_cluster_config(const std::string& sa_dir, const env_getter& env) {
  auto host = env("KUBERNETES_SERVICE_HOST").value_or("");
  auto port = env("KUBERNETES_SERVICE_PORT").value_or("");
  if (host.empty() || port.empty())
    throw config_error("in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
                       "must both be set (not running in a pod? use --kubeconfig)");
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  client_config cfg;
  cfg.source = "in-cluster service account " + sa_dir;
  try {
    cfg.server = parse_server_url("https://" + h + ":" + port);
  } catch (const config_error& e) {
    throw config_error(
        std::string("in-cluster config (KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT): ") +
        e.what());
  }
  std::string err;
  auto ca = slurp(sa_dir + "/ca.crt", err);
  if (!ca)
    throw config_error("in-cluster config: " + sa_dir + "/ca.crt: cannot read: " + err);
  cfg.ca_pem = *ca;
  try {
    cfg.token = token_source::from_file(sa_dir + "/token");
  } catch (const config_error& e) {
    throw config_error(std::string("in-cluster config: ") + e.what());
  }
  if (auto ns = env("POD_NAMESPACE"); ns && !ns->empty()) {
    cfg.default_namespace = *ns;
  } else if (auto nsf = slurp(sa_dir + "/namespace", err); nsf && !trim(*nsf).empty()) {
    cfg.default_namespace = trim(*nsf);
  }
  cfg.validate();
  return cfg;
}

client_config load_client_config(const config_options& opts, const env_getter& env) {
  std::optional<client_config> cfg;
  if (!opts.kubeconfig.empty()) {
    // --kubeconfig and KUBECONFIG both may list several files, ':'-separated.
    cfg = load_kubeconfig(detail::split_file_list(opts.kubeconfig), opts.context);
  } else if (auto kc = env("KUBECONFIG"); kc && !kc->empty()) {
    cfg = load_kubeconfig(detail::split_file_list(*kc), opts.context);
  } else if (env("KUBERNETES_SERVICE_HOST")) {
    cfg = in_cluster_config(opts.service_account_dir, env);
  } else if (auto home = env("HOME"); home && fs::exists(*home + "/.kube/config")) {
    cfg = load_kubeconfig({*home + "/.kube/config"}, opts.context);
  } else if (!opts.master.empty()) {
    cfg.emplace();
    cfg->source = "no kubeconfig, no credentials";
  } else {
    throw config_error("no Kubernetes configuration: give --kubeconfig or --master, set "
                       "KUBECONFIG, or run in a pod");
  }
  if (!opts.master.empty()) {
    cfg->server = parse_server_url(opts.master);
    cfg->source += " with --master " + opts.master;
  }
  return *cfg;
}

} // namespace kcr::kube
