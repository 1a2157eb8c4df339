#include "app/feeders.hpp"

#include <set>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "kube/node.hpp"
#include "kube/object_fields.hpp"
#include "kube/reflector.hpp"
#include "net/link_monitor.hpp"

namespace kcr::app {

namespace {

// Parses one Node; a hard error is logged once per distinct message, the object skipped.
std::optional<kube::node_info> parse(const boost::json::object& obj,
                                     std::set<std::string>& reported,
                                     kube::pod_cidr_source source = kube::pod_cidr_source::node) {
  auto r = kube::parse_node(boost::json::value(obj), source);
  if (r) {
    // Everything downstream works from the parsed fields and our own annotation; real Nodes
    // carry kilobytes of labels and annotations, which would otherwise be held twice per node
    // at 5000 nodes.
    auto& ann = r.node->annotations;
    auto ours = ann.extract(actors::overlay_ip_annotation);
    r.node->labels.clear();
    ann.clear();
    if (ours)
      ann.insert(std::move(ours));
    return std::move(*r.node);
  }
  if (reported.insert(r.error).second)
    spdlog::warn("node watch: skipping an unusable Node: {}", r.error);
  return std::nullopt;
}

} // namespace

node_feeder::node_feeder(std::shared_ptr<const kube::client_config> cfg,
                         kube::pod_cidr_source source, actors::node_watcher_actor target,
                         std::shared_ptr<actors::telemetry> tel) {
  auto reported = std::make_shared<std::set<std::string>>();
  auto lists = std::make_shared<size_t>(0);
  // A streamed list arrives Node by Node: each is reduced to its model on arrival, so the
  // JSON of only one Node is held at a time (a LIST of 5000 real Nodes is ~9 MB of JSON).
  auto pending = std::make_shared<actors::nodes_listed>();
  kube::reflector_callbacks cb;
  cb.on_list_start = [pending] { pending->nodes.clear(); };
  cb.on_list_item = [pending, reported, source](boost::json::object&& item) {
    if (auto n = parse(item, *reported, source))
      pending->nodes.push_back(std::move(*n));
  };
  cb.on_list = [target, reported, lists, tel, pending,
                source](std::vector<boost::json::object>&& items, const std::string&) {
    actors::nodes_listed msg = std::move(*pending);
    pending->nodes.clear();
    msg.nodes.reserve(msg.nodes.size() + items.size());
    for (const auto& item : items)
      if (auto n = parse(item, *reported, source))
        msg.nodes.push_back(std::move(*n));
    if ((*lists)++ > 0 && tel)
      tel->metrics.watch_restart("nodes", "relist");
    caf::anon_send(target, std::move(msg));
  };
  cb.on_event = [target, reported, source](kube::watch_event_type type,
                                           const boost::json::object& obj) {
    if (type == kube::watch_event_type::deleted) {
      if (auto n = parse(obj, *reported, source))
        caf::anon_send(target, actors::node_removed{n->name});
      return;
    }
    if (auto n = parse(obj, *reported, source))
      caf::anon_send(target, actors::node_changed{std::move(*n)});
  };
  cb.on_error = [tel](const std::string& message) {
    spdlog::warn("node watch: {}", message);
    if (tel)
      tel->metrics.watch_restart("nodes", "error");
  };
  kube::reflector_options opts;
  opts.resource = kube::resource_ref::nodes();
  opts.watch_list = true;
  reflector_ = std::make_unique<kube::reflector>(std::move(cfg), opts, std::move(cb));
}

node_feeder::~node_feeder() = default;
void node_feeder::start() {
  reflector_->start();
}
void node_feeder::stop() {
  reflector_->stop();
}

own_node_feeder::own_node_feeder(std::shared_ptr<const kube::client_config> cfg,
                                 const std::string& node, actors::tunnel_supervisor_actor target,
                                 std::shared_ptr<actors::telemetry> tel) {
  auto reported = std::make_shared<std::set<std::string>>();
  auto gone = [node] {
    actors::own_node_observed msg;
    msg.node.name = node;
    return msg;
  };
  kube::reflector_callbacks cb;
  cb.on_list = [target, reported, gone](std::vector<boost::json::object>&& items,
                                        const std::string&) {
    for (const auto& item : items)
      if (auto n = parse(item, *reported)) {
        caf::anon_send(target, actors::own_node_observed{true, std::move(*n)});
        return;
      }
    caf::anon_send(target, gone()); // not (yet) registered, or deleted
  };
  cb.on_event = [target, reported, gone](kube::watch_event_type type,
                                         const boost::json::object& obj) {
    if (type == kube::watch_event_type::deleted) {
      caf::anon_send(target, gone());
      return;
    }
    if (auto n = parse(obj, *reported))
      caf::anon_send(target, actors::own_node_observed{true, std::move(*n)});
  };
  cb.on_error = [tel, node](const std::string& message) {
    spdlog::warn("own Node watch ({}): {}", node, message);
    if (tel)
      tel->metrics.watch_restart("nodes", "error");
  };
  kube::reflector_options opts;
  // This Node only: the API server sends no other Node's events, so the cost is one Node
  // whatever the cluster's size.
  opts.resource = kube::resource_ref::nodes();
  opts.resource.field_selector = "metadata.name=" + node;
  reflector_ = std::make_unique<kube::reflector>(std::move(cfg), opts, std::move(cb));
}

own_node_feeder::~own_node_feeder() = default;
void own_node_feeder::start() {
  reflector_->start();
}
void own_node_feeder::stop() {
  reflector_->stop();
}

configmap_feeder::configmap_feeder(std::shared_ptr<const kube::client_config> cfg,
                                   const std::string& ns, const std::string& name,
                                   actors::configmap_watcher_actor target,
                                   std::shared_ptr<actors::telemetry> tel) {
  kube::reflector_callbacks cb;
  cb.on_list = [target, name](std::vector<boost::json::object>&& items, const std::string& rv) {
    actors::configmap_observed msg;
    for (const auto& item : items) {
      msg.exists = true;
      msg.resource_version = kube::resource_version_of(item);
      msg.data = kube::configmap_data(item);
    }
    if (!msg.exists)
      msg.resource_version = rv; // absent as of this list
    caf::anon_send(target, std::move(msg));
  };
  cb.on_event = [target](kube::watch_event_type type, const boost::json::object& obj) {
    actors::configmap_observed msg;
    msg.exists = type != kube::watch_event_type::deleted;
    msg.resource_version = kube::resource_version_of(obj);
    if (msg.exists)
      msg.data = kube::configmap_data(obj);
    caf::anon_send(target, std::move(msg));
  };
  cb.on_error = [tel, name](const std::string& message) {
    spdlog::warn("configmap watch ({}): {}", name, message);
    if (tel)
      tel->metrics.watch_restart("configmaps", "error");
  };
  kube::reflector_options opts;
  opts.resource = kube::resource_ref::configmap(ns, name);
  reflector_ = std::make_unique<kube::reflector>(std::move(cfg), opts, std::move(cb));
}

configmap_feeder::~configmap_feeder() = default;
void configmap_feeder::start() {
  reflector_->start();
}
void configmap_feeder::stop() {
  reflector_->stop();
}

link_feeder::link_feeder(std::string interface, actors::tunnel_supervisor_actor target)
    : interface_(std::move(interface)), target_(std::move(target)) {
  auto m = net::link_monitor::open({interface_});
  if (!m)
    throw std::runtime_error("cannot watch interface " + interface_ + ": " + m.error().message);
  monitor_ = std::move(m.value());
}

link_feeder::~link_feeder() {
  stop();
}

void link_feeder::start() {
  thread_ = std::thread([this] {
    auto err = monitor_->run(stop_, [this](const net::link_event& e) {
      caf::anon_send(target_, actors::link_changed{e.interface.empty() ? interface_ : e.interface,
                                                   std::string{net::to_string(e.kind)} +
                                                       (e.detail.empty() ? "" : " " + e.detail)});
    });
    if (err)
      spdlog::error("link monitor for {} stopped: {} (drift is repaired at the periodic sync "
                    "only)",
                    interface_, err->message);
  });
}

void link_feeder::stop() {
  stop_ = true;
  if (monitor_)
    monitor_->wake();
  if (thread_.joinable())
    thread_.join();
}

} // namespace kcr::app
