// kubeconfig / in-cluster / --master loading. See client_config.hpp.
#include "kube/client_config.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "kube/proxy.hpp"

namespace kcr::kube {

namespace fs = std::filesystem;

namespace {

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

// One named cluster/user/context and the file (folder) it came from.
struct entry {
  YAML::Node node;
  std::string file;
};

struct merged {
  std::map<std::string, entry> clusters, users, contexts;
  std::string current_context;
  std::string current_context_file;
};

std::string yaml_where(const YAML::Mark& m) {
  if (m.is_null())
    return "";
  return " (line " + std::to_string(m.line + 1) + ")";
}

// Optional string value; config_error when present but not a scalar.
std::optional<std::string> get_str(const YAML::Node& n, const char* key, const std::string& file) {
  if (!n || !n.IsMap())
    return std::nullopt;
  auto v = n[key];
  if (!v.IsDefined() || v.IsNull())
    return std::nullopt;
  if (!v.IsScalar())
    throw config_error("kubeconfig " + file + ": \"" + key + "\" must be a string" +
                       yaml_where(v.Mark()));
  return v.as<std::string>();
}

bool get_bool(const YAML::Node& n, const char* key, const std::string& file) {
  if (!n || !n.IsMap())
    return false;
  auto v = n[key];
  if (!v.IsDefined() || v.IsNull())
    return false;
  try {
    return v.as<bool>();
  } catch (const YAML::Exception&) {
    throw config_error("kubeconfig " + file + ": \"" + key + "\" must be true or false" +
                       yaml_where(v.Mark()));
  }
}

void collect(const YAML::Node& root, const char* list, const char* inner, const std::string& file,
             std::map<std::string, entry>& out) {
  auto seq = root[list];
  if (!seq.IsDefined() || seq.IsNull())
    return;
  if (!seq.IsSequence())
    throw config_error("kubeconfig " + file + ": \"" + list + "\" must be a list" +
                       yaml_where(seq.Mark()));
  for (const auto& item : seq) {
    auto name = get_str(item, "name", file);
    if (!name)
      throw config_error("kubeconfig " + file + ": an entry of \"" + list + "\" has no name" +
                         yaml_where(item.Mark()));
    auto body = item[inner];
    if (!body.IsDefined() || !body.IsMap())
      throw config_error("kubeconfig " + file + ": " + list + " \"" + *name + "\" has no \"" +
                         inner + "\" map" + yaml_where(item.Mark()));
    out.emplace(*name, entry{body, file}); // emplace keeps the first: first file wins
  }
}

void merge_file(const std::string& file, merged& m) {
  std::string err;
  auto text = slurp(file, err);
  if (!text)
    throw config_error("kubeconfig " + file + ": cannot read: " + err);
  YAML::Node root;
  try {
    root = YAML::Load(*text);
  } catch (const YAML::ParserException& e) {
    throw config_error("kubeconfig " + file + ": invalid YAML at line " +
                       std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (root.IsNull())
    return; // an empty file contributes nothing, like client-go
  if (!root.IsMap())
    throw config_error("kubeconfig " + file + ": not a kubeconfig (expected a YAML map)");
  collect(root, "clusters", "cluster", file, m.clusters);
  collect(root, "users", "user", file, m.users);
  collect(root, "contexts", "context", file, m.contexts);
  if (m.current_context.empty()) {
    if (auto cc = get_str(root, "current-context", file); cc && !cc->empty()) {
      m.current_context = *cc;
      m.current_context_file = file;
    }
  }
}

std::string resolve(const std::string& path, const std::string& file) {
  fs::path p(path);
  if (p.is_absolute())
    return path;
  return (fs::path(file).parent_path() / p).lexically_normal().string();
}

// Data (base64) wins over the file, as in client-go.
std::string load_pem(const entry& e, const char* file_key, const char* data_key) {
  if (auto data = get_str(e.node, data_key, e.file)) {
    auto decoded = base64_decode(*data);
    if (!decoded)
      throw config_error("kubeconfig " + e.file + ": \"" + data_key + "\" is not valid base64");
    return *decoded;
  }
  if (auto path = get_str(e.node, file_key, e.file)) {
    auto abs = resolve(*path, e.file);
    std::string err;
    auto content = slurp(abs, err);
    if (!content)
      throw config_error("kubeconfig " + e.file + ": " + file_key + " " + abs +
                         ": cannot read: " + err);
    return *content;
  }
  return {};
}

// The `exec` map of a user, like client-go reads it: apiVersion and command required,
// interactiveMode required from v1 on, a relative command with a slash resolved against the
// kubeconfig's folder (a bare name is looked up in PATH).
exec_config parse_exec(const entry& ue, const std::string& user, const exec_cluster_info& cl) {
  auto bad = [&](const std::string& why) {
    return config_error("kubeconfig " + ue.file + ": user \"" + user + "\": exec: " + why);
  };
  const auto& x = ue.node["exec"];
  if (!x.IsMap())
    throw bad("must be a map");
  exec_config c;
  c.kubeconfig = ue.file;
  c.user = user;
  c.command = get_str(x, "command", ue.file).value_or("");
  c.api_version = get_str(x, "apiVersion", ue.file).value_or("");
  c.install_hint = get_str(x, "installHint", ue.file).value_or("");
  c.provide_cluster_info = get_bool(x, "provideClusterInfo", ue.file);
  c.interactive_mode = get_str(x, "interactiveMode", ue.file).value_or("");
  if (c.command.empty())
    throw bad("\"command\" is required");
  if (c.api_version != "client.authentication.k8s.io/v1" &&
      c.api_version != "client.authentication.k8s.io/v1beta1")
    throw bad("apiVersion \"" + c.api_version +
              "\" is not supported (use "
              "client.authentication.k8s.io/v1 or v1beta1)");
  if (c.interactive_mode.empty() && c.api_version == "client.authentication.k8s.io/v1")
    throw bad("\"interactiveMode\" is required with client.authentication.k8s.io/v1");
  if (!c.interactive_mode.empty() && c.interactive_mode != "Never" &&
      c.interactive_mode != "IfAvailable" && c.interactive_mode != "Always")
    throw bad("interactiveMode \"" + c.interactive_mode + "\" is not Never, IfAvailable or Always");
  if (c.interactive_mode == "Always")
    throw bad("interactiveMode Always needs a terminal, which a controller does not have");
  if (c.command.find('/') != std::string::npos)
    c.command = resolve(c.command, ue.file);
  if (auto args = x["args"]; args.IsDefined() && !args.IsNull()) {
    if (!args.IsSequence())
      throw bad("\"args\" must be a list");
    for (const auto& a : args)
      c.args.push_back(a.as<std::string>());
  }
  if (auto env = x["env"]; env.IsDefined() && !env.IsNull()) {
    if (!env.IsSequence())
      throw bad("\"env\" must be a list of {name, value}");
    for (const auto& e : env) {
      auto name = get_str(e, "name", ue.file);
      if (!name || name->empty())
        throw bad("an \"env\" entry has no name");
      c.env.emplace_back(*name, get_str(e, "value", ue.file).value_or(""));
    }
  }
  c.exec_info = make_exec_info(c.api_version, c.provide_cluster_info ? &cl : nullptr);
  return c;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v)
    s += (s.empty() ? "" : ", ") + x;
  return s;
}

} // namespace

// ---------------------------------------------------------------- token_source

std::shared_ptr<token_source> token_source::fixed(std::string token) {
  auto t = std::shared_ptr<token_source>(new token_source());
  t->token_ = std::move(token);
  return t;
}

std::shared_ptr<token_source> token_source::from_file(std::string path,
                                                      std::chrono::milliseconds refresh) {
  auto t = std::shared_ptr<token_source>(new token_source());
  t->path_ = std::move(path);
  t->refresh_ = refresh;
  std::string err;
  auto text = slurp(t->path_, err);
  if (!text)
    throw config_error("token file " + t->path_ + ": cannot read: " + err);
  t->token_ = trim(*text);
  if (t->token_.empty())
    throw config_error("token file " + t->path_ + ": is empty");
  t->read_at_ = std::chrono::steady_clock::now();
  t->reads_ = 1;
  return t;
}

void token_source::reread_locked() {
  std::string err;
  if (auto text = slurp(path_, err)) {
    auto tok = trim(*text);
    if (!tok.empty())
      token_ = std::move(tok);
  }
  ++reads_;
  read_at_ = std::chrono::steady_clock::now();
  stale_ = false;
}

std::shared_ptr<token_source>
token_source::from_exec(std::shared_ptr<exec_credential_source> exec) {
  auto t = std::shared_ptr<token_source>(new token_source());
  try {
    exec->get();
  } catch (const std::runtime_error& e) {
    throw config_error(e.what());
  }
  t->exec_ = std::move(exec);
  return t;
}

exec_credential token_source::credential() {
  if (!exec_)
    return exec_credential{token(), {}, {}};
  try {
    return exec_->get();
  } catch (const std::runtime_error& e) {
    throw transport_error(e.what());
  }
}

std::string token_source::token() {
  if (exec_)
    return credential().token;
  std::lock_guard lock(mutex_);
  if (!path_.empty() && (stale_ || std::chrono::steady_clock::now() - read_at_ >= refresh_))
    reread_locked();
  return token_;
}

bool token_source::invalidate() {
  if (exec_) {
    exec_->invalidate();
    return true;
  }
  std::lock_guard lock(mutex_);
  stale_ = true;
  return !path_.empty();
}

unsigned token_source::reads() const {
  std::lock_guard lock(mutex_);
  return reads_;
}

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

// ---------------------------------------------------------------- kubeconfig

client_config load_kubeconfig(const std::vector<std::string>& files, const std::string& context) {
  merged m;
  std::vector<std::string> used;
  for (const auto& f : files) {
    if (f.empty())
      continue;
    // Several files: missing ones are skipped (client-go). A single file must exist.
    if (files.size() > 1 && !fs::exists(f))
      continue;
    merge_file(f, m);
    used.push_back(f);
  }
  if (used.empty())
    throw config_error("kubeconfig: none of the files exists: " + join(files));
  std::string names = join(used);

  std::string ctx_name = context.empty() ? m.current_context : context;
  if (ctx_name.empty())
    throw config_error("kubeconfig " + names + ": no current-context set (and no context given)");
  auto ctx = m.contexts.find(ctx_name);
  if (ctx == m.contexts.end())
    throw config_error("kubeconfig " + names + ": context \"" + ctx_name + "\" not found");
  const entry& ce = ctx->second;
  auto cluster_name = get_str(ce.node, "cluster", ce.file);
  if (!cluster_name)
    throw config_error("kubeconfig " + ce.file + ": context \"" + ctx_name + "\" names no cluster");
  auto cl = m.clusters.find(*cluster_name);
  if (cl == m.clusters.end())
    throw config_error("kubeconfig " + names + ": cluster \"" + *cluster_name +
                       "\" (of context \"" + ctx_name + "\") not found");
  const entry& cle = cl->second;

  client_config cfg;
  cfg.source = "kubeconfig " + names + " (context " + ctx_name + ")";
  auto server = get_str(cle.node, "server", cle.file);
  if (!server || server->empty())
    throw config_error("kubeconfig " + cle.file + ": cluster \"" + *cluster_name +
                       "\" has no server");
  try {
    cfg.server = parse_server_url(*server);
  } catch (const config_error& e) {
    throw config_error("kubeconfig " + cle.file + ": cluster \"" + *cluster_name +
                       "\": " + e.what());
  }
  cfg.ca_pem = load_pem(cle, "certificate-authority", "certificate-authority-data");
  cfg.insecure_skip_tls_verify = get_bool(cle.node, "insecure-skip-tls-verify", cle.file);
  cfg.tls_server_name = get_str(cle.node, "tls-server-name", cle.file).value_or("");
  if (auto ns = get_str(ce.node, "namespace", ce.file); ns && !ns->empty())
    cfg.default_namespace = *ns;
  cfg.proxy_url = get_str(cle.node, "proxy-url", cle.file).value_or("");
  if (!cfg.proxy_url.empty()) {
    try {
      parse_proxy_url(cfg.proxy_url);
    } catch (const config_error& e) {
      throw config_error("kubeconfig " + cle.file + ": cluster \"" + *cluster_name +
                         "\": proxy-url: " + e.what());
    }
  }

  if (auto user_name = get_str(ce.node, "user", ce.file); user_name && !user_name->empty()) {
    auto us = m.users.find(*user_name);
    if (us == m.users.end())
      throw config_error("kubeconfig " + names + ": user \"" + *user_name + "\" (of context \"" +
                         ctx_name + "\") not found");
    const entry& ue = us->second;
    if (auto tok = get_str(ue.node, "token", ue.file); tok && !tok->empty()) {
      cfg.token = token_source::fixed(*tok); // token wins over tokenFile
    } else if (auto tf = get_str(ue.node, "tokenFile", ue.file); tf && !tf->empty()) {
      try {
        cfg.token = token_source::from_file(resolve(*tf, ue.file));
      } catch (const config_error& e) {
        throw config_error("kubeconfig " + ue.file + ": user \"" + *user_name + "\": " + e.what());
      }
    }
    cfg.client_cert_pem = load_pem(ue, "client-certificate", "client-certificate-data");
    cfg.client_key_pem = load_pem(ue, "client-key", "client-key-data");
    bool has_cred = cfg.token || !cfg.client_cert_pem.empty();
    if (!has_cred && ue.node["exec"].IsDefined() && !ue.node["exec"].IsNull()) {
      exec_cluster_info cl{*server, cfg.tls_server_name, cfg.ca_pem, cfg.insecure_skip_tls_verify,
                           cfg.proxy_url};
      // Runs the plugin once now: a missing or broken plugin stops the start with its error.
      cfg.token = token_source::from_exec(
          std::make_shared<exec_credential_source>(parse_exec(ue, *user_name, cl)));
    }
  }
  try {
    cfg.validate();
  } catch (const config_error& e) {
    throw config_error(std::string(e.what()) + " (cluster \"" + *cluster_name + "\")");
  }
  return cfg;
}

std::vector<std::string> default_kubeconfig_paths() {
  std::vector<std::string> out;
  if (const char* kc = std::getenv("KUBECONFIG"); kc && *kc) {
    std::string s = kc;
    size_t start = 0;
    while (start <= s.size()) {
      auto end = s.find(':', start);
      if (end == std::string::npos)
        end = s.size();
      if (end > start)
        out.push_back(s.substr(start, end - start));
      start = end + 1;
    }
    return out;
  }
  if (const char* home = std::getenv("HOME"); home && *home)
    out.push_back(std::string(home) + "/.kube/config");
  return out;
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
  // --kubeconfig and KUBECONFIG both may list several files, ':'-separated.
  auto split = [](const std::string& list) {
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
  };
  std::optional<client_config> cfg;
  if (!opts.kubeconfig.empty()) {
    cfg = load_kubeconfig(split(opts.kubeconfig), opts.context);
  } else if (auto kc = env("KUBECONFIG"); kc && !kc->empty()) {
    cfg = load_kubeconfig(split(*kc), opts.context);
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
