// The publisher's writes: one create or patch towards the right ConfigMap (write_once), and as
// many as size and budget allow (write_pending). Its decisions stay in publisher.cpp.
#include <spdlog/spdlog.h>

#include "actors/publisher.hpp"

namespace kcr::actors {

void publisher_state::stored(std::size_t bytes) {
  if (bytes == 0)
    return;
  stored_bytes = bytes;
  if (tel)
    tel->metrics.configmap_stored_bytes(static_cast<double>(bytes));
}

bool publisher_state::size_allows(const configmap_size& next) {
  auto verdict = judge(next);
  if (tel) {
    tel->metrics.configmap_size(static_cast<double>(next.encoded),
                                static_cast<double>(next.values));
    if (verdict != size_verdict::fits)
      tel->metrics.configmap_size_warning(verdict == size_verdict::too_large ? "values"
                                                                             : "etcd_request");
  }
  if (verdict != last_verdict) {
    // Said once per change of verdict: a retry every backoff period must not flood the log.
    last_verdict = verdict;
    if (verdict == size_verdict::fits) {
      spdlog::info("publisher: the ConfigMap is {} bytes encoded ({} bytes of values) and fits "
                   "again",
                   next.encoded, next.values);
    } else {
      auto text = describe(next, verdict);
      spdlog::error("publisher: {}", text);
      if (auto posted = port->warn("ConfigMapTooLarge", text); !posted)
        spdlog::debug("publisher: posting the Warning Event failed: {}", posted.error().describe());
    }
  }
  return verdict != size_verdict::too_large;
}

bool publisher_state::refresh() {
  auto got = port->get();
  if (!got) {
    spdlog::warn("publisher: reading the ConfigMap failed: {}", got.error().describe());
    return false;
  }
  if (got.value()) {
    stored(got.value()->stored_bytes);
    observe(true, got.value()->resource_version, got.value()->data);
  } else
    observe(false, "", {});
  return true;
}

publisher_state::write_result publisher_state::write_once() {
  if (!observed && !refresh())
    return write_result::failed;
  if (!drifted())
    return write_result::nothing;
  return exists ? patch_changes() : create_missing();
}

publisher_state::write_result publisher_state::create_missing() {
  // The fixed keys only: the entries follow in a patch, which resets managedFields (a POST
  // records every key in them; at 5000 nodes that is over etcd's request limit).
  auto created = port->create(fixed);
  if (!created) {
    if (created.error().is_already_exists())
      return write_conflicted();
    return write_failed(created.error(), "create");
  }
  ++writes;
  if (tel)
    tel->metrics.configmap_write("created");
  spdlog::info("publisher: created the ConfigMap; its {} entries follow in a patch",
               entry_keys.size());
  stored(created->stored_bytes);
  observe(true, created->resource_version, created->data);
  return write_result::written;
}

publisher_state::write_result publisher_state::patch_changes() {
  auto diff = changes();
  auto patched = port->patch(resource_version, diff);
  if (!patched) {
    const auto& f = patched.error();
    if (!f.is_conflict() && !f.is_not_found())
      return write_failed(f, "patch");
    // Someone else wrote (or deleted) it: re-read and apply our changes on top.
    spdlog::info("publisher: ConfigMap changed underneath ({}); re-reading", f.describe());
    return write_conflicted();
  }
  ++writes;
  if (tel)
    tel->metrics.configmap_write("ok");
  for (auto& [k, v] : diff) {
    if (v)
      data.insert_or_assign(std::move(k), std::move(*v));
    else
      data.erase(k);
  }
  resource_version = patched->resource_version;
  stored(patched->stored_bytes);
  spdlog::debug("publisher: ConfigMap patched to resourceVersion {}", resource_version);
  return write_result::written;
}

publisher_state::write_result publisher_state::write_conflicted() {
  ++conflicts;
  if (tel)
    tel->metrics.configmap_write("conflict");
  refresh();
  return write_result::conflict;
}

publisher_state::write_result publisher_state::write_failed(const api_failure& f,
                                                            const char* verb) {
  ++failures;
  if (tel)
    tel->metrics.configmap_write("error");
  bool too_large = f.code == 500 && f.message.find("too large") != std::string::npos;
  if (f.is_forbidden()) {
    spdlog::error("publisher: {} ConfigMap forbidden: {} — the service account needs RBAC "
                  "permission to {} configmaps",
                  verb, f.describe(), verb);
  } else if (too_large) {
    spdlog::error("publisher: {} ConfigMap refused for size: {} (about {} bytes encoded; etcd's "
                  "default limit is {} bytes)",
                  verb, f.describe(), next_size().encoded, etcd_request_limit);
    if (tel)
      tel->metrics.configmap_size_warning("etcd_request");
  } else {
    spdlog::warn("publisher: {} ConfigMap failed: {}", verb, f.describe());
  }
  return write_result::failed;
}

publisher_state::write_result publisher_state::write_pending(write_budget::clock::time_point now) {
  auto result = write_result::nothing;
  int conflicts_seen = 0;
  // A create is followed by the patch of the entries; conflicts re-read and try again (3 times).
  for (int round = 0; round < 5; ++round) {
    if (!observed && !refresh())
      return write_result::failed;
    if (!drifted())
      return result;
    auto next = next_size();
    if (!size_allows(next))
      return write_result::too_large;
    auto cost = write_cost(next);
    budget_wait = budget.wait(cost, now);
    if (budget_wait > write_budget::clock::duration::zero()) {
      if (!waiting_since)
        waiting_since = now;
      return write_result::waiting;
    }
    if (waiting_since) {
      if (tel)
        tel->metrics.write_budget_wait(now - *waiting_since);
      waiting_since.reset();
    }
    auto r = write_once();
    if (r == write_result::written) {
      budget.spend(cost, now);
      if (tel)
        tel->metrics.configmap_written(static_cast<double>(cost));
      result = r;
      continue;
    }
    if (r == write_result::conflict && ++conflicts_seen < 3)
      continue;
    return r;
  }
  return drifted() ? write_result::failed : result; // writes that did not take: back off
}

} // namespace kcr::actors
