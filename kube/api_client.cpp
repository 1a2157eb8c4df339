// Kubernetes API operations on top of http_connection. See api_client.hpp.
#include "kube/api_client.hpp"

#include <stdexcept>

#include "kube/http_connection.hpp"

namespace kcr::kube {

namespace json = boost::json;

namespace {

std::string ns_path(const std::string& ns, const std::string& plural) {
  return "/api/v1/namespaces/" + ns + "/" + plural;
}

std::string lease_path(const std::string& ns) {
  return "/apis/coordination.k8s.io/v1/namespaces/" + ns + "/leases";
}

const json::object* sub(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_object() ? &it->value().get_object() : nullptr;
}

std::string str(const json::object* o, std::string_view key) {
  if (!o)
    return {};
  auto it = o->find(key);
  return it != o->end() && it->value().is_string() ? std::string(it->value().get_string())
                                                   : std::string();
}

std::string name_of(const json::object& obj) {
  return str(sub(obj, "metadata"), "name");
}

// Objects we send carry kind/apiVersion (the server would default them from the URL, but an
// explicit pair keeps the request self-describing and matches what kubectl sends).
void ensure_type(json::object& obj, const char* kind, const char* api_version) {
  if (!obj.contains("kind"))
    obj["kind"] = kind;
  if (!obj.contains("apiVersion"))
    obj["apiVersion"] = api_version;
}

json::value parse_body(const std::string& body, const std::string& what) {
  if (body.empty())
    return nullptr;
  boost::system::error_code ec;
  // One arena per answer (shared by whatever is kept of it): a page of 500 Nodes is tens of
  // thousands of strings, each otherwise its own allocation.
  auto v = json::parse(body, ec, json::make_shared_resource<json::monotonic_resource>());
  if (ec)
    throw transport_error(what + ": the server answered with invalid JSON: " + ec.message());
  return v;
}

} // namespace

resource_ref resource_ref::nodes() {
  return {"/api/v1/nodes", "nodes", ""};
}

resource_ref resource_ref::configmap(const std::string& ns, const std::string& name) {
  return {ns_path(ns, "configmaps"), "configmaps", "metadata.name=" + name};
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

api_error make_api_error(int status, const std::string& body, const std::string& verb,
                         const std::string& resource) {
  boost::system::error_code ec;
  // One arena per answer (shared by whatever is kept of it): a page of 500 Nodes is tens of
  // thousands of strings, each otherwise its own allocation.
  auto v = json::parse(body, ec, json::make_shared_resource<json::monotonic_resource>());
  if (!ec && v.is_object()) {
    const auto& o = v.get_object();
    return api_error(status, str(&o, "reason"), str(&o, "message"), verb, resource);
  }
  // Not a Status (a proxy's HTML page, plain text): keep the text, bounded.
  std::string text = body.substr(0, 512);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.pop_back();
  return api_error(status, "", text, verb, resource);
}

api_client::api_client(std::shared_ptr<const client_config> cfg)
    : cfg_(std::move(cfg)), conn_(std::make_unique<http_connection>(cfg_)) {}

api_client::~api_client() = default;

void api_client::stop() {
  conn_->stop();
}
bool api_client::stopped() const {
  return conn_->stopped();
}
std::size_t api_client::connections_opened() const {
  return conn_->connections_opened();
}
std::size_t api_client::requests_sent() const {
  return conn_->requests_sent();
}

json::value api_client::call(const std::string& method, const std::string& target,
                             const std::string& verb, const std::string& resource,
                             const std::string& body, const std::string& content_type) {
  return parse_body(call_raw(method, target, verb, resource, body, content_type),
                    verb + " " + resource);
}

std::string api_client::call_raw(const std::string& method, const std::string& target,
                                 const std::string& verb, const std::string& resource,
                                 const std::string& body, const std::string& content_type) {
  http_request req{method, target, body, content_type, resource};
  auto resp = conn_->request(req);
  // A rotated token file: re-read it and retry once (the request was not processed).
  if (resp.status == 401 && cfg_->token && cfg_->token->invalidate())
    resp = conn_->request(req);
  if (resp.status < 200 || resp.status > 299) {
    auto err = make_api_error(resp.status, resp.body, verb, resource);
    if (resp.status == 401 && cfg_->token && !cfg_->server.tls())
      err.message += " (credentials are never sent over plain http)";
    throw err;
  }
  return std::move(resp.body);
}

object_list api_client::list(const resource_ref& r, std::size_t limit,
                             const std::string& resource_version) {
  // An expired continue token means the snapshot is gone: start over, a bounded number of times.
  for (int restart = 0;; ++restart) {
    object_list out;
    std::string cont;
    try {
      do {
        std::string target = r.path + "?limit=" + std::to_string(limit);
        // The resourceVersion only applies to the first page; the continue token carries it.
        if (!resource_version.empty() && cont.empty() && restart == 0)
          target += "&resourceVersion=" + url_encode(resource_version);
        if (!r.field_selector.empty())
          target += "&fieldSelector=" + url_encode(r.field_selector);
        if (!cont.empty())
          target += "&continue=" + url_encode(cont);
        auto v = call("GET", target, "list", r.resource);
        if (!v.is_object())
          throw transport_error("list " + r.resource + ": the answer is not a JSON object");
        auto& page = v.get_object();
        auto md = sub(page, "metadata");
        if (out.resource_version.empty())
          out.resource_version = str(md, "resourceVersion");
        cont = str(md, "continue");
        if (auto it = page.find("items"); it != page.end() && it->value().is_array()) {
          for (auto& item : it->value().get_array())
            if (item.is_object())
              out.items.push_back(std::move(item.get_object()));
        }
      } while (!cont.empty());
      return out;
    } catch (const api_error& e) {
      if (!e.is_expired() || cont.empty() || restart >= 3)
        throw;
    }
  }
}

watch_summary api_client::watch(const resource_ref& r, const watch_options& o,
                                const watch_handler& h) {
  std::string target = r.path + "?watch=true";
  if (!o.resource_version.empty())
    target += "&resourceVersion=" + url_encode(o.resource_version);
  if (o.send_initial_events)
    target += "&sendInitialEvents=true&resourceVersionMatch=NotOlderThan";
  if (o.allow_bookmarks || o.send_initial_events)
    target += "&allowWatchBookmarks=true";
  target += "&timeoutSeconds=" + std::to_string(o.timeout.count());
  if (!r.field_selector.empty())
    target += "&fieldSelector=" + url_encode(r.field_selector);
  http_request req{"GET", target, "", "", r.resource};
  // The server ends the stream at timeoutSeconds; the margin only catches a server that hangs.
  auto max_duration = std::chrono::milliseconds(o.timeout) + std::chrono::seconds(30);

  watch_summary sum;
  watch_decoder dec;
  auto on_data = [&](std::string_view data) {
    dec.feed(data, [&](watch_event&& ev) {
      if (sum.cancelled)
        return;
      ++sum.events;
      if (!h(std::move(ev)))
        sum.cancelled = true;
    });
    return !sum.cancelled;
  };
  auto resp = conn_->stream(req, max_duration, on_data);
  if (resp.status == 401 && cfg_->token && cfg_->token->invalidate())
    resp = conn_->stream(req, max_duration, on_data);
  if (resp.status < 200 || resp.status > 299)
    throw make_api_error(resp.status, resp.body, "watch", r.resource);
  if (dec.mid_event() && !sum.cancelled)
    throw transport_error("watch " + r.resource + ": stream ended in the middle of an event");
  return sum;
}

json::object api_client::write_object(const std::string& method, const std::string& target,
                                      const std::string& verb, const std::string& resource,
                                      json::object obj) {
  auto v = call(method, target, verb, resource, json::serialize(obj), "application/json");
  if (!v.is_object())
    throw transport_error(verb + " " + resource + ": the answer is not a JSON object");
  return std::move(v.get_object());
}

json::object api_client::get_configmap(const std::string& ns, const std::string& name) {
  auto v = call("GET", ns_path(ns, "configmaps") + "/" + name, "get", "configmaps");
  if (!v.is_object())
    throw transport_error("get configmaps: the answer is not a JSON object");
  return std::move(v.get_object());
}

namespace {

// Checks what an update needs so that an unconditional PUT can never be sent.
std::string checked_name_for_update(const json::object& obj, const char* resource) {
  auto name = name_of(obj);
  if (name.empty())
    throw std::invalid_argument(std::string("update of ") + resource + ": no metadata.name");
  if (str(sub(obj, "metadata"), "resourceVersion").empty())
    throw std::invalid_argument(std::string("update of ") + resource + " \"" + name +
                                "\" without metadata.resourceVersion: refusing an "
                                "unconditional PUT");
  return name;
}

std::string checked_name_for_create(const json::object& obj, const char* resource) {
  auto name = name_of(obj);
  if (name.empty())
    throw std::invalid_argument(std::string("create of ") + resource + ": no metadata.name");
  return name;
}

} // namespace

json::object api_client::create_configmap(const std::string& ns, json::object cm) {
  checked_name_for_create(cm, "configmaps");
  ensure_type(cm, "ConfigMap", "v1");
  return write_object("POST", ns_path(ns, "configmaps"), "create", "configmaps", std::move(cm));
}

json::object api_client::update_configmap(const std::string& ns, json::object cm) {
  auto name = checked_name_for_update(cm, "configmaps");
  ensure_type(cm, "ConfigMap", "v1");
  return write_object("PUT", ns_path(ns, "configmaps") + "/" + name, "update", "configmaps",
                      std::move(cm));
}

std::string api_client::patch_configmap_data(
    const std::string& ns, const std::string& name, const std::string& resource_version,
    const std::vector<std::pair<std::string, std::optional<std::string>>>& changes) {
  if (resource_version.empty())
    throw std::invalid_argument("patch configmaps " + name +
                                ": no resourceVersion (an "
                                "unconditional patch is never sent)");
  json::object data;
  for (const auto& [k, v] : changes)
    data[k] = v ? json::value(*v) : json::value(nullptr);
  // "managedFields":[{}] resets the field ownership records, which otherwise list every key
  // ever written (+30 % at 5000 nodes, enough to push the object over etcd's request limit).
  json::object body{
      {"metadata",
       {{"managedFields", json::array{json::object{}}}, {"resourceVersion", resource_version}}},
      {"data", std::move(data)}};
  return call_raw("PATCH", ns_path(ns, "configmaps") + "/" + name, "patch", "configmaps",
                  json::serialize(body), "application/merge-patch+json");
}

json::object api_client::get_lease(const std::string& ns, const std::string& name) {
  auto v = call("GET", lease_path(ns) + "/" + name, "get", "leases");
  if (!v.is_object())
    throw transport_error("get leases: the answer is not a JSON object");
  return std::move(v.get_object());
}

json::object api_client::create_lease(const std::string& ns, json::object lease) {
  checked_name_for_create(lease, "leases");
  ensure_type(lease, "Lease", "coordination.k8s.io/v1");
  return write_object("POST", lease_path(ns), "create", "leases", std::move(lease));
}

json::object api_client::update_lease(const std::string& ns, json::object lease) {
  auto name = checked_name_for_update(lease, "leases");
  ensure_type(lease, "Lease", "coordination.k8s.io/v1");
  return write_object("PUT", lease_path(ns) + "/" + name, "update", "leases", std::move(lease));
}

json::object api_client::create_event(const std::string& ns, json::object event) {
  checked_name_for_create(event, "events");
  ensure_type(event, "Event", "v1");
  return write_object("POST", ns_path(ns, "events"), "create", "events", std::move(event));
}

json::object api_client::patch_event(const std::string& ns, const std::string& name, int count,
                                     const std::string& last_timestamp,
                                     const std::string& message) {
  json::object patch{{"count", count}, {"lastTimestamp", last_timestamp}, {"message", message}};
  auto v = call("PATCH", ns_path(ns, "events") + "/" + name, "patch", "events",
                json::serialize(patch), "application/strategic-merge-patch+json");
  if (!v.is_object())
    throw transport_error("patch events: the answer is not a JSON object");
  return std::move(v.get_object());
}

} // namespace kcr::kube
