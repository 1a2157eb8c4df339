// Pod range checks (net/pod_ranges.hpp): overlaps, normalize, check_range and range_owners, as
// tables of prefixes and what each must give.
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "net/pod_ranges.hpp"

using namespace kcr::net;

namespace {

cidr c(const std::string& text) {
  auto x = cidr::parse(text);
  BOOST_REQUIRE_MESSAGE(x.has_value(), text);
  return *x;
}

std::vector<cidr> list(const std::vector<std::string>& texts) {
  std::vector<cidr> out;
  for (const auto& t : texts)
    out.push_back(c(t));
  return out;
}

std::string join(const std::vector<cidr>& cidrs) {
  std::string s;
  for (const auto& x : cidrs) {
    if (!s.empty())
      s += ',';
    s += x.to_string();
  }
  return s;
}

// "owner range" of a conflict, or "none".
std::string describe(const std::optional<range_owners::conflict>& x) {
  return x ? x->owner + " " + x->range.to_string() : "none";
}

} // namespace

BOOST_AUTO_TEST_SUITE(pod_ranges)

BOOST_AUTO_TEST_CASE(overlaps_table) {
  struct row {
    const char* a;
    const char* b;
    bool expected;
  };
  for (auto r : {
           row{"10.244.1.0/24", "10.244.1.0/24", true},
           row{"10.244.1.0/24", "10.244.0.0/16", true},     // inside
           row{"10.244.1.0/24", "10.244.2.0/24", false},    // neighbours
           row{"10.244.1.0/25", "10.244.1.128/25", false},  // halves
           row{"10.244.1.200/25", "10.244.1.128/26", true}, // host bits do not matter
           row{"0.0.0.0/0", "203.0.113.5/32", true},
           row{"fd00::/48", "fd00:0:0:1::/64", true},
           row{"fd00:1::/64", "fd00:2::/64", false},
           row{"0.0.0.0/0", "::/0", false}, // families never overlap
           row{"10.0.0.0/8", "::/0", false},
           row{"::ffff:10.0.0.0/104", "10.0.0.0/8", false},
       }) {
    BOOST_TEST(overlaps(c(r.a), c(r.b)) == r.expected, r.a << " vs " << r.b);
    BOOST_TEST(overlaps(c(r.b), c(r.a)) == r.expected, r.b << " vs " << r.a);
  }
}

BOOST_AUTO_TEST_CASE(normalize_table) {
  struct row {
    std::vector<std::string> in;
    const char* out;
  };
  for (const auto& r : std::vector<row>{
           {{}, ""},
           {{"10.244.1.5/24"}, "10.244.1.0/24"}, // host bits cleared
           {{"fd00::/64", "10.244.2.0/24", "10.244.1.0/24"},
            "10.244.1.0/24,10.244.2.0/24,fd00::/64"}, // sorted, IPv4 first
           {{"fd00:1::/64", "fd00::/64"}, "fd00::/64,fd00:1::/64"},
           {{"10.244.1.0/24", "10.244.1.7/24", "10.244.1.0/24"}, "10.244.1.0/24"}, // duplicates
           {{"10.244.1.0/24", "10.244.0.0/16", "10.245.0.0/24"},
            "10.244.0.0/16,10.245.0.0/24"}, // nested dropped, the wider kept
           {{"10.1.2.0/24", "10.1.0.0/16", "10.0.0.0/8", "10.2.0.0/16", "11.0.0.0/24"},
            "10.0.0.0/8,11.0.0.0/24"},
           {{"fd00:10:0:1::/64", "fd00:10::/48", "10.0.0.0/24"}, "10.0.0.0/24,fd00:10::/48"},
       }) {
    std::string in;
    for (const auto& t : r.in)
      in += t + " ";
    BOOST_TEST(join(normalize(list(r.in))) == r.out, "normalize(" << in << ")");
  }
}

BOOST_AUTO_TEST_CASE(check_range_table) {
  const auto overlay = c("192.168.254.0/24");
  const auto pod_nets = list({"10.244.0.0/16", "fd00:10::/56", "192.168.0.0/16"});
  struct row {
    const char* range;
    bool with_pod_networks;
    const char* reason; // "" = accepted
    const char* detail; // a part of the detail
  };
  for (auto r : {
           // No pod network: the width limit.
           row{"0.0.0.0/0", false, "too-wide", "wider than /16"},
           row{"::/0", false, "too-wide", "wider than /48"},
           row{"10.0.0.0/8", false, "too-wide", "wider than /16"},
           row{"10.0.0.0/15", false, "too-wide", "--pod-network"},
           row{"10.0.0.0/16", false, "", ""},
           row{"10.0.128.0/17", false, "", ""},
           row{"10.244.1.5/24", false, "", ""},
           row{"fd00:10::/48", false, "", ""},
           row{"fd00:10::/47", false, "too-wide", "wider than /48"},
           row{"fd00:10:0:1::/64", false, "", ""},
           row{"192.0.0.0/8", false, "too-wide", ""}, // width is judged before the overlay
           // The overlay network, both directions.
           row{"192.168.254.0/25", false, "overlay", "overlay network 192.168.254.0/24"},
           row{"192.168.254.128/26", false, "overlay", "192.168.254.0/24"},
           row{"192.168.0.0/16", false, "overlay", "192.168.254.0/24"},
           row{"192.168.253.0/24", false, "", ""},
           // Pod networks given: inside only, however wide.
           row{"10.244.1.0/24", true, "", ""},
           row{"10.244.0.0/16", true, "", ""},
           row{"10.244.255.192/26", true, "", ""},
           row{"10.245.0.0/24", true, "outside-pod-network", "10.244.0.0/16, fd00:10::/56"},
           row{"10.0.0.0/8", true, "outside-pod-network", "outside the pod network"},
           row{"10.244.0.0/15", true, "outside-pod-network", ""}, // wider than the pod network
           row{"0.0.0.0/0", true, "outside-pod-network", ""},
           row{"fd00:10:0:1::/64", true, "", ""},
           row{"fd00:10::/48", true, "outside-pod-network", ""},
           row{"fd00:11::/64", true, "outside-pod-network", ""},
           row{"::/0", true, "outside-pod-network", ""},
           row{"192.168.254.0/26", true, "overlay", "192.168.254.0/24"},
           row{"192.168.0.0/16", true, "overlay", "192.168.254.0/24"},
           row{"192.168.1.0/24", true, "", ""},
       }) {
    range_rules rules{r.with_pod_networks ? pod_nets : std::vector<cidr>{}, overlay};
    auto got = check_range(c(r.range), rules);
    auto what =
        std::string{r.range} + (r.with_pod_networks ? " with" : " without") + " pod networks";
    BOOST_TEST((got ? got->reason : "") == r.reason, what);
    if (got) {
      BOOST_TEST(got->detail.find(r.detail) != std::string::npos,
                 what << ": detail \"" << got->detail << "\" lacks \"" << r.detail << "\"");
    }
  }
}

BOOST_AUTO_TEST_CASE(owners_conflicts_with_other_nodes_only) {
  range_owners o;
  o.assign("a", list({"10.244.1.0/24"}));
  BOOST_TEST(describe(o.find_conflict(c("10.244.1.0/24"), "b")) == "a 10.244.1.0/24");
  BOOST_TEST(describe(o.find_conflict(c("10.244.1.0/24"), "a")) == "none");
  BOOST_TEST(describe(o.find_conflict(c("10.244.0.0/24"), "b")) == "none");
  BOOST_TEST(describe(o.find_conflict(c("10.244.2.0/24"), "b")) == "none");
  BOOST_TEST(describe(o.find_conflict(c("fd00::/8"), "b")) == "none");
}

BOOST_AUTO_TEST_CASE(owners_narrow_and_wide_queries) {
  range_owners o;
  o.assign("a", list({"10.244.1.0/24"}));
  o.assign("b", list({"10.244.2.0/24"}));
  o.assign("c", list({"10.244.3.0/24"}));
  o.assign("w", list({"10.96.0.0/16"}));
  struct row {
    const char* range;
    const char* node;
    const char* expected;
  };
  for (auto r : {
           // Inside a held range: at its start, in the middle, a host route.
           row{"10.244.1.0/25", "x", "a 10.244.1.0/24"},
           row{"10.244.1.128/26", "x", "a 10.244.1.0/24"},
           row{"10.244.2.77/32", "x", "b 10.244.2.0/24"},
           row{"10.96.200.0/24", "x", "w 10.96.0.0/16"},
           row{"10.96.200.0/24", "w", "none"},
           // Wider than several held ones: the first held of another node.
           row{"10.244.0.0/16", "x", "a 10.244.1.0/24"},
           row{"10.244.0.0/16", "a", "b 10.244.2.0/24"},
           row{"10.244.2.0/23", "b", "c 10.244.3.0/24"},
           row{"10.0.0.0/8", "x", "w 10.96.0.0/16"},
           row{"0.0.0.0/0", "x", "w 10.96.0.0/16"},
           // Between and around them.
           row{"10.244.0.0/24", "x", "none"},
           row{"10.244.4.0/22", "x", "none"},
           row{"10.97.0.0/16", "x", "none"},
           row{"10.95.255.0/24", "x", "none"},
           row{"::/0", "x", "none"},
       })
    BOOST_TEST(describe(o.find_conflict(c(r.range), r.node)) == r.expected,
               r.range << " for " << r.node);
}

BOOST_AUTO_TEST_CASE(owners_release_and_assign_replace) {
  range_owners o;
  o.assign("a", list({"10.244.1.0/24", "10.244.9.0/24"}));
  BOOST_TEST(describe(o.find_conflict(c("10.244.9.0/24"), "b")) == "a 10.244.9.0/24");
  o.release("a");
  BOOST_TEST(describe(o.find_conflict(c("10.244.1.0/24"), "b")) == "none");
  BOOST_TEST(describe(o.find_conflict(c("10.244.9.0/24"), "b")) == "none");
  o.release("a"); // twice: nothing to do

  o.assign("a", list({"10.244.1.0/24"}));
  o.assign("a", list({"10.244.5.0/24"})); // replaces, not adds
  BOOST_TEST(describe(o.find_conflict(c("10.244.1.0/24"), "b")) == "none");
  BOOST_TEST(describe(o.find_conflict(c("10.244.5.0/24"), "b")) == "a 10.244.5.0/24");
  // What a is freed of, b may take; a's new range stays a's.
  o.assign("b", list({"10.244.1.0/24"}));
  BOOST_TEST(describe(o.find_conflict(c("10.244.1.0/24"), "a")) == "b 10.244.1.0/24");
  o.release("b");
  BOOST_TEST(describe(o.find_conflict(c("10.244.5.0/24"), "c")) == "a 10.244.5.0/24");
}

BOOST_AUTO_TEST_CASE(owners_ipv6_and_families_apart) {
  range_owners o;
  o.assign("a", list({"10.244.1.0/24", "fd00:10:0:1::/64"}));
  o.assign("b", list({"fd00:10:0:2::/64"}));
  struct row {
    const char* range;
    const char* node;
    const char* expected;
  };
  for (auto r : {
           row{"fd00:10::/48", "x", "a fd00:10:0:1::/64"},
           row{"fd00:10::/48", "a", "b fd00:10:0:2::/64"},
           row{"fd00:10:0:1:8000::/65", "b", "a fd00:10:0:1::/64"},
           row{"fd00:10:0:3::/64", "x", "none"}, row{"::/0", "a", "b fd00:10:0:2::/64"},
           row{"0.0.0.0/0", "b", "a 10.244.1.0/24"},
           row{"0.0.0.0/0", "a", "none"}, // b holds only IPv6
       })
    BOOST_TEST(describe(o.find_conflict(c(r.range), r.node)) == r.expected,
               r.range << " for " << r.node);
}

BOOST_AUTO_TEST_SUITE_END()
