// rp_filter as the kernel applies it to the tunnel (no kernel needed): the max of "all" and the
// interface's value, read from a /proc/sys-like directory, and the command that fixes it.
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include "net/netlink_steps.hpp"
#include "net/netlink_tunnel.hpp"

using namespace kcr::net;
namespace fs = std::filesystem;

namespace {

// A /proc/sys-like directory with net/ipv4/conf/{all,routervxlan0}, removed at the end.
struct fake_proc_sys {
  fs::path dir;
  explicit fake_proc_sys(const std::string& prefix)
      : dir(fs::temp_directory_path() / (prefix + std::to_string(::getpid()))) {
    fs::create_directories(dir / "net/ipv4/conf/all");
    fs::create_directories(dir / "net/ipv4/conf/routervxlan0");
  }
  ~fake_proc_sys() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  void put(const char* iface, const char* value) {
    std::ofstream(dir / "net/ipv4/conf" / iface / "rp_filter") << value;
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(rp_filter)

// all x interface = 0/1/2: the kernel's IN_DEV_RPFILTER is the max; 1 is strict.
BOOST_AUTO_TEST_CASE(effective_is_the_max_and_one_is_strict) {
  struct row {
    int all, iface, effective;
    bool strict;
  };
  const row rows[] = {
      {0, 0, 0, false},   {0, 1, 1, true},    {0, 2, 2, false}, //
      {1, 0, 1, true},    {1, 1, 1, true},    {1, 2, 2, false}, //
      {2, 0, 2, false},   {2, 1, 2, false},   {2, 2, 2, false}, //
      {-1, 1, -1, false}, {1, -1, -1, false},                   // unreadable: unknown, not strict
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT("all=" << r.all << " interface=" << r.iface) {
      BOOST_TEST(effective_rp_filter(r.all, r.iface) == r.effective);
      rp_filter_state st{r.all, r.iface, false};
      BOOST_TEST(st.effective() == r.effective);
      BOOST_TEST(st.strict() == r.strict);
    }
  }
}

BOOST_AUTO_TEST_CASE(reads_all_and_the_interface_from_proc_sys) {
  fake_proc_sys sys("kcr-rp-");
  const fs::path& dir = sys.dir;
  auto put = [&](const char* iface, const char* value) { sys.put(iface, value); };
  put("all", "1\n");
  put("routervxlan0", "0\n");
  auto st = read_rp_filter(dir.string(), "routervxlan0");
  BOOST_TEST(st.all == 1);
  BOOST_TEST(st.interface == 0);
  BOOST_TEST(st.strict());
  put("routervxlan0", "2\n");
  BOOST_TEST(read_rp_filter(dir.string(), "routervxlan0").effective() == 2);
  put("all", "garbage");
  BOOST_TEST(read_rp_filter(dir.string(), "routervxlan0").all == -1);
  BOOST_TEST(read_rp_filter(dir.string(), "nosuchif0").interface == -1);
}

// The converge step on a writable directory: rewrites a value other than 2 (a sysctl, so no
// netlink write), reports it once, and reads back what the kernel would apply.
BOOST_AUTO_TEST_CASE(the_converge_step_writes_only_a_value_other_than_two) {
  fake_proc_sys sys("kcr-rp-step-");
  const fs::path& dir = sys.dir;
  sys.put("all", "1\n");
  sys.put("routervxlan0", "1\n");
  converge_report rep;
  rep.interface = "routervxlan0";
  BOOST_TEST(!steps::converge_rp_filter(dir.string(), rep).has_value());
  BOOST_TEST(rep.changes == std::vector<std::string>{"routervxlan0: rp_filter 1 -> 2"},
             boost::test_tools::per_element());
  BOOST_TEST(rep.netlink_writes == 0);
  BOOST_TEST(rep.rp_filter.all == 1);
  BOOST_TEST(rep.rp_filter.interface == 2);
  BOOST_TEST(!rep.rp_filter.strict());
  BOOST_TEST(rep.warnings.empty());
  converge_report again;
  again.interface = "routervxlan0";
  BOOST_TEST(!steps::converge_rp_filter(dir.string(), again).has_value());
  BOOST_TEST(again.changes.empty());
  BOOST_TEST(again.rp_filter.interface == 2);
  // No such interface directory: an error naming the path, not a silent success.
  converge_report missing;
  missing.interface = "nosuchif0";
  auto err = steps::converge_rp_filter(dir.string(), missing);
  BOOST_TEST_REQUIRE(err.has_value());
  BOOST_TEST(err->message.find("nosuchif0/rp_filter") != std::string::npos, err->message);
}

BOOST_AUTO_TEST_CASE(the_fix_names_the_interface_sysctl) {
  BOOST_TEST(rp_filter_fix("routervxlan0") == "sysctl -w net.ipv4.conf.routervxlan0.rp_filter=2");
}

BOOST_AUTO_TEST_SUITE_END()
