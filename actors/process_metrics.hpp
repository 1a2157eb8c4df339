// The standard process_* metrics (the names every Prometheus client library exports and every
// dashboard knows), read from /proc/self at scrape time: memory, CPU, file descriptors, start time.
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include <prometheus/collectable.h>

namespace kcr::actors {

/// The fields of /proc/<pid>/stat that the metrics need, in kernel units.
struct proc_stat {
  double utime_ticks = 0;
  double stime_ticks = 0;
  double start_ticks = 0; // after boot
  double vsize_bytes = 0;
  double rss_pages = 0;
};

/// Parses one /proc/<pid>/stat line; the command name may hold spaces and parentheses.
std::optional<proc_stat> parse_proc_stat(std::string_view line);
/// The boot time (seconds since the epoch) from /proc/stat's `btime` line.
std::optional<double> parse_boot_time(std::string_view proc_stat_file);

/// A collectable of process_resident_memory_bytes, process_virtual_memory_bytes,
/// process_cpu_seconds_total, process_open_fds, process_max_fds, process_start_time_seconds.
/// A value that cannot be read is left out (never a made-up 0).
std::shared_ptr<prometheus::Collectable> make_process_collector();

} // namespace kcr::actors
