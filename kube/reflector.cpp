// The list+watch loop. See reflector.hpp.
#include "kube/reflector.hpp"

#include <random>

namespace kcr::kube {

reflector::reflector(std::shared_ptr<const client_config> cfg, reflector_options opts,
                     reflector_callbacks cb)
    : opts_(std::move(opts)), cb_(std::move(cb)), client_(std::move(cfg)),
      clock_(opts_.clock ? opts_.clock : std::make_shared<steady_retry_clock>()),
      backoff_(opts_.retry_backoff, [c = clock_] { return c->now(); }) {}

reflector::~reflector() {
  stop();
  if (thread_.joinable())
    thread_.join();
}

void reflector::start() {
  thread_ = std::thread([this] {
    // A throwing callback must not terminate the process from a background thread: report
    // it and end this reflector (the owner sees on_error and can rebuild it).
    try {
      run();
    } catch (const std::exception& e) {
      report(std::string("reflector ended: a callback threw: ") + e.what());
    }
  });
}

void reflector::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  client_.stop();
}

reflector_stats reflector::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

std::string reflector::last_resource_version() const {
  std::lock_guard lock(mutex_);
  return rv_;
}

bool reflector::sleep_for(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  return clock_->wait(lock, cv_, d, [this] { return stop_.load(); });
}

void reflector::set_rv(std::string rv) {
  std::lock_guard lock(mutex_);
  rv_ = std::move(rv);
}

void reflector::report(const std::string& msg) {
  {
    std::lock_guard lock(mutex_);
    ++stats_.errors;
  }
  if (cb_.on_error)
    cb_.on_error(msg);
}

std::chrono::seconds reflector::pick_timeout() {
  auto lo = opts_.min_watch_timeout.count();
  auto hi = std::max(lo, opts_.max_watch_timeout.count());
  thread_local std::mt19937 gen{std::random_device{}()};
  return std::chrono::seconds(std::uniform_int_distribution<long long>(lo, hi)(gen));
}

api_result<std::size_t> reflector::list() {
  // client-go's choice: the first list may come from the API server's watch cache ("0",
  // one page, no etcd read); a relist asks for "not older than" what was seen; after
  // "too old" only a fresh read will do ("").
  auto listed = client_.list(opts_.resource, opts_.page_limit, relist_rv_);
  if (!listed)
    return listed.error();
  auto& list = *listed;
  auto count = list.items.size();
  {
    std::lock_guard lock(mutex_);
    rv_ = list.resource_version;
    if (++stats_.lists > 1)
      ++stats_.relists;
  }
  backoff_.reset(); // the server answers again: the next failure starts from the first delay
  if (cb_.on_list)
    cb_.on_list(std::move(list.items), list.resource_version);
  return count;
}

void reflector::run() {
  while (!stop_) {
    bool streaming = false; // this watch is the (re)list: its initial events are the list
    auto stepped = step(streaming);
    if (!stepped && (stepped.error().is_stopped() || stop_))
      break;
    bool failed = stepped ? *stepped : classify(stepped.error(), streaming);
    if (failed && !sleep_for(backoff_.next()))
      break;
  }
}

api_result<bool> reflector::step(bool& streaming) {
  if (need_list_ && cb_.on_list_start)
    cb_.on_list_start();
  if (need_list_ && !(opts_.watch_list && !watch_list_off_)) {
    if (auto listed = list(); !listed)
      return listed.error();
    need_list_ = false;
    after_watch_ = false;
  }
  streaming = need_list_;
  auto end = watch_once(streaming);
  if (!end)
    return end.error();
  return classify(*end);
}

api_result<reflector::watch_end> reflector::watch_once(bool streaming) {
  watch_options wo;
  wo.resource_version = streaming ? relist_rv_ : last_resource_version();
  wo.send_initial_events = streaming;
  wo.timeout = pick_timeout();
  {
    std::lock_guard lock(mutex_);
    ++stats_.watches;
    if (after_watch_ && !streaming)
      ++stats_.watch_restarts;
  }
  after_watch_ = true;
  watch_end end;
  std::vector<boost::json::object> items; // a streamed list without on_list_item
  auto started = std::chrono::steady_clock::now();
  auto watched = client_.watch(opts_.resource, wo, [&](watch_event&& ev) {
    return deliver(std::move(ev), streaming, end, items, started);
  });
  if (!watched)
    return watched.error();
  end.took = std::chrono::steady_clock::now() - started;
  return end;
}

bool reflector::deliver(watch_event&& ev, bool streaming, watch_end& end,
                        std::vector<boost::json::object>& items,
                        std::chrono::steady_clock::time_point started) {
  if (stop_)
    return false;
  if (ev.type == watch_event_type::error) {
    end.expired = ev.is_expired();
    end.error_status = ev.status_message();
    return false; // the server closes after an ERROR anyway
  }
  if (streaming && need_list_) {
    // The initial burst: ADDED per object in no RV order, then the end bookmark with the
    // list's RV (other bookmarks carry nothing to resume from before it).
    if (ev.type == watch_event_type::added) {
      if (cb_.on_list_item)
        cb_.on_list_item(std::move(ev.object));
      else
        items.push_back(std::move(ev.object));
    } else if (ev.initial_events_end()) {
      auto rv = ev.resource_version();
      {
        std::lock_guard lock(mutex_);
        rv_ = rv;
        if (++stats_.lists > 1)
          ++stats_.relists;
      }
      need_list_ = false;
      ++end.changes;
      backoff_.reset();
      if (cb_.on_list)
        cb_.on_list(std::move(items), rv);
    }
    end.too_slow = need_list_ && std::chrono::steady_clock::now() - started >
                                     std::chrono::milliseconds(opts_.watch_list_timeout);
    return !end.too_slow;
  }
  if (++end.changes == 1)
    backoff_.reset(); // this watch made progress: a cut after it is retried after the first delay
  if (auto rv = ev.resource_version(); !rv.empty())
    set_rv(std::move(rv)); // bookmarks advance the resume point too
  if (ev.type != watch_event_type::bookmark) {
    {
      std::lock_guard lock(mutex_);
      ++stats_.events;
    }
    if (cb_.on_event)
      cb_.on_event(ev.type, ev.object);
  }
  return true;
}

bool reflector::classify(const watch_end& end) {
  const auto& what = opts_.resource.resource;
  if (end.expired) {
    report("watch " + what + ": resource version expired (" + end.error_status + "), relisting");
    relist_rv_.clear(); // the history is gone: only a fresh read is consistent
    return need_list_ = true;
  }
  if (!end.error_status.empty()) {
    report("watch " + what + ": ERROR event: " + end.error_status + ", relisting");
    relist_rv_ = last_resource_version();
    return need_list_ = true;
  }
  if (need_list_ && !stop_) {
    // Ended (or too slow) without the end bookmark: the server ignores sendInitialEvents.
    report("watch list " + what + ": no initial-events-end bookmark " +
           (end.too_slow ? "within " + std::to_string(opts_.watch_list_timeout.count()) + " s"
                         : std::string("before the stream ended")) +
           ", listing with LIST from now on");
    watch_list_off_ = true;
    return false;
  }
  if (end.changes == 0 && end.took < opts_.min_watch_duration) {
    // A watch that closes at once is a server in trouble: do not hammer it.
    report("watch " + what + ": closed after less than " +
           std::to_string(opts_.min_watch_duration.count()) + " ms without events, relisting");
    relist_rv_ = last_resource_version();
    return need_list_ = true;
  }
  return false;
}

bool reflector::classify(const api_failure& e, bool streaming) {
  if (!e.is_answer()) {
    // Refused, reset, cut off mid-stream: the RV of the last complete event is still valid,
    // so re-watch from it (or retry the list) after the backoff.
    report(e.what());
    return true;
  }
  const auto& what = opts_.resource.resource;
  if (streaming && need_list_ && (e.code == 400 || e.code == 422)) {
    // The server refuses the watch-list parameters: LIST (from the same RV) at once, and
    // from now on.
    report("watch list " + what + " refused (" + e.what() + "), listing with LIST from now on");
    watch_list_off_ = true;
    return false;
  }
  // A relist after an error asks for data not older than what was seen; after "too old"
  // (410) or "too large" (504) resource versions, for a fresh read.
  relist_rv_ = e.is_expired() || e.code == 504 ? std::string{} : last_resource_version();
  if (e.is_forbidden()) {
    report(e.what() + "; " + e.rbac_hint());
    need_list_ = true;
  } else if (e.is_unauthorized()) {
    report(e.what() +
           "; the API server does not accept the credentials: check the token or client "
           "certificate of " +
           client_.config().source);
    need_list_ = true;
  } else if (e.is_too_many_requests()) {
    report(e.what()); // overload: same request again after the backoff
  } else {
    // 410 (HTTP), 5xx, 504 "too large resource version", 401 after a token re-read: start
    // over from a fresh list.
    report(e.what());
    need_list_ = true;
  }
  return true;
}

} // namespace kcr::kube
