// The overlay pool: validation, lowest-free allocation, stability, reuse,
// restore of published assignments, exhaustion, and scale (/16, /8).
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "net/overlay_pool.hpp"

using namespace kcr::net;

namespace {

ip_address ip(const char* text) {
  auto x = ip_address::parse(text);
  BOOST_REQUIRE_MESSAGE(x.has_value(), text);
  return *x;
}

overlay_pool make(const char* network, const char* endpoint) {
  auto p = overlay_pool::create(network, endpoint);
  BOOST_REQUIRE_MESSAGE(p.ok(),
                        network << " " << endpoint << ": " << (p.ok() ? "" : p.error().message));
  return std::move(*p);
}

std::string allocated(overlay_pool& pool, const std::string& key) {
  auto r = pool.allocate(key);
  BOOST_REQUIRE_MESSAGE(r.ok(), key << ": " << (r.ok() ? "" : r.error().message));
  return r->to_string();
}

std::string node(size_t i) {
  return "node-" + std::to_string(i);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

} // namespace

BOOST_AUTO_TEST_SUITE(overlay_pool_suite)

BOOST_AUTO_TEST_CASE(invalid_construction) {
  struct row {
    const char* network;
    const char* endpoint;
    pool_errc code;
    const char* message;
  };
  for (auto r : {
           row{"fd00::/64", "fd00::1", pool_errc::invalid_network,
               "overlay network fd00::/64 is not IPv4: expected an IPv4 network"},
           row{"192.168.254.0/31", "192.168.254.1", pool_errc::invalid_network,
               "overlay network 192.168.254.0/31 has prefix /31: expected /8 to /30"},
           row{"192.168.254.1/32", "192.168.254.1", pool_errc::invalid_network,
               "overlay network 192.168.254.1/32 has prefix /32: expected /8 to /30"},
           row{"10.0.0.0/7", "10.0.0.1", pool_errc::invalid_network,
               "overlay network 10.0.0.0/7 has prefix /7: expected /8 to /30"},
           row{"192.168.254.1/24", "192.168.254.254", pool_errc::invalid_network,
               "overlay network 192.168.254.1/24 has host bits set: expected a network address "
               "such as 192.168.254.0/24"},
           row{"192.168.254.0/24", "192.168.253.254", pool_errc::invalid_endpoint,
               "endpoint IP 192.168.253.254 is not inside overlay network 192.168.254.0/24"},
           row{"192.168.254.0/24", "fd00::1", pool_errc::invalid_endpoint,
               "endpoint IP fd00::1 is not inside overlay network 192.168.254.0/24"},
           row{"192.168.254.0/24", "192.168.254.0", pool_errc::invalid_endpoint,
               "endpoint IP 192.168.254.0 is the network address of 192.168.254.0/24"},
           row{"192.168.254.0/24", "192.168.254.255", pool_errc::invalid_endpoint,
               "endpoint IP 192.168.254.255 is the broadcast address of 192.168.254.0/24"},
           row{"192.168.254.0", "192.168.254.1", pool_errc::invalid_network,
               "overlay network '192.168.254.0' is not a CIDR: expected e.g. 192.168.254.0/24"},
           row{"192.168.254.0/24", "nope", pool_errc::invalid_endpoint,
               "endpoint IP 'nope' is not an IP address: expected e.g. 192.168.254.254"},
       }) {
    auto p = overlay_pool::create(r.network, r.endpoint);
    BOOST_TEST_REQUIRE(!p.ok(), r.network << " " << r.endpoint);
    BOOST_TEST((p.error().code == r.code), r.network << " " << r.endpoint);
    BOOST_TEST(p.error().message == r.message);
  }
}

BOOST_AUTO_TEST_CASE(valid_construction_and_capacity) {
  struct row {
    const char* network;
    const char* endpoint;
    uint64_t capacity;
  };
  for (auto r :
       {row{"192.168.254.0/24", "192.168.254.254", 253},
        row{"192.168.254.0/30", "192.168.254.1", 1}, row{"192.168.254.0/30", "192.168.254.2", 1},
        row{"10.1.0.0/16", "10.1.0.1", 65533}, row{"10.0.0.0/8", "10.255.255.254", 16777213}}) {
    auto pool = make(r.network, r.endpoint);
    BOOST_TEST(pool.capacity() == r.capacity, r.network);
    BOOST_TEST(pool.free_count() == r.capacity);
    BOOST_TEST(pool.size() == 0u);
    BOOST_TEST(pool.network().to_string() == r.network);
    BOOST_TEST(pool.endpoint().to_string() == r.endpoint);
  }
}

BOOST_AUTO_TEST_CASE(lowest_free_order_and_stability) {
  auto pool = make("192.168.254.0/24", "192.168.254.254");
  struct row {
    const char* key;
    const char* ip;
  };
  // Repeated keys get their address back and take nothing new.
  for (auto r : {row{"a", "192.168.254.1"}, row{"b", "192.168.254.2"}, row{"a", "192.168.254.1"},
                 row{"c", "192.168.254.3"}, row{"b", "192.168.254.2"}, row{"c", "192.168.254.3"}})
    BOOST_TEST(allocated(pool, r.key) == r.ip, r.key);
  BOOST_TEST(pool.size() == 3u);
  BOOST_TEST(pool.free_count() == 250u);
  BOOST_TEST(pool.lookup("b")->to_string() == "192.168.254.2");
  BOOST_TEST(!pool.lookup("d").has_value());
  BOOST_TEST(*pool.holder(ip("192.168.254.3")) == "c");
  BOOST_TEST(!pool.holder(ip("192.168.254.4")).has_value());
  BOOST_TEST(!pool.holder(ip("10.0.0.1")).has_value());

  auto empty = pool.allocate("");
  BOOST_TEST_REQUIRE(!empty.ok());
  BOOST_TEST((empty.error().code == pool_errc::empty_key));
}

BOOST_AUTO_TEST_CASE(reuse_after_release_lowest_first) {
  auto pool = make("192.168.254.0/24", "192.168.254.254");
  for (size_t i = 1; i <= 6; ++i)
    BOOST_TEST(allocated(pool, node(i)) == "192.168.254." + std::to_string(i));
  BOOST_TEST(pool.release("node-5")->to_string() == "192.168.254.5");
  BOOST_TEST(pool.release("node-2")->to_string() == "192.168.254.2");
  BOOST_TEST(pool.release("node-3")->to_string() == "192.168.254.3");
  BOOST_TEST(!pool.release("node-3").has_value()); // already released
  BOOST_TEST(!pool.release("never").has_value());
  BOOST_TEST(!pool.lookup("node-2").has_value());
  BOOST_TEST(pool.size() == 3u);
  // Freed addresses come back lowest first, then the pool continues above.
  struct row {
    const char* key;
    const char* ip;
  };
  for (auto r : {row{"x", "192.168.254.2"}, row{"y", "192.168.254.3"}, row{"z", "192.168.254.5"},
                 row{"w", "192.168.254.7"}})
    BOOST_TEST(allocated(pool, r.key) == r.ip, r.key);
  // Releasing everything leaves one merged free range, the whole pool.
  for (auto key : {"node-1", "node-4", "node-6", "x", "y", "z", "w"})
    BOOST_TEST(pool.release(key).has_value(), key);
  BOOST_TEST(pool.size() == 0u);
  BOOST_TEST(pool.free_count() == 253u);
  BOOST_TEST(pool.free_range_count() == 1u);
}

BOOST_AUTO_TEST_CASE(endpoint_in_the_middle_is_skipped) {
  auto pool = make("192.168.254.0/29", "192.168.254.3"); // hosts .1 .. .6
  BOOST_TEST(pool.capacity() == 5u);
  std::vector<std::string> got;
  for (size_t i = 0; i < 5; ++i)
    got.push_back(allocated(pool, node(i)));
  BOOST_TEST(got == (std::vector<std::string>{"192.168.254.1", "192.168.254.2", "192.168.254.4",
                                              "192.168.254.5", "192.168.254.6"}),
             boost::test_tools::per_element());
  BOOST_TEST(pool.is_reserved(ip("192.168.254.3")));
  BOOST_TEST(pool.is_reserved(ip("192.168.254.0")));
  BOOST_TEST(pool.is_reserved(ip("192.168.254.7")));
  BOOST_TEST(!pool.is_reserved(ip("192.168.254.4")));
  // Releasing both neighbours of the EndpointIP never makes it free.
  pool.release("node-1");
  pool.release("node-2");
  BOOST_TEST(allocated(pool, "p") == "192.168.254.2");
  BOOST_TEST(allocated(pool, "q") == "192.168.254.4");
  BOOST_TEST(!pool.allocate("r").ok());
}

BOOST_AUTO_TEST_CASE(restore_accepts_and_rejects_with_reasons) {
  auto pool = make("192.168.254.0/24", "192.168.254.254");
  struct row {
    const char* key;
    const char* ip;
    std::optional<restore_reason> reason; // nullopt: accepted
    const char* message;
  };
  for (auto r : {
           row{"n1", "192.168.254.10", std::nullopt, ""},
           row{"n2", "192.168.254.3", std::nullopt, ""},
           row{"n1", "192.168.254.10", std::nullopt, ""}, // identical again: fine
           row{"n3", "10.0.0.1", restore_reason::not_in_network,
               "cannot restore 10.0.0.1 for 'n3': not inside overlay network 192.168.254.0/24"},
           row{"n3", "fd00::1", restore_reason::not_in_network,
               "cannot restore fd00::1 for 'n3': not inside overlay network 192.168.254.0/24"},
           row{"n3", "192.168.254.0", restore_reason::reserved,
               "cannot restore 192.168.254.0 for 'n3': it is the reserved network address of "
               "192.168.254.0/24"},
           row{"n3", "192.168.254.255", restore_reason::reserved,
               "cannot restore 192.168.254.255 for 'n3': it is the reserved broadcast address of "
               "192.168.254.0/24"},
           row{"n3", "192.168.254.254", restore_reason::reserved,
               "cannot restore 192.168.254.254 for 'n3': it is the reserved EndpointIP address of "
               "192.168.254.0/24"},
           row{"n3", "192.168.254.10", restore_reason::held_by_other,
               "cannot restore 192.168.254.10 for 'n3': already held by 'n1'"},
           row{"n1", "192.168.254.11", restore_reason::key_holds_other,
               "cannot restore 192.168.254.11 for 'n1': the key already holds 192.168.254.10"},
           row{"", "192.168.254.12", restore_reason::empty_key,
               "cannot restore 192.168.254.12 for '': the key is empty"},
       }) {
    auto rejected = pool.restore(r.key, ip(r.ip));
    BOOST_TEST(rejected.has_value() == r.reason.has_value(), r.key << " " << r.ip);
    if (rejected && r.reason) {
      BOOST_TEST(to_string(rejected->reason) == to_string(*r.reason));
      BOOST_TEST(rejected->message == r.message);
      BOOST_TEST(rejected->key == r.key);
      BOOST_TEST(rejected->ip == ip(r.ip));
    }
  }
  // No rejection changed anything: n1 and n2 hold what they restored.
  BOOST_TEST(pool.size() == 2u);
  BOOST_TEST(pool.lookup("n1")->to_string() == "192.168.254.10");
  BOOST_TEST(*pool.holder(ip("192.168.254.10")) == "n1");
  BOOST_TEST(!pool.lookup("n3").has_value());
}

BOOST_AUTO_TEST_CASE(restore_all_then_allocate_fills_gaps_from_lowest) {
  auto pool = make("192.168.254.0/24", "192.168.254.254");
  auto rejected = pool.restore_all({{"a", ip("192.168.254.1")},
                                    {"c", ip("192.168.254.3")},
                                    {"f", ip("192.168.254.6")},
                                    {"dup", ip("192.168.254.3")},
                                    {"ep", ip("192.168.254.254")},
                                    {"a", ip("192.168.254.1")}});
  BOOST_TEST_REQUIRE(rejected.size() == 2u);
  BOOST_TEST(rejected[0].key == "dup");
  BOOST_TEST((rejected[0].reason == restore_reason::held_by_other));
  BOOST_TEST(rejected[1].key == "ep");
  BOOST_TEST((rejected[1].reason == restore_reason::reserved));
  BOOST_TEST(pool.size() == 3u);
  // Restored keys keep their address; new keys fill .2, .4, .5, then .7.
  BOOST_TEST(allocated(pool, "c") == "192.168.254.3");
  std::vector<std::string> got;
  for (auto key : {"n1", "n2", "n3", "n4"})
    got.push_back(allocated(pool, key));
  BOOST_TEST(got == (std::vector<std::string>{"192.168.254.2", "192.168.254.4", "192.168.254.5",
                                              "192.168.254.7"}),
             boost::test_tools::per_element());
  // Iteration is sorted by address.
  std::vector<std::string> order;
  for (auto a : pool)
    order.push_back(a.ip.to_string() + "=" + a.key);
  BOOST_TEST(order ==
                 (std::vector<std::string>{"192.168.254.1=a", "192.168.254.2=n1", "192.168.254.3=c",
                                           "192.168.254.4=n2", "192.168.254.5=n3",
                                           "192.168.254.6=f", "192.168.254.7=n4"}),
             boost::test_tools::per_element());
  auto copy = pool.assignments();
  BOOST_TEST_REQUIRE(copy.size() == 7u);
  BOOST_TEST(copy.front().first.to_string() == "192.168.254.1");
  BOOST_TEST(copy.back().second == "n4");
}

BOOST_AUTO_TEST_CASE(exhaustion_is_an_error_value) {
  struct row {
    const char* network;
    const char* endpoint;
    size_t fill;
    const char* message;
  };
  for (auto r :
       {row{"192.168.254.0/30", "192.168.254.2", 1,
            "overlay network 192.168.254.0/30 is exhausted: 1 usable address, 1 in use"},
        row{"192.168.254.0/29", "192.168.254.6", 5,
            "overlay network 192.168.254.0/29 is exhausted: 5 usable addresses, 5 in use"}}) {
    auto pool = make(r.network, r.endpoint);
    for (size_t i = 0; i < r.fill; ++i)
      allocated(pool, node(i));
    BOOST_TEST(pool.free_count() == 0u);
    auto full = pool.allocate("one-too-many");
    BOOST_TEST_REQUIRE(!full.ok());
    BOOST_TEST((full.error().code == pool_errc::exhausted));
    BOOST_TEST(full.error().message == r.message);
    // Existing holders still get their address; a release makes room again.
    BOOST_TEST(pool.allocate(node(0)).ok());
    pool.release(node(0));
    BOOST_TEST(pool.allocate("one-too-many").ok());
  }
}

BOOST_AUTO_TEST_CASE(slash_30_has_exactly_one_usable) {
  for (auto endpoint : {"192.168.254.1", "192.168.254.2"}) {
    auto pool = make("192.168.254.0/30", endpoint);
    BOOST_TEST(pool.capacity() == 1u);
    auto expected = std::string(endpoint) == "192.168.254.1" ? "192.168.254.2" : "192.168.254.1";
    BOOST_TEST(allocated(pool, "only") == expected);
    BOOST_TEST(!pool.allocate("second").ok());
  }
}

BOOST_AUTO_TEST_CASE(slash_16_thousands_fast) {
  auto pool = make("10.1.0.0/16", "10.1.255.254");
  BOOST_TEST(pool.capacity() == 65534u - 1u);
  auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < 5000; ++i)
    BOOST_TEST_REQUIRE(pool.allocate(node(i)).ok());
  BOOST_TEST(pool.lookup(node(0))->to_string() == "10.1.0.1");
  BOOST_TEST(pool.lookup(node(255))->to_string() == "10.1.1.0"); // .x.0 is a host in a /16
  BOOST_TEST(pool.lookup(node(4999))->to_string() == "10.1.19.136");
  // Release every other node, then re-allocate: holes fill lowest first.
  for (size_t i = 0; i < 5000; i += 2)
    pool.release(node(i));
  BOOST_TEST(pool.size() == 2500u);
  BOOST_TEST(allocated(pool, "again") == "10.1.0.1");
  BOOST_TEST(allocated(pool, "again2") == "10.1.0.3");
  BOOST_TEST(seconds_since(start) < 2.0);
}

BOOST_AUTO_TEST_CASE(slash_8_five_thousand_nodes) {
  auto pool = make("10.0.0.0/8", "10.0.0.1"); // the endpoint sits first
  auto start = std::chrono::steady_clock::now();
  // A restored assignment near the top must not cost memory for the range
  // below it: the free ranges stay a handful.
  BOOST_TEST(!pool.restore("top", ip("10.255.255.200")).has_value());
  for (size_t i = 0; i < 5000; ++i)
    BOOST_TEST_REQUIRE(pool.allocate(node(i)).ok());
  BOOST_TEST(pool.lookup(node(0))->to_string() == "10.0.0.2");
  BOOST_TEST(pool.free_count() == 16777213u - 5001u);
  BOOST_TEST(pool.free_range_count() <= 3u);
  for (size_t i = 0; i < 5000; i += 3)
    pool.release(node(i));
  BOOST_TEST(pool.free_range_count() <= pool.size() + 2);
  for (size_t i = 0; i < 5000; ++i)
    BOOST_TEST_REQUIRE(pool.lookup(node(i)).has_value() == (i % 3 != 0));
  BOOST_TEST(allocated(pool, "late") == "10.0.0.2");
  BOOST_TEST(seconds_since(start) < 2.0);
}

// Random operations against a plain bitmap model of a small network.
BOOST_AUTO_TEST_CASE(random_operations_match_a_simple_model) {
  auto pool = make("172.16.0.0/26", "172.16.0.20"); // hosts .1 .. .62
  std::map<std::string, uint32_t> model;            // key -> last octet
  std::mt19937 rng(42);
  auto lowest_free = [&]() -> std::optional<uint32_t> {
    std::set<uint32_t> used;
    for (auto& [k, v] : model)
      used.insert(v);
    for (uint32_t o = 1; o <= 62; ++o)
      if (o != 20 && !used.count(o))
        return o;
    return std::nullopt;
  };
  for (int step = 0; step < 20000; ++step) {
    auto key = node(rng() % 80);
    auto op = rng() % 3;
    if (op == 0) {
      auto expect = model.count(key) ? std::optional<uint32_t>(model[key]) : lowest_free();
      auto got = pool.allocate(key);
      BOOST_TEST_REQUIRE(got.ok() == expect.has_value(), "step " << step);
      if (expect) {
        BOOST_TEST_REQUIRE(got->v4_value() - 0xAC100000u == *expect, "step " << step);
        model[key] = *expect;
      }
    } else if (op == 1) {
      auto got = pool.release(key);
      BOOST_TEST_REQUIRE(got.has_value() == (model.count(key) == 1), "step " << step);
      model.erase(key);
    } else {
      uint32_t octet = rng() % 64;
      auto addr = ip_address::v4(0xAC100000u + octet);
      bool taken = false;
      for (auto& [k, v] : model)
        taken = taken || (v == octet && k != key);
      bool ok = octet != 0 && octet != 63 && octet != 20 && !taken &&
                (!model.count(key) || model[key] == octet);
      auto rejected = pool.restore(key, addr);
      BOOST_TEST_REQUIRE(rejected.has_value() == !ok, "step " << step);
      if (ok)
        model[key] = octet;
    }
    BOOST_TEST_REQUIRE(pool.size() == model.size());
    // Free ranges are kept merged: as many as maximal runs of free offsets.
    std::set<uint32_t> used{0, 20, 63};
    for (auto& [k, v] : model)
      used.insert(v);
    size_t runs = 0;
    for (uint32_t o = 1; o <= 62; ++o)
      runs += !used.count(o) && used.count(o - 1);
    BOOST_TEST_REQUIRE(pool.free_range_count() == runs, "step " << step);
  }
}

BOOST_AUTO_TEST_CASE(mac_follows_the_allocated_address) {
  auto pool = make("192.168.254.0/24", "192.168.254.254");
  struct row {
    const char* key;
    const char* mac;
  };
  for (auto r : {row{"a", "0a:58:c0:a8:fe:01"}, row{"b", "0a:58:c0:a8:fe:02"}}) {
    auto addr = pool.allocate(r.key);
    BOOST_TEST_REQUIRE(addr.ok());
    BOOST_TEST(mac_address::from_overlay_ip(*addr).to_string() == r.mac);
  }
}

BOOST_AUTO_TEST_SUITE_END()
