// Helpers for privileged tests: skip (exit 77) unless root, throwaway network
// namespaces deleted even when an assertion fails, entering a namespace from
// the test thread (libnl sockets bind to the thread's namespace when opened),
// and running `ip`/`bridge` commands inside one.
#pragma once

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <iostream>
#include <sched.h>
#include <signal.h>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <boost/test/unit_test.hpp>

namespace kcr::test {

/// Runs `cmd` with /bin/sh; returns its exit status (-1 when it did not exit).
inline int run(const std::string& cmd) {
  int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/// Runs `cmd`, returns its stdout.
inline std::string capture(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p)
    return out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0)
    out.append(buf.data(), n);
  ::pclose(p);
  return out;
}

/// Global fixture: privileged suites exit 77 (ctest: skipped) with a reason
/// when not run as root.
struct require_root {
  require_root() {
    if (::geteuid() != 0) {
      std::cout << "SKIPPED: this suite needs root (network namespaces, netlink writes); "
                   "run it as root or with sudo"
                << std::endl;
      std::_Exit(77);
    }
    reap_stale_namespaces();
  }

  /// Deletes kcr-t-<pid>-<n> namespaces left by test processes that died
  /// without unwinding (a crash or SIGKILL): their pid no longer exists.
  static void reap_stale_namespaces() {
    std::string list = capture("ip netns list 2>/dev/null");
    size_t pos = 0;
    while ((pos = list.find("kcr-t-", pos)) != std::string::npos) {
      size_t end = list.find_first_of(" \n", pos);
      std::string name = list.substr(pos, end - pos);
      pos = end;
      const long pid = std::atol(name.c_str() + 6);
      if (pid > 0 && ::kill(pid_t(pid), 0) != 0 && errno == ESRCH)
        run("ip netns del " + name + " 2>/dev/null");
    }
  }
};

/// A network namespace "kcr-t-<pid>-<n>" that exists for this object's life.
class netns {
public:
  netns() : name_("kcr-t-" + std::to_string(::getpid()) + "-" + std::to_string(next())) {
    if (run("ip netns add " + name_) != 0)
      throw std::runtime_error("ip netns add " + name_ + " failed");
    exec("ip link set lo up");
  }
  ~netns() {
    // Processes started inside must not outlive it (they would keep it alive).
    run("ip netns del " + name_ + " 2>/dev/null");
  }
  netns(const netns&) = delete;
  netns& operator=(const netns&) = delete;

  const std::string& name() const { return name_; }
  std::string prefix() const { return "ip netns exec " + name_ + " "; }

  /// Runs a shell command inside the namespace; returns its exit status.
  int exec(const std::string& cmd) const { return run(prefix() + "sh -c '" + cmd + "'"); }
  /// Same, but the test fails when it does not succeed.
  void must(const std::string& cmd) const {
    BOOST_TEST_REQUIRE(exec(cmd) == 0, "in " << name_ << ": " << cmd);
  }
  std::string out(const std::string& cmd) const {
    return capture(prefix() + "sh -c '" + cmd + "'");
  }

private:
  static int next() {
    static std::atomic<int> n{0};
    return n++;
  }
  std::string name_;
};

/// Moves the calling thread into `ns` until destroyed, then back.
class enter_netns {
public:
  explicit enter_netns(const netns& ns) {
    orig_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int fd = ::open(("/run/netns/" + ns.name()).c_str(), O_RDONLY | O_CLOEXEC);
    if (orig_ < 0 || fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
      if (fd >= 0)
        ::close(fd);
      throw std::runtime_error("cannot enter network namespace " + ns.name());
    }
    ::close(fd);
  }
  ~enter_netns() {
    if (orig_ >= 0) {
      ::setns(orig_, CLONE_NEWNET);
      ::close(orig_);
    }
  }
  enter_netns(const enter_netns&) = delete;
  enter_netns& operator=(const enter_netns&) = delete;

private:
  int orig_ = -1;
};

/// A background command inside a namespace, terminated (by its pid) when destroyed.
class background {
public:
  background(const netns& ns, std::vector<std::string> argv) {
    std::vector<std::string> full{"ip", "netns", "exec", ns.name()};
    full.insert(full.end(), argv.begin(), argv.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> args;
      for (auto& a : full)
        args.push_back(a.data());
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      std::_Exit(127);
    }
  }
  ~background() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  background(const background&) = delete;
  background& operator=(const background&) = delete;

private:
  pid_t pid_ = -1;
};

} // namespace kcr::test
