// List-then-watch loop for one resource (all Nodes, or one ConfigMap by name), client-go
// reflector semantics: on_list with the full state after every (re)list, on_event per change,
// resume from the last resourceVersion (bookmarks count) after a clean close, relist on
// 410 Expired/Gone (ERROR event or HTTP 410) and after a watch that closed in < 1 s without
// events, exponential backoff with jitter on errors (429 / refused / 5xx / 401 / 403), back to
// the first delay once a list succeeds or a watch delivers anything (faults every few seconds
// would otherwise keep it near its 30 s cap: the fault campaign saw 54 s to recover).
//
// Threading: run() blocks the calling thread until stop(); start() runs it on an own thread.
// Callbacks run on that thread. stop() may be called from any thread and makes run() return
// within a second (the socket is shut down, a backoff sleep is interrupted).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "kube/api_client.hpp"
#include "kube/backoff.hpp"
#include "kube/retry_clock.hpp"

namespace kcr::kube {

struct reflector_options {
  resource_ref resource = resource_ref::nodes();
  std::size_t page_limit = 500;
  /// Each watch asks for a random timeoutSeconds in [min, max] (client-go: 300-600 s), so that
  /// many clients do not re-watch in lockstep.
  std::chrono::seconds min_watch_timeout{300};
  std::chrono::seconds max_watch_timeout{600};
  backoff::params retry_backoff{};
  /// A watch that ends sooner than this without any event is suspicious: back off and relist.
  std::chrono::milliseconds min_watch_duration{1000};
  /// (Re)list with the streaming "watch list" (sendInitialEvents, client-go's WatchListClient)
  /// instead of LIST: objects arrive one event at a time, so the whole list is never one
  /// body and one document in memory. Falls back to LIST for good when the server refuses the
  /// parameters (400/422), or ends the stream or takes longer than watch_list_timeout without
  /// the k8s.io/initial-events-end bookmark (a server that ignores them).
  bool watch_list = false;
  std::chrono::seconds watch_list_timeout{60};
  /// Drives the backoff between attempts (null: the steady clock). The durations of the
  /// requests themselves are measured on the steady clock.
  std::shared_ptr<retry_clock> clock;
};

struct reflector_callbacks {
  /// Full state after every (re)list; the caller diffs against what it had to find deletions.
  /// With on_list_item set, the items of a streamed list go there one by one instead (on_list
  /// then gets the rest: none after a watch list, all after a plain LIST).
  std::function<void(std::vector<boost::json::object>&& items, const std::string& rv)> on_list;
  /// ADDED / MODIFIED / DELETED (BOOKMARK and ERROR are handled inside).
  std::function<void(watch_event_type type, const boost::json::object& object)> on_event;
  /// A failure the reflector recovers from by itself (logged by the caller); for 403 the
  /// message carries an RBAC hint naming the verb and resource.
  std::function<void(const std::string& message)> on_error;
  /// Before every (re)list attempt: drop what a failed attempt delivered to on_list_item.
  std::function<void()> on_list_start;
  /// Each item of a streamed list (reflector_options::watch_list) on arrival, instead of
  /// collected for on_list.
  std::function<void(boost::json::object&& item)> on_list_item;
};

/// Counters for metrics; all monotonic.
struct reflector_stats {
  std::size_t lists = 0;          ///< successful lists (the first one included)
  std::size_t relists = 0;        ///< lists after the first
  std::size_t watches = 0;        ///< watch requests started
  std::size_t watch_restarts = 0; ///< watches resumed from a previous watch's RV (no relist)
  std::size_t events = 0;         ///< ADDED/MODIFIED/DELETED delivered
  std::size_t errors = 0;         ///< on_error calls
};

class reflector {
public:
  /// Throws config_error if the configuration's TLS material is unusable.
  reflector(std::shared_ptr<const client_config> cfg, reflector_options opts,
            reflector_callbacks cb);
  /// Stops and joins the thread started by start().
  ~reflector();
  reflector(const reflector&) = delete;
  reflector& operator=(const reflector&) = delete;

  /// Lists and watches until stop(). Exceptions thrown by callbacks propagate out of run().
  void run();
  /// run() on an own thread; there a throwing callback ends the loop with an on_error report.
  void start();
  /// Thread-safe, idempotent, prompt.
  void stop();

  reflector_stats stats() const;
  /// The resourceVersion the next watch would resume from.
  std::string last_resource_version() const;

private:
  /// How one watch ended, for classify().
  struct watch_end {
    std::size_t changes = 0;
    bool expired = false;  // a 410 ERROR event
    bool too_slow = false; // a watch list past watch_list_timeout without its end bookmark
    std::string error_status;
    std::chrono::steady_clock::duration took{};
  };

  bool sleep_for(std::chrono::milliseconds d); // false when stopped meanwhile
  void report(const std::string& msg);
  std::chrono::seconds pick_timeout();
  /// A plain LIST, delivered to on_list; the number of items.
  api_result<std::size_t> list();
  /// One step: (re)list when needed, then one watch; true when it failed (back off), a
  /// failure of the API call for classify().
  api_result<bool> step(bool& streaming);
  /// Watches once; a failed watch request is a failure (events before it were delivered).
  api_result<watch_end> watch_once(bool streaming);
  /// A watch event; false ends the watch.
  bool deliver(watch_event&& ev, bool streaming, watch_end& end,
               std::vector<boost::json::object>& items,
               std::chrono::steady_clock::time_point started);
  /// What the end of a watch means: true when it calls for a backoff.
  bool classify(const watch_end& end);
  /// What a failed API call means: true when it calls for a backoff.
  bool classify(const api_failure& e, bool streaming);
  void set_rv(std::string rv);

  reflector_options opts_;
  reflector_callbacks cb_;
  api_client client_;
  /// resourceVersion of the next list: "0" first (cache), then "not older than" or "" (fresh).
  std::string relist_rv_ = "0";
  bool watch_list_off_ = false; // the server does not do watch lists: LIST from now on
  bool need_list_ = true;
  bool after_watch_ = false; // the next watch resumes from a previous watch's RV
  std::shared_ptr<retry_clock> clock_;
  backoff backoff_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::string rv_;
  reflector_stats stats_;
  std::thread thread_;
};

} // namespace kcr::kube
