#include "app/kube_ports.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <random>

#include "actors/event_recorder.hpp"
#include "actors/node_readiness.hpp"
#include "kube/api_client.hpp"
#include "kube/object_fields.hpp"

namespace kcr::app {

namespace json = boost::json;

namespace {

json::object data_json(const std::map<std::string, std::string>& data) {
  json::object d;
  for (const auto& [k, v] : data)
    d[k] = v;
  return d;
}

// The object an Event is about.
struct involved_object {
  std::string kind;
  std::string ns; // empty for cluster-scoped objects (Nodes): their Events go to "default"
  std::string name;
  std::string uid; // empty: not sent
};

// A new Event in client-go's shape, named <object>.<hex timestamp> (a random suffix avoids
// collisions between instances that report on the same object in the same nanosecond).
json::object event_json(const involved_object& o, bool warning, const std::string& reason,
                        const std::string& message, int count, const std::string& host,
                        std::mt19937_64& rng) {
  auto now = rfc3339_now();
  char suffix[32];
  std::snprintf(
      suffix, sizeof suffix, "%llx",
      static_cast<unsigned long long>(std::chrono::system_clock::now().time_since_epoch().count() ^
                                      (rng() & 0xffff)));
  json::object involved{{"kind", o.kind}, {"name", o.name}, {"apiVersion", "v1"}};
  if (!o.uid.empty())
    involved["uid"] = o.uid;
  if (!o.ns.empty())
    involved["namespace"] = o.ns;
  json::object source{{"component", "kube-chorus-router"}};
  if (!host.empty())
    source["host"] = host;
  return {{"apiVersion", "v1"},
          {"kind", "Event"},
          {"metadata",
           {{"name", actors::event_name(o.name, suffix)},
            {"namespace", o.ns.empty() ? "default" : o.ns}}},
          {"involvedObject", std::move(involved)},
          {"reason", reason},
          {"message", message},
          {"source", std::move(source)},
          {"reportingComponent", "kube-chorus-router"},
          {"reportingInstance", host},
          {"firstTimestamp", now},
          {"lastTimestamp", now},
          {"count", count},
          {"type", warning ? "Warning" : "Normal"}};
}

class api_configmap_port final : public actors::configmap_port {
public:
  api_configmap_port(std::shared_ptr<const kube::client_config> cfg, std::string ns,
                     std::string name, std::string host)
      : client_(std::move(cfg)), ns_(std::move(ns)), name_(std::move(name)),
        host_(std::move(host)) {}

  actors::outcome<std::optional<actors::configmap_object>> get() override {
    auto text = client_.call_raw("GET", path(), "get", "configmaps");
    if (!text) {
      if (text.error().is_not_found())
        return std::optional<actors::configmap_object>{};
      return text.error();
    }
    auto cm = parse_configmap_answer(*text, "GET");
    if (!cm)
      return cm.error();
    return std::optional{std::move(*cm)};
  }

  actors::outcome<actors::configmap_object>
  create(const std::map<std::string, std::string>& data) override {
    json::object cm{{"apiVersion", "v1"},
                    {"kind", "ConfigMap"},
                    {"metadata",
                     {{"name", name_},
                      {"namespace", ns_},
                      {"labels", {{"app.kubernetes.io/managed-by", "kube-chorus-router"}}}}},
                    {"data", data_json(data)}};
    auto text = client_.call_raw("POST", "/api/v1/namespaces/" + ns_ + "/configmaps", "create",
                                 "configmaps", json::serialize(cm), "application/json");
    if (!text)
      return text.error();
    return parse_configmap_answer(*text, "POST");
  }

  actors::outcome<actors::patch_receipt> patch(const std::string& resource_version,
                                               const actors::data_changes& changes) override {
    // Compare-and-swap on the resourceVersion; only the changed keys travel.
    auto text = client_.patch_configmap_data(ns_, name_, resource_version, changes);
    if (!text)
      return text.error();
    // Only the resourceVersion of the answer is needed; parsing into a monotonic arena makes
    // its 30000 data strings one allocation instead of 30000.
    json::monotonic_resource arena;
    boost::system::error_code ec;
    auto answer = json::parse(*text, ec, &arena);
    if (ec || !answer.is_object())
      return kube::api_failure::no_answer("PATCH " + path() + ": the answer is not a JSON object");
    return actors::patch_receipt{kube::resource_version_of(answer.as_object()), text->size()};
  }

  actors::outcome<bool> warn(const std::string& reason, const std::string& message) override {
    auto posted = client_.create_event(
        ns_, event_json({"ConfigMap", ns_, name_, ""}, true, reason, message, 1, host_, rng_));
    if (!posted)
      return posted.error();
    return true;
  }

private:
  // The ConfigMap of a GET or POST answer, with the answer's size.
  actors::outcome<actors::configmap_object> parse_configmap_answer(const std::string& text,
                                                                   const char* verb) {
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_object())
      return kube::api_failure::no_answer(std::string{verb} + " " + path() +
                                          ": the answer is not a JSON object");
    const auto& cm = v.as_object();
    return actors::configmap_object{kube::resource_version_of(cm), kube::configmap_data(cm),
                                    text.size()};
  }
  std::string path() const { return "/api/v1/namespaces/" + ns_ + "/configmaps/" + name_; }

  kube::api_client client_;
  std::string ns_;
  std::string name_;
  std::string host_;
  std::mt19937_64 rng_{std::random_device{}()};
};

class api_node_annotation_port final : public actors::node_annotation_port {
public:
  explicit api_node_annotation_port(std::shared_ptr<const kube::client_config> cfg)
      : client_(std::move(cfg)) {}

  actors::outcome<std::string> patch(const std::string& node, const std::string& key,
                                     const std::optional<std::string>& value) override {
    // Only the one annotation travels (null removes it); no resourceVersion: the patch
    // touches nothing anyone else writes, so there is nothing to conflict with.
    json::object annotations{{key, value ? json::value(*value) : json::value(nullptr)}};
    json::object body{{"metadata", {{"annotations", std::move(annotations)}}}};
    auto answer = client_.call("PATCH", "/api/v1/nodes/" + node, "patch", "nodes",
                               json::serialize(body), "application/merge-patch+json");
    if (!answer)
      return answer.error();
    if (!answer->is_object())
      return kube::api_failure::no_answer("PATCH Node " + node +
                                          ": the answer is not a JSON object");
    return kube::resource_version_of(answer->as_object());
  }

private:
  kube::api_client client_;
};

// The agent's writes to its own Node (actors/node_readiness.hpp).
class api_node_status_port final : public actors::node_status_port {
public:
  explicit api_node_status_port(std::shared_ptr<const kube::client_config> cfg)
      : client_(std::move(cfg)) {}

  actors::outcome<bool> patch_condition(const std::string& node, const actors::tunnel_condition& c,
                                        bool transition) override {
    // A strategic merge patch merges status.conditions by type: the kubelet's conditions stay
    // (a JSON merge patch would replace the whole list). The transition time moves only when
    // the status does.
    auto now = rfc3339_now();
    json::object cond{{"type", actors::tunnel_condition_type},
                      {"status", c.ready ? "True" : "False"},
                      {"reason", c.reason},
                      {"message", c.message},
                      {"lastHeartbeatTime", now}};
    if (transition)
      cond["lastTransitionTime"] = now;
    json::object body{{"status", {{"conditions", json::array{std::move(cond)}}}}};
    auto patched =
        client_.call("PATCH", "/api/v1/nodes/" + node + "/status", "patch", "nodes/status",
                     json::serialize(body), "application/strategic-merge-patch+json");
    if (!patched)
      return patched.error();
    return true;
  }

  actors::outcome<bool> remove_taints(const std::string& node,
                                      const std::vector<std::size_t>& indices,
                                      const std::string& key) override {
    // spec.taints has no merge key (a strategic merge patch would replace the list): remove by
    // index, each index tested for our key first, so a list that moved fails with 422.
    json::array ops;
    for (auto i : indices) {
      auto at = "/spec/taints/" + std::to_string(i);
      ops.push_back(json::object{{"op", "test"}, {"path", at + "/key"}, {"value", key}});
      ops.push_back(json::object{{"op", "remove"}, {"path", at}});
    }
    auto patched = client_.call("PATCH", "/api/v1/nodes/" + node, "patch", "nodes",
                                json::serialize(ops), "application/json-patch+json");
    if (!patched)
      return patched.error();
    return true;
  }

private:
  kube::api_client client_;
};

actors::lease_record lease_of(const json::object& obj) {
  actors::lease_record r;
  r.resource_version = kube::resource_version_of(obj);
  if (auto* s = obj.if_contains("spec"); s && s->is_object()) {
    const auto& spec = s->as_object();
    auto str = [&](const char* key) -> std::string {
      auto* v = spec.if_contains(key);
      return v && v->is_string() ? std::string{v->as_string()} : std::string{};
    };
    auto num = [&](const char* key) -> int {
      auto* v = spec.if_contains(key);
      return v && v->is_int64() ? static_cast<int>(v->as_int64()) : 0;
    };
    r.holder = str("holderIdentity");
    r.lease_duration_seconds = num("leaseDurationSeconds");
    r.acquire_time = str("acquireTime");
    r.renew_time = str("renewTime");
    r.transitions = num("leaseTransitions");
  }
  return r;
}

json::object lease_json(const actors::lease_record& r, const std::string& ns,
                        const std::string& name) {
  json::object meta{{"name", name}, {"namespace", ns}};
  if (!r.resource_version.empty())
    meta["resourceVersion"] = r.resource_version;
  json::object spec{{"holderIdentity", r.holder},
                    {"leaseDurationSeconds", r.lease_duration_seconds},
                    {"leaseTransitions", r.transitions}};
  if (!r.acquire_time.empty())
    spec["acquireTime"] = r.acquire_time;
  if (!r.renew_time.empty())
    spec["renewTime"] = r.renew_time;
  return {{"apiVersion", "coordination.k8s.io/v1"},
          {"kind", "Lease"},
          {"metadata", std::move(meta)},
          {"spec", std::move(spec)}};
}

class api_lease_port final : public actors::lease_port {
public:
  api_lease_port(std::shared_ptr<const kube::client_config> cfg, std::string ns, std::string name)
      : client_(std::move(cfg)), ns_(std::move(ns)), name_(std::move(name)) {}

  actors::outcome<std::optional<actors::lease_record>> get() override {
    auto got = client_.get_lease(ns_, name_);
    if (!got) {
      if (got.error().is_not_found())
        return std::optional<actors::lease_record>{};
      return got.error();
    }
    return std::optional{lease_of(*got)};
  }
  actors::outcome<actors::lease_record> create(const actors::lease_record& lease) override {
    auto l = lease;
    l.resource_version.clear();
    auto created = client_.create_lease(ns_, lease_json(l, ns_, name_));
    if (!created)
      return created.error();
    return lease_of(*created);
  }
  actors::outcome<actors::lease_record> update(const actors::lease_record& lease) override {
    auto updated = client_.update_lease(ns_, lease_json(lease, ns_, name_));
    if (!updated)
      return updated.error();
    return lease_of(*updated);
  }

private:
  kube::api_client client_;
  std::string ns_;
  std::string name_;
};

class api_event_port final : public actors::event_port {
public:
  api_event_port(std::shared_ptr<const kube::client_config> cfg, std::string host)
      : client_(std::move(cfg)), host_(std::move(host)), rng_(std::random_device{}()) {}

  actors::outcome<actors::event_record> create(const actors::event_record& e) override {
    auto ev = event_json({"Node", "", e.node, e.uid}, e.warning, e.reason, e.message, e.count,
                         host_, rng_);
    std::string name{ev.at("metadata").as_object().at("name").as_string()};
    auto created = client_.create_event("default", std::move(ev));
    if (!created)
      return created.error();
    auto out = e;
    out.name = name;
    return out;
  }

  actors::outcome<actors::event_record> update_count(const actors::event_record& e) override {
    auto patched = client_.patch_event("default", e.name, e.count, rfc3339_now(), e.message);
    if (!patched)
      return patched.error();
    return e;
  }

private:
  kube::api_client client_;
  std::string host_;
  std::mt19937_64 rng_;
};

} // namespace

std::string rfc3339_now() {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::shared_ptr<actors::configmap_port>
make_configmap_port(std::shared_ptr<const kube::client_config> cfg, std::string ns,
                    std::string name, std::string host) {
  return std::make_shared<api_configmap_port>(std::move(cfg), std::move(ns), std::move(name),
                                              std::move(host));
}

std::shared_ptr<actors::lease_port> make_lease_port(std::shared_ptr<const kube::client_config> cfg,
                                                    std::string ns, std::string name) {
  return std::make_shared<api_lease_port>(std::move(cfg), std::move(ns), std::move(name));
}

std::shared_ptr<actors::node_annotation_port>
make_node_annotation_port(std::shared_ptr<const kube::client_config> cfg) {
  return std::make_shared<api_node_annotation_port>(std::move(cfg));
}

std::shared_ptr<actors::node_status_port>
make_node_status_port(std::shared_ptr<const kube::client_config> cfg) {
  return std::make_shared<api_node_status_port>(std::move(cfg));
}

std::shared_ptr<actors::event_port> make_event_port(std::shared_ptr<const kube::client_config> cfg,
                                                    std::string host) {
  return std::make_shared<api_event_port>(std::move(cfg), std::move(host));
}

} // namespace kcr::app
