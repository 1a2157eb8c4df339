// kubeconfig files: the KUBECONFIG merge (first file wins per name), the selected context's
// cluster and user, and the user's credentials (token, token file, client certificate, exec
// plugin). See load_kubeconfig in client_config.hpp.
#include <cstdlib>
#include <filesystem>
#include <map>

#include <yaml-cpp/yaml.h>

#include "kube/client_config.hpp"
#include "kube/config_files.hpp"
#include "kube/proxy.hpp"

namespace kcr::kube {

namespace fs = std::filesystem;
using detail::slurp;

namespace {

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

// The named context, its cluster and the names for messages.
struct selection {
  std::string names; // the files merged, for messages
  std::string context_name;
  const entry* context = nullptr;
  std::string cluster_name;
  const entry* cluster = nullptr;
};

// Merges the files in order; names the ones used. Several files: missing ones are skipped
// (client-go). A single file must exist.
std::string merge_files(const std::vector<std::string>& files, merged& m) {
  std::vector<std::string> used;
  for (const auto& f : files) {
    if (f.empty())
      continue;
    if (files.size() > 1 && !fs::exists(f))
      continue;
    merge_file(f, m);
    used.push_back(f);
  }
  if (used.empty())
    throw config_error("kubeconfig: none of the files exists: " + join(files));
  return join(used);
}

selection select_context(const merged& m, std::string names, const std::string& context) {
  selection s;
  s.names = std::move(names);
  s.context_name = context.empty() ? m.current_context : context;
  if (s.context_name.empty())
    throw config_error("kubeconfig " + s.names + ": no current-context set (and no context given)");
  auto ctx = m.contexts.find(s.context_name);
  if (ctx == m.contexts.end())
    throw config_error("kubeconfig " + s.names + ": context \"" + s.context_name + "\" not found");
  s.context = &ctx->second;
  auto cluster_name = get_str(s.context->node, "cluster", s.context->file);
  if (!cluster_name)
    throw config_error("kubeconfig " + s.context->file + ": context \"" + s.context_name +
                       "\" names no cluster");
  s.cluster_name = *cluster_name;
  auto cl = m.clusters.find(s.cluster_name);
  if (cl == m.clusters.end())
    throw config_error("kubeconfig " + s.names + ": cluster \"" + s.cluster_name +
                       "\" (of context \"" + s.context_name + "\") not found");
  s.cluster = &cl->second;
  return s;
}

// The cluster's server, TLS and proxy settings and the context's namespace; returns the
// server as written (an exec plugin may be given it).
std::string apply_cluster(const selection& s, client_config& cfg) {
  const entry& cle = *s.cluster;
  const entry& ce = *s.context;
  auto server = get_str(cle.node, "server", cle.file);
  if (!server || server->empty())
    throw config_error("kubeconfig " + cle.file + ": cluster \"" + s.cluster_name +
                       "\" has no server");
  try {
    cfg.server = parse_server_url(*server);
  } catch (const config_error& e) {
    throw config_error("kubeconfig " + cle.file + ": cluster \"" + s.cluster_name +
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
      throw config_error("kubeconfig " + cle.file + ": cluster \"" + s.cluster_name +
                         "\": proxy-url: " + e.what());
    }
  }
  return *server;
}

// The context's user: token (wins over tokenFile), client certificate, else an exec plugin.
void apply_user(const merged& m, const selection& s, const std::string& server,
                client_config& cfg) {
  const entry& ce = *s.context;
  auto user_name = get_str(ce.node, "user", ce.file);
  if (!user_name || user_name->empty())
    return;
  auto us = m.users.find(*user_name);
  if (us == m.users.end())
    throw config_error("kubeconfig " + s.names + ": user \"" + *user_name + "\" (of context \"" +
                       s.context_name + "\") not found");
  const entry& ue = us->second;
  if (auto tok = get_str(ue.node, "token", ue.file); tok && !tok->empty()) {
    cfg.token = token_source::fixed(*tok);
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
    exec_cluster_info cl{server, cfg.tls_server_name, cfg.ca_pem, cfg.insecure_skip_tls_verify,
                         cfg.proxy_url};
    // Runs the plugin once now: a missing or broken plugin stops the start with its error.
    cfg.token = token_source::from_exec(
        std::make_shared<exec_credential_source>(parse_exec(ue, *user_name, cl)));
  }
}

} // namespace

client_config load_kubeconfig(const std::vector<std::string>& files, const std::string& context) {
  merged m;
  auto s = select_context(m, merge_files(files, m), context);
  client_config cfg;
  cfg.source = "kubeconfig " + s.names + " (context " + s.context_name + ")";
  auto server = apply_cluster(s, cfg);
  apply_user(m, s, server, cfg);
  try {
    cfg.validate();
  } catch (const config_error& e) {
    throw config_error(std::string(e.what()) + " (cluster \"" + s.cluster_name + "\")");
  }
  return cfg;
}

std::vector<std::string> default_kubeconfig_paths() {
  if (const char* kc = std::getenv("KUBECONFIG"); kc && *kc)
    return detail::split_file_list(kc);
  std::vector<std::string> out;
  if (const char* home = std::getenv("HOME"); home && *home)
    out.push_back(std::string(home) + "/.kube/config");
  return out;
}

} // namespace kcr::kube
