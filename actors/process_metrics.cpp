#include "actors/process_metrics.hpp"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

#include <prometheus/metric_family.h>

namespace kcr::actors {

namespace {

std::optional<double> number(std::string_view text) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size())
    return std::nullopt;
  return v;
}

std::string read_file(const char* path) {
  std::ifstream in{path};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

prometheus::MetricFamily family(const char* name, const char* help, prometheus::MetricType type,
                                double value) {
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  return {name, help, type, {m}};
}

class process_collector final : public prometheus::Collectable {
public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::MetricType;
    std::vector<prometheus::MetricFamily> out;
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    if (auto st = parse_proc_stat(read_file("/proc/self/stat")); st && ticks > 0) {
      out.push_back(family("process_cpu_seconds_total",
                           "Total user and system CPU time spent in seconds.", MetricType::Counter,
                           (st->utime_ticks + st->stime_ticks) / ticks));
      out.push_back(family("process_resident_memory_bytes", "Resident memory size in bytes.",
                           MetricType::Gauge, st->rss_pages * page));
      out.push_back(family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                           MetricType::Gauge, st->vsize_bytes));
      if (auto boot = parse_boot_time(read_file("/proc/stat")))
        out.push_back(family("process_start_time_seconds",
                             "Start time of the process since unix epoch in seconds.",
                             MetricType::Gauge, *boot + st->start_ticks / ticks));
    }
    std::error_code ec;
    double fds = 0;
    for (std::filesystem::directory_iterator it{"/proc/self/fd", ec}, end; !ec && it != end;
         it.increment(ec))
      ++fds;
    if (!ec)
      out.push_back(
          family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, fds));
    if (rlimit lim{}; getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
      out.push_back(family("process_max_fds", "Maximum number of open file descriptors.",
                           MetricType::Gauge, static_cast<double>(lim.rlim_cur)));
    return out;
  }
};

} // namespace

std::optional<proc_stat> parse_proc_stat(std::string_view line) {
  // "pid (comm) state ppid ...": comm may contain ") ", so the fields start after the last ')'.
  auto close = line.rfind(')');
  if (close == std::string_view::npos)
    return std::nullopt;
  std::vector<std::string_view> fields; // fields[0] is field 3 (state) of proc(5)
  for (size_t i = close + 1; i < line.size();) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\n'))
      ++i;
    auto j = line.find_first_of(" \n", i);
    if (j == std::string_view::npos)
      j = line.size();
    if (j > i)
      fields.push_back(line.substr(i, j - i));
    i = j;
  }
  auto field = [&](size_t n) {
    return n - 3 < fields.size() ? number(fields[n - 3]) : std::nullopt;
  };
  auto utime = field(14), stime = field(15), start = field(22), vsize = field(23), rss = field(24);
  if (!utime || !stime || !start || !vsize || !rss)
    return std::nullopt;
  return proc_stat{*utime, *stime, *start, *vsize, *rss};
}

std::optional<double> parse_boot_time(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    auto j = text.find('\n', i);
    if (j == std::string_view::npos)
      j = text.size();
    auto line = text.substr(i, j - i);
    if (line.starts_with("btime "))
      return number(line.substr(6));
    i = j + 1;
  }
  return std::nullopt;
}

std::shared_ptr<prometheus::Collectable> make_process_collector() {
  return std::make_shared<process_collector>();
}

} // namespace kcr::actors
