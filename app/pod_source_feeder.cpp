#include "app/pod_source_feeder.hpp"

#include <set>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "kube/api_client.hpp"
#include "kube/backoff.hpp"
#include "kube/pod_sources.hpp"
#include "kube/reflector.hpp"

namespace kcr::app {

namespace {

// True when API discovery lists the resource (its CRD is installed and served).
kube::api_result<bool> served(kube::api_client& client, const kube::range_resource& r) {
  auto group_version = r.group + "/" + r.version;
  auto doc = client.call("GET", "/apis/" + group_version, "get", group_version + " (discovery)");
  if (!doc) {
    if (doc.error().is_not_found())
      return false; // no such API group: the CNI is not installed
    return doc.error();
  }
  const auto* resources = doc->is_object() ? doc->get_object().if_contains("resources") : nullptr;
  if (resources == nullptr || !resources->is_array())
    return false;
  for (const auto& res : resources->get_array()) {
    const auto* name = res.is_object() ? res.get_object().if_contains("name") : nullptr;
    if (name != nullptr && name->is_string() && name->get_string() == r.plural)
      return true;
  }
  return false;
}

using parse_fn = kube::range_object_result (*)(const boost::json::object&);

} // namespace

kube::api_result<pod_source_choice> detect_pod_source(kube::api_client& client) {
  auto calico = *kube::range_resource_for(kube::pod_cidr_source::calico_ipam);
  auto cilium = *kube::range_resource_for(kube::pod_cidr_source::cilium);
  std::string calico_note;
  auto calico_served = served(client, calico);
  if (!calico_served)
    return calico_served.error();
  if (*calico_served) {
    auto list = client.call("GET", calico.path() + "?limit=1", "list", calico.qualified());
    if (!list)
      return list.error();
    const auto* items = list->is_object() ? list->get_object().if_contains("items") : nullptr;
    if (items != nullptr && items->is_array() && !items->get_array().empty())
      return pod_source_choice{kube::pod_cidr_source::calico_ipam,
                               calico.qualified() +
                                   " has objects: Calico IPAM assigns the pod addresses"};
    calico_note = calico.qualified() + " is served but empty (Calico without its IPAM, or "
                                       "Canal); ";
  }
  auto cilium_served = served(client, cilium);
  if (!cilium_served)
    return cilium_served.error();
  if (*cilium_served)
    return pod_source_choice{kube::pod_cidr_source::cilium,
                             calico_note + cilium.qualified() + " is served: Cilium"};
  return pod_source_choice{
      kube::pod_cidr_source::node,
      calico_note + "no Calico IPAM blocks and no CiliumNodes: the Nodes' own pod CIDRs"};
}

pod_source_feeder::pod_source_feeder(std::shared_ptr<const kube::client_config> cfg,
                                     kube::pod_cidr_source requested,
                                     actors::node_watcher_actor target,
                                     std::shared_ptr<actors::telemetry> tel,
                                     std::function<void(kube::pod_cidr_source)> on_chosen)
    : cfg_(std::move(cfg)), requested_(requested), target_(std::move(target)), tel_(std::move(tel)),
      on_chosen_(std::move(on_chosen)), client_(std::make_unique<kube::api_client>(cfg_)) {}

pod_source_feeder::~pod_source_feeder() {
  stop();
}

void pod_source_feeder::start() {
  thread_ = std::thread([this] { run(); });
}

void pod_source_feeder::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    if (reflector_)
      reflector_->stop();
  }
  cv_.notify_all();
  client_->stop();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id())
    thread_.join();
}

void pod_source_feeder::run() {
  auto choice = settle();
  if (!choice)
    return; // stopped
  spdlog::info("pod ranges from {} ({})", kube::to_string(choice->source), choice->why);
  caf::anon_send(target_, actors::pod_source_chosen{choice->source});
  on_chosen_(choice->source);
  if (kube::range_resource_for(choice->source))
    feed_objects(choice->source);
}

std::optional<pod_source_choice> pod_source_feeder::settle() {
  if (requested_ != kube::pod_cidr_source::automatic)
    return pod_source_choice{requested_, "--pod-cidr-source"};
  kube::backoff retry;
  for (;;) {
    auto c = detect_pod_source(*client_);
    if (c) {
      c->why = "auto: " + c->why;
      return std::move(*c);
    }
    const auto& f = c.error();
    spdlog::warn("pod range source: cannot detect it yet: {}{}", f.what(),
                 f.is_forbidden() ? "; " + f.rbac_hint() : "");
    std::unique_lock lock(mutex_);
    if (cv_.wait_for(lock, retry.next(), [this] { return stop_; }))
      return std::nullopt;
  }
}

void pod_source_feeder::feed_objects(kube::pod_cidr_source source) {
  auto res = *kube::range_resource_for(source);
  parse_fn parse = source == kube::pod_cidr_source::calico_ipam ? &kube::parse_block_affinity
                                                                : &kube::parse_cilium_node;
  auto reported = std::make_shared<std::set<std::string>>();
  auto convert = [parse, reported](const boost::json::object& obj) {
    auto r = parse(obj);
    if (!r.object && reported->insert(r.error).second)
      spdlog::warn("pod range objects: skipping {}", r.error);
    return r.object;
  };
  auto target = target_;
  kube::reflector_callbacks cb;
  cb.on_list = [target, convert](std::vector<boost::json::object>&& items, const std::string&) {
    actors::range_objects_listed msg;
    for (const auto& item : items)
      if (auto o = convert(item))
        msg.objects.push_back(std::move(*o));
    caf::anon_send(target, std::move(msg));
  };
  cb.on_event = [target, convert](kube::watch_event_type type, const boost::json::object& obj) {
    auto o = convert(obj);
    if (!o)
      return;
    if (type == kube::watch_event_type::deleted)
      caf::anon_send(target, actors::range_object_removed{o->name});
    else
      caf::anon_send(target, actors::range_object_changed{std::move(*o)});
  };
  auto tel = tel_;
  cb.on_error = [tel, res](const std::string& message) {
    bool missing = message.find("HTTP 404") != std::string::npos;
    spdlog::warn("{} watch: {}{}", res.qualified(), message,
                 missing ? " (is the CRD installed? nodes wait for their pod ranges)" : "");
    if (tel)
      tel->metrics.watch_restart(res.plural, "error");
  };
  kube::reflector_options opts;
  opts.resource = kube::resource_ref{res.path(), res.qualified(), ""};
  kube::reflector* r = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (stop_)
      return;
    reflector_ = std::make_unique<kube::reflector>(cfg_, opts, std::move(cb));
    r = reflector_.get();
  }
  r->run();
}

} // namespace kcr::app
