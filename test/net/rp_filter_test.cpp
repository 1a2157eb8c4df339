// rp_filter as the kernel applies it to the tunnel (no kernel needed): the max of "all" and the
// interface's value, read from a /proc/sys-like directory, and the command that fixes it.
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include "net/netlink_tunnel.hpp"

using namespace kcr::net;
namespace fs = std::filesystem;

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
  fs::path dir = fs::temp_directory_path() / ("kcr-rp-" + std::to_string(::getpid()));
  struct cleanup {
    fs::path d;
    ~cleanup() {
      std::error_code ec;
      fs::remove_all(d, ec);
    }
  } guard{dir};
  fs::create_directories(dir / "net/ipv4/conf/all");
  fs::create_directories(dir / "net/ipv4/conf/routervxlan0");
  auto put = [&](const char* iface, const char* value) {
    std::ofstream(dir / "net/ipv4/conf" / iface / "rp_filter") << value;
  };
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

BOOST_AUTO_TEST_CASE(the_fix_names_the_interface_sysctl) {
  BOOST_TEST(rp_filter_fix("routervxlan0") == "sysctl -w net.ipv4.conf.routervxlan0.rp_filter=2");
}

BOOST_AUTO_TEST_SUITE_END()
