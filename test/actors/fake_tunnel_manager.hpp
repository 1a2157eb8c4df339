// A fake net::tunnel_manager for actor tests: records every call and fails the next N converges
// with a chosen error. Single-threaded use (the test coordinator runs everything on one thread).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "net/tunnel_manager.hpp"

namespace kcr::test {

class fake_tunnel_manager : public net::tunnel_manager {
public:
  std::vector<net::tunnel_spec> converges; // every spec passed to converge(), in order
  int cleanups = 0;
  std::vector<std::string> removes;
  /// What every successful converge reports as the interface's rp_filter (default: unknown).
  net::rp_filter_state rp_filter;

  /// The next `n` converge() calls fail with `code` / `message`.
  void fail_next(int n, net::tunnel_errc code, std::string message = "injected failure") {
    fail_count_ = n;
    fail_ = net::tunnel_error{code, std::move(message)};
  }

  /// The report of the next successful converges: "created" for the first, then "unchanged".
  net::tunnel_result<net::converge_report> converge(const net::tunnel_spec& spec) override {
    converges.push_back(spec);
    if (fail_count_ > 0) {
      --fail_count_;
      return *fail_;
    }
    net::converge_report r;
    r.interface = net::interface_name(spec);
    r.rp_filter = rp_filter;
    if (!last_ || !(*last_ == spec)) {
      r.created = !last_;
      r.changes.push_back(last_ ? "address " + spec.overlay.to_string() : "created " + r.interface);
      r.netlink_writes = last_ ? 2 : 5;
    }
    last_ = spec;
    return r;
  }

  net::tunnel_result<net::cleanup_report> cleanup() override {
    ++cleanups;
    return net::cleanup_report{};
  }

  net::tunnel_result<net::cleanup_report> remove(std::string_view name) override {
    removes.emplace_back(name);
    return net::cleanup_report{};
  }

  net::tunnel_result<std::optional<net::tunnel_state>> current_state(std::string_view) override {
    return std::optional<net::tunnel_state>{};
  }

private:
  int fail_count_ = 0;
  std::optional<net::tunnel_error> fail_;
  std::optional<net::tunnel_spec> last_;
};

} // namespace kcr::test
