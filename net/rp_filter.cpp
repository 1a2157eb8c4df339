// rp_filter of the tunnel interface: reading what the kernel applies and the converge step that
// makes it loose. Plain sysctl files under a /proc/sys-like directory: no netlink write.
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include "net/netlink_steps.hpp"

namespace kcr::net {

namespace {

std::string read_sysctl(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return {};
  char buf[32] = {};
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  std::string v(buf, n > 0 ? size_t(n) : 0);
  while (!v.empty() && (v.back() == '\n' || v.back() == ' '))
    v.pop_back();
  return v;
}

int write_sysctl(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  ssize_t n = ::write(fd, value.data(), value.size());
  int err = n == ssize_t(value.size()) ? 0 : (n < 0 ? errno : EIO);
  ::close(fd);
  return err;
}

// A sysctl's integer value; -1 when unreadable or not a number.
int read_sysctl_int(const std::string& path) {
  std::string v = read_sysctl(path);
  if (v.empty() || v.size() > 3 || v.find_first_not_of("0123456789") != std::string::npos)
    return -1;
  return std::stoi(v);
}

} // namespace

rp_filter_state read_rp_filter(const std::string& proc_sys, std::string_view interface) {
  rp_filter_state st;
  st.all = read_sysctl_int(proc_sys + "/net/ipv4/conf/all/rp_filter");
  st.interface =
      read_sysctl_int(proc_sys + "/net/ipv4/conf/" + std::string(interface) + "/rp_filter");
  return st;
}

// Loose reverse-path filtering: packets from the device arrive on the tunnel from addresses the
// node routes elsewhere, which strict filtering (1) drops. The interface's own value 2 makes the
// kernel's max(all, interface) loose whatever "all" says. Where /proc/sys is read-only (a
// container) the value stays as the host has it: rep.rp_filter says what the kernel applies.
steps::step_error steps::converge_rp_filter(const std::string& proc_sys, converge_report& rep) {
  const std::string& name = rep.interface;
  const std::string rp = proc_sys + "/net/ipv4/conf/" + name + "/rp_filter";
  if (std::string v = read_sysctl(rp); v != "2") {
    int err = write_sysctl(rp, "2");
    if (err == EROFS) {
      rep.rp_filter.writable = false;
    } else if (err != 0) {
      return tunnel_error{err == EACCES || err == EPERM ? tunnel_errc::permission
                                                        : tunnel_errc::netlink_error,
                          "setting " + rp + " to 2: " + std::strerror(err)};
    } else {
      rep.changes.push_back(name + ": rp_filter " + (v.empty() ? std::string("?") : v) + " -> 2");
    }
  }
  bool writable = rep.rp_filter.writable;
  rep.rp_filter = read_rp_filter(proc_sys, name);
  rep.rp_filter.writable = writable;
  // Strict is the caller's to report (Event, metric, readiness); anything else is only noted.
  if (!writable && !rep.rp_filter.strict()) {
    int eff = rep.rp_filter.effective();
    rep.warnings.push_back(
        "cannot set " + rp + " to 2 (read-only /proc/sys, as in a container); " +
        (eff < 0 ? std::string("the effective rp_filter is unknown")
                 : "the effective rp_filter is " + std::to_string(eff) + ", not strict"));
  }
  return std::nullopt;
}

} // namespace kcr::net
