// In-memory fakes of the API ports (actors/ports.hpp) for deterministic actor tests.
//
// The ConfigMap and the Lease live in a `fake_store`, an object with an integer resourceVersion
// that behaves like the API server: compare-and-swap on update (409 Conflict on a stale version),
// 404 on update when absent, 409 AlreadyExists on create when present. Several ports may share
// one store (two leader electors, a publisher and "someone editing by hand"); each port has its
// own call counters and its own injected failures, so a test can break one client only.
//
// Verbs are the port method names: "get", "create", "update" (configmap/lease) and "create",
// "update_count" (events). "*" in fail_next() matches every verb.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "actors/ports.hpp"
#include "actors/write_budget.hpp"

namespace kcr::test {

// --- failures as the API server reports them (kube-api-facts.md) --------------------------------

inline actors::api_failure transport_failure(std::string message = "connection refused") {
  return actors::api_failure::no_answer(std::move(message));
}
inline actors::api_failure conflict_failure(const std::string& kind = "configmaps",
                                            const std::string& name = "kube-chorus-router") {
  return {409, "Conflict",
          "Operation cannot be fulfilled on " + kind + " \"" + name +
              "\": the object has been modified; please apply your changes to the latest "
              "version and try again"};
}
inline actors::api_failure already_exists_failure(const std::string& kind = "configmaps",
                                                  const std::string& name = "kube-chorus-router") {
  return {409, "AlreadyExists", kind + " \"" + name + "\" already exists"};
}
inline actors::api_failure not_found_failure(const std::string& kind = "configmaps",
                                             const std::string& name = "kube-chorus-router") {
  return {404, "NotFound", kind + " \"" + name + "\" not found"};
}

/// Any other HTTP status (500, 403, 422, ...).
inline actors::api_failure http_failure(int code, std::string reason = "InternalError",
                                        std::string message = "internal error") {
  return {code, std::move(reason), std::move(message)};
}

/// Per-port bookkeeping: every call counted by verb, failures injected for the next N calls,
/// and an optional hook that runs before each call (e.g. to simulate a concurrent writer).
class fake_call_log {
public:
  /// The next `n` calls of `verb` ("*": any verb) fail with `f` without touching the store.
  void fail_next(int n, actors::api_failure f, std::string verb = "*") {
    std::lock_guard guard{mtx_};
    for (int i = 0; i < n; ++i)
      rules_.push_back({verb, f, false});
  }
  /// Every call of `verb` fails until clear_failures().
  void fail_always(actors::api_failure f, std::string verb = "*") {
    std::lock_guard guard{mtx_};
    always_ = rule{std::move(verb), std::move(f), false};
  }
  /// The next `n` calls of `verb` take effect, but the caller gets a transport failure (the
  /// response was lost): the ambiguous case a CAS writer must survive.
  void lose_response_next(int n, std::string verb = "*") {
    std::lock_guard guard{mtx_};
    for (int i = 0; i < n; ++i)
      rules_.push_back({verb, transport_failure("response lost"), true});
  }
  void clear_failures() {
    std::lock_guard guard{mtx_};
    rules_.clear();
    always_.reset();
  }

  /// Calls of `verb` so far, failed ones included.
  int calls(const std::string& verb) const {
    std::lock_guard guard{mtx_};
    auto it = calls_.find(verb);
    return it == calls_.end() ? 0 : it->second;
  }
  int total_calls() const {
    std::lock_guard guard{mtx_};
    int n = 0;
    for (const auto& [verb, count] : calls_)
      n += count;
    return n;
  }
  void reset_calls() {
    std::lock_guard guard{mtx_};
    calls_.clear();
  }

  /// Runs before every call with its verb (outside any lock: it may edit the store).
  std::function<void(const std::string& verb)> on_call;

protected:
  struct verdict {
    std::optional<actors::api_failure> failure;
    bool apply_anyway = false; // lose_response: do the call, then report `failure`
  };

  verdict enter(const std::string& verb) {
    if (on_call)
      on_call(verb);
    std::lock_guard guard{mtx_};
    ++calls_[verb];
    for (auto it = rules_.begin(); it != rules_.end(); ++it)
      if (it->verb == "*" || it->verb == verb) {
        verdict v{it->failure, it->apply};
        rules_.erase(it);
        return v;
      }
    if (always_ && (always_->verb == "*" || always_->verb == verb))
      return {always_->failure, false};
    return {};
  }

private:
  struct rule {
    std::string verb;
    actors::api_failure failure;
    bool apply = false;
  };
  mutable std::mutex mtx_;
  std::map<std::string, int> calls_;
  std::deque<rule> rules_;
  std::optional<rule> always_;
};

/// One API object with an integer resourceVersion ("1", "2", ...), shared between ports.
template <class T>
class fake_store {
public:
  std::optional<T> get() const {
    std::lock_guard guard{mtx_};
    return object_;
  }
  actors::outcome<T> create(T obj, const std::string& kind, const std::string& name) {
    std::lock_guard guard{mtx_};
    if (object_)
      return already_exists_failure(kind, name);
    obj.resource_version = std::to_string(++version_);
    object_ = obj;
    return obj;
  }
  actors::outcome<T> update(T obj, const std::string& kind, const std::string& name) {
    std::lock_guard guard{mtx_};
    if (!object_)
      return not_found_failure(kind, name);
    if (obj.resource_version != object_->resource_version)
      return conflict_failure(kind, name);
    obj.resource_version = std::to_string(++version_);
    object_ = obj;
    return obj;
  }
  /// A write that is not through a port (kubectl edit, another controller): creates the object
  /// when absent, always bumps the resourceVersion. Returns the stored object.
  T hand_edit(const std::function<void(T&)>& edit) {
    std::lock_guard guard{mtx_};
    T obj = object_.value_or(T{});
    edit(obj);
    obj.resource_version = std::to_string(++version_);
    object_ = obj;
    return obj;
  }
  /// kubectl delete.
  void remove() {
    std::lock_guard guard{mtx_};
    object_.reset();
  }
  /// The last resourceVersion handed out (0: never written).
  int64_t version() const {
    std::lock_guard guard{mtx_};
    return version_;
  }

private:
  mutable std::mutex mtx_;
  std::optional<T> object_;
  int64_t version_ = 0;
};

/// Shared plumbing of the two CAS ports.
template <class T>
class fake_cas_port : public fake_call_log {
public:
  using store_type = fake_store<T>;

  fake_cas_port(std::shared_ptr<store_type> store, std::string kind, std::string name)
      : store_(std::move(store)), kind_(std::move(kind)), name_(std::move(name)) {}

  std::shared_ptr<store_type> store() const { return store_; }
  std::optional<T> current() const { return store_->get(); }
  T hand_edit(const std::function<void(T&)>& edit) { return store_->hand_edit(edit); }
  void remove() { store_->remove(); }
  /// Successful creates and updates made through this port, in order (as stored).
  std::vector<T> writes() const {
    std::lock_guard guard{mtx_};
    return writes_;
  }

protected:
  actors::outcome<std::optional<T>> do_get() {
    auto v = enter("get");
    if (v.failure)
      return *v.failure;
    return store_->get();
  }
  actors::outcome<T> do_write(const std::string& verb, T obj) {
    auto v = enter(verb);
    if (v.failure && !v.apply_anyway)
      return *v.failure;
    auto r = verb == "create" ? store_->create(std::move(obj), kind_, name_)
                              : store_->update(std::move(obj), kind_, name_);
    if (r) {
      std::lock_guard guard{mtx_};
      writes_.push_back(r.value());
    }
    if (v.failure)
      return *v.failure;
    return r;
  }

private:
  std::shared_ptr<store_type> store_;
  std::string kind_;
  std::string name_;
  mutable std::mutex mtx_;
  std::vector<T> writes_;
};

class fake_configmap_port : public actors::configmap_port,
                            public fake_cas_port<actors::configmap_object> {
public:
  explicit fake_configmap_port(std::shared_ptr<store_type> store = std::make_shared<store_type>())
      : fake_cas_port(std::move(store), "configmaps", "kube-chorus-router") {}

  actors::outcome<std::optional<actors::configmap_object>> get() override { return do_get(); }
  actors::outcome<actors::configmap_object>
  create(const std::map<std::string, std::string>& data) override {
    return do_write("create", actors::configmap_object{"", data});
  }
  actors::outcome<actors::patch_receipt> patch(const std::string& resource_version,
                                               const actors::data_changes& changes) override {
    // As the API server: the precondition is checked against the stored object (409 when stale,
    // 404 when absent), then the merge patch applies.
    auto cur = current();
    actors::configmap_object obj = cur.value_or(actors::configmap_object{});
    if (!cur)
      obj.resource_version = "absent"; // update() of a missing object answers 404
    else
      obj.resource_version = resource_version;
    for (const auto& [k, v] : changes) {
      if (v)
        obj.data[k] = *v;
      else
        obj.data.erase(k);
    }
    auto r = do_write("patch", std::move(obj));
    if (!r)
      return r.error();
    ++patches_;
    patched_bytes_ += actors::size_of(r.value().data).encoded;
    return actors::patch_receipt{r.value().resource_version,
                                 actors::size_of(r.value().data).encoded};
  }

  actors::outcome<bool> warn(const std::string& reason, const std::string& message) override {
    auto v = enter("warn");
    if (v.failure)
      return *v.failure;
    std::lock_guard guard{warn_mtx_};
    warnings_.emplace_back(reason, message);
    return true;
  }
  /// The Warning Events posted about the ConfigMap: (reason, message).
  std::vector<std::pair<std::string, std::string>> warnings() const {
    std::lock_guard guard{warn_mtx_};
    return warnings_;
  }

  /// Hand-edits the data (creating the ConfigMap when absent); returns the stored object.
  actors::configmap_object
  edit_data(const std::function<void(std::map<std::string, std::string>&)>& edit) {
    return hand_edit([&](actors::configmap_object& o) { edit(o.data); });
  }
  /// Replaces the data by hand.
  actors::configmap_object set_data(std::map<std::string, std::string> data) {
    return edit_data([&](auto& d) { d = std::move(data); });
  }

  /// Successful patches and the bytes they stored (the whole object each, as etcd stores it).
  int patches() const { return patches_; }
  std::size_t patched_bytes() const { return patched_bytes_; }

private:
  std::atomic<int> patches_{0};
  std::atomic<std::size_t> patched_bytes_{0};
  mutable std::mutex warn_mtx_;
  std::vector<std::pair<std::string, std::string>> warnings_;
};

class fake_lease_port : public actors::lease_port, public fake_cas_port<actors::lease_record> {
public:
  explicit fake_lease_port(std::shared_ptr<store_type> store = std::make_shared<store_type>())
      : fake_cas_port(std::move(store), "leases.coordination.k8s.io", "kube-chorus-router") {}

  actors::outcome<std::optional<actors::lease_record>> get() override { return do_get(); }
  actors::outcome<actors::lease_record> create(const actors::lease_record& lease) override {
    return do_write("create", lease);
  }
  actors::outcome<actors::lease_record> update(const actors::lease_record& lease) override {
    return do_write("update", lease);
  }
};

/// Events: create names them "<node>.<n>"; update_count of an unknown name is a 404 (Events
/// expire on the server after an hour).
class fake_event_port : public actors::event_port, public fake_call_log {
public:
  actors::outcome<actors::event_record> create(const actors::event_record& e) override {
    auto v = enter("create");
    if (v.failure)
      return *v.failure;
    std::lock_guard guard{mtx_};
    auto stored = e;
    stored.name = e.node + "." + std::to_string(++serial_);
    events_[stored.name] = stored;
    created_.push_back(stored);
    return stored;
  }
  actors::outcome<actors::event_record> update_count(const actors::event_record& e) override {
    auto v = enter("update_count");
    if (v.failure)
      return *v.failure;
    std::lock_guard guard{mtx_};
    auto it = events_.find(e.name);
    if (it == events_.end())
      return not_found_failure("events", e.name);
    it->second.count = e.count;
    it->second.message = e.message;
    patched_.push_back(it->second);
    return it->second;
  }

  /// Successful POSTs / PATCHes, in order, as stored.
  std::vector<actors::event_record> created() const {
    std::lock_guard guard{mtx_};
    return created_;
  }
  std::vector<actors::event_record> patched() const {
    std::lock_guard guard{mtx_};
    return patched_;
  }
  std::optional<actors::event_record> find(const std::string& name) const {
    std::lock_guard guard{mtx_};
    auto it = events_.find(name);
    return it == events_.end() ? std::nullopt : std::optional{it->second};
  }
  /// The server forgot every Event (TTL expired).
  void expire_all() {
    std::lock_guard guard{mtx_};
    events_.clear();
  }

private:
  mutable std::mutex mtx_;
  int serial_ = 0;
  std::map<std::string, actors::event_record> events_;
  std::vector<actors::event_record> created_;
  std::vector<actors::event_record> patched_;
};

} // namespace kcr::test
