// Kubernetes API operations on top of http_connection. See api_client.hpp.
#include "kube/api_client.hpp"

#include <stdexcept>

#include "kube/api_error.hpp"
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

api_result<json::value> parse_body(const std::string& body, const std::string& what) {
  if (body.empty())
    return json::value(nullptr);
  boost::system::error_code ec;
  // One arena per answer (shared by whatever is kept of it): a page of 500 Nodes is tens of
  // thousands of strings, each otherwise its own allocation.
  auto v = json::parse(body, ec, json::make_shared_resource<json::monotonic_resource>());
  if (ec)
    return api_failure::no_answer(what +
                                  ": the server answered with invalid JSON: " + ec.message());
  return v;
}

// The answer as an object; anything else is no usable answer.
api_result<json::object> object_of(api_result<json::value> v, const std::string& what) {
  if (!v)
    return v.error();
  if (!v->is_object())
    return api_failure::no_answer(what + ": the answer is not a JSON object");
  return std::move(v->get_object());
}

// The one place where the exceptions of the connection layer (Beast, OpenSSL, the watch
// decoder, an exec credential plugin) become failure values. Exceptions of other types (a
// watch handler's) propagate.
template <class F>
auto converted(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const stopped_error&) {
    return api_failure::stopped();
  } catch (const transport_error& e) {
    return api_failure::no_answer(e.what());
  }
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

api_failure make_api_failure(int status, const std::string& body, const std::string& verb,
                             const std::string& resource) {
  boost::system::error_code ec;
  // One arena per answer (shared by whatever is kept of it): a page of 500 Nodes is tens of
  // thousands of strings, each otherwise its own allocation.
  auto v = json::parse(body, ec, json::make_shared_resource<json::monotonic_resource>());
  if (!ec && v.is_object()) {
    const auto& o = v.get_object();
    return api_failure{status, str(&o, "reason"), str(&o, "message"), verb, resource};
  }
  // Not a Status (a proxy's HTML page, plain text): keep the text, bounded.
  std::string text = body.substr(0, 512);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.pop_back();
  return api_failure{status, "", text, verb, resource};
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

api_result<json::value> api_client::call(const std::string& method, const std::string& target,
                                         const std::string& verb, const std::string& resource,
                                         const std::string& body, const std::string& content_type) {
  auto raw = call_raw(method, target, verb, resource, body, content_type);
  if (!raw)
    return raw.error();
  return parse_body(*raw, verb + " " + resource);
}

api_result<std::string> api_client::call_raw(const std::string& method, const std::string& target,
                                             const std::string& verb, const std::string& resource,
                                             const std::string& body,
                                             const std::string& content_type) {
  return converted([&]() -> api_result<std::string> {
    http_request req{method, target, body, content_type, resource};
    auto resp = conn_->request(req);
    // A rotated token file: re-read it and retry once (the request was not processed).
    if (resp.status == 401 && cfg_->token && cfg_->token->invalidate())
      resp = conn_->request(req);
    if (resp.status < 200 || resp.status > 299) {
      auto err = make_api_failure(resp.status, resp.body, verb, resource);
      if (resp.status == 401 && cfg_->token && !cfg_->server.tls())
        err.message += " (credentials are never sent over plain http)";
      return err;
    }
    return std::move(resp.body);
  });
}

namespace {

std::string page_target(const resource_ref& r, std::size_t limit, const std::string& rv,
                        const std::string& cont) {
  std::string target = r.path + "?limit=" + std::to_string(limit);
  if (!rv.empty())
    target += "&resourceVersion=" + url_encode(rv);
  if (!r.field_selector.empty())
    target += "&fieldSelector=" + url_encode(r.field_selector);
  if (!cont.empty())
    target += "&continue=" + url_encode(cont);
  return target;
}

// Moves the page's items into `out`; returns its continue token.
std::string take_page(json::object& page, object_list& out) {
  auto md = sub(page, "metadata");
  if (out.resource_version.empty())
    out.resource_version = str(md, "resourceVersion");
  if (auto it = page.find("items"); it != page.end() && it->value().is_array()) {
    for (auto& item : it->value().get_array())
      if (item.is_object())
        out.items.push_back(std::move(item.get_object()));
  }
  return str(md, "continue");
}

} // namespace

api_result<object_list> api_client::list(const resource_ref& r, std::size_t limit,
                                         const std::string& resource_version) {
  // An expired continue token means the snapshot is gone: start over, a bounded number of times.
  for (int restart = 0;; ++restart) {
    object_list out;
    std::string cont;
    do {
      // The resourceVersion only applies to the first page; the continue token carries it.
      auto rv = cont.empty() && restart == 0 ? resource_version : std::string{};
      auto page = object_of(call("GET", page_target(r, limit, rv, cont), "list", r.resource),
                            "list " + r.resource);
      if (!page) {
        if (!page.error().is_expired() || cont.empty() || restart >= 3)
          return page.error();
        break; // restart
      }
      cont = take_page(*page, out);
    } while (!cont.empty());
    if (cont.empty())
      return out;
  }
}

api_result<watch_summary> api_client::watch(const resource_ref& r, const watch_options& o,
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
  return converted([&]() -> api_result<watch_summary> {
    auto resp = conn_->stream(req, max_duration, on_data);
    if (resp.status == 401 && cfg_->token && cfg_->token->invalidate())
      resp = conn_->stream(req, max_duration, on_data);
    if (resp.status < 200 || resp.status > 299)
      return make_api_failure(resp.status, resp.body, "watch", r.resource);
    if (dec.mid_event() && !sum.cancelled)
      return api_failure::no_answer("watch " + r.resource +
                                    ": stream ended in the middle of an event");
    return sum;
  });
}

api_result<json::object> api_client::write_object(const std::string& method,
                                                  const std::string& target,
                                                  const std::string& verb,
                                                  const std::string& resource, json::object obj) {
  return object_of(call(method, target, verb, resource, json::serialize(obj), "application/json"),
                   verb + " " + resource);
}

api_result<json::object> api_client::get_configmap(const std::string& ns, const std::string& name) {
  return object_of(call("GET", ns_path(ns, "configmaps") + "/" + name, "get", "configmaps"),
                   "get configmaps");
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

api_result<json::object> api_client::create_configmap(const std::string& ns, json::object cm) {
  checked_name_for_create(cm, "configmaps");
  ensure_type(cm, "ConfigMap", "v1");
  return write_object("POST", ns_path(ns, "configmaps"), "create", "configmaps", std::move(cm));
}

api_result<json::object> api_client::update_configmap(const std::string& ns, json::object cm) {
  auto name = checked_name_for_update(cm, "configmaps");
  ensure_type(cm, "ConfigMap", "v1");
  return write_object("PUT", ns_path(ns, "configmaps") + "/" + name, "update", "configmaps",
                      std::move(cm));
}

api_result<std::string> api_client::patch_configmap_data(
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

api_result<json::object> api_client::get_lease(const std::string& ns, const std::string& name) {
  return object_of(call("GET", lease_path(ns) + "/" + name, "get", "leases"), "get leases");
}

api_result<json::object> api_client::create_lease(const std::string& ns, json::object lease) {
  checked_name_for_create(lease, "leases");
  ensure_type(lease, "Lease", "coordination.k8s.io/v1");
  return write_object("POST", lease_path(ns), "create", "leases", std::move(lease));
}

api_result<json::object> api_client::update_lease(const std::string& ns, json::object lease) {
  auto name = checked_name_for_update(lease, "leases");
  ensure_type(lease, "Lease", "coordination.k8s.io/v1");
  return write_object("PUT", lease_path(ns) + "/" + name, "update", "leases", std::move(lease));
}

api_result<json::object> api_client::create_event(const std::string& ns, json::object event) {
  checked_name_for_create(event, "events");
  ensure_type(event, "Event", "v1");
  return write_object("POST", ns_path(ns, "events"), "create", "events", std::move(event));
}

api_result<json::object> api_client::patch_event(const std::string& ns, const std::string& name,
                                                 int count, const std::string& last_timestamp,
                                                 const std::string& message) {
  json::object patch{{"count", count}, {"lastTimestamp", last_timestamp}, {"message", message}};
  return object_of(call("PATCH", ns_path(ns, "events") + "/" + name, "patch", "events",
                        json::serialize(patch), "application/strategic-merge-patch+json"),
                   "patch events");
}

} // namespace kcr::kube
