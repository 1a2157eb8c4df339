// Independent read-back for privileged tunnel tests: asks iproute2 (`ip -j`,
// `bridge -j`) rather than libnl, so the tests do not trust the code under test.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "test/net/netns_fixture.hpp"

namespace kcr::test {

inline boost::json::value json_of(const netns& ns, const std::string& cmd) {
  std::string text = ns.out(cmd);
  boost::system::error_code ec;
  auto v = boost::json::parse(text.empty() ? std::string("[]") : text, ec);
  BOOST_TEST_REQUIRE(!ec, cmd << ": not JSON: " << text);
  return v;
}

inline std::string str(const boost::json::value& v, const char* key) {
  const auto* o = v.if_object();
  if (!o || !o->contains(key))
    return {};
  const auto& x = o->at(key);
  if (x.is_string())
    return std::string(x.as_string());
  if (x.is_int64())
    return std::to_string(x.as_int64());
  if (x.is_uint64())
    return std::to_string(x.as_uint64());
  return boost::json::serialize(x);
}

/// What the kernel says about one interface.
struct observed {
  bool exists = false;
  std::string kind, alias, mac, lower, local, remote;
  long vni = -1, port = -1, mtu = -1;
  bool up = false;
  std::vector<std::string> inet;       ///< IPv4 "a.b.c.d/n"
  std::vector<std::string> fdb_zero;   ///< dst of 00:00:00:00:00:00 entries
  std::vector<std::string> perm_neigh; ///< "ip lladdr" of PERMANENT neighbours
  std::string rp_filter;
};

inline observed observe(const netns& ns, const std::string& dev) {
  observed o;
  auto links = json_of(ns, "ip -j -d link show dev " + dev + " 2>/dev/null");
  if (!links.is_array() || links.as_array().empty())
    return o;
  const auto& l = links.as_array()[0];
  o.exists = true;
  o.alias = str(l, "ifalias");
  o.mac = str(l, "address");
  o.mtu = std::stol(str(l, "mtu"));
  for (const auto& f : l.at("flags").as_array())
    o.up = o.up || f.as_string() == "UP";
  if (l.as_object().contains("linkinfo")) {
    const auto& li = l.at("linkinfo");
    o.kind = str(li, "info_kind");
    if (li.as_object().contains("info_data")) {
      const auto& d = li.at("info_data");
      if (auto s = str(d, "id"); !s.empty())
        o.vni = std::stol(s);
      if (auto s = str(d, "port"); !s.empty())
        o.port = std::stol(s);
      o.local = str(d, "local");
      o.remote = str(d, "remote");
      o.lower = str(d, "link");
    }
  }
  auto addrs = json_of(ns, "ip -j addr show dev " + dev);
  for (const auto& a : addrs.as_array()[0].at("addr_info").as_array())
    if (str(a, "family") == "inet")
      o.inet.push_back(str(a, "local") + "/" + str(a, "prefixlen"));
  if (o.kind == "vxlan") {
    // Keep each parsed document alive while iterating it.
    const auto fdb = json_of(ns, "bridge -j fdb show dev " + dev);
    for (const auto& f : fdb.as_array())
      if (str(f, "mac") == "00:00:00:00:00:00")
        o.fdb_zero.push_back(str(f, "dst"));
    const auto neigh = json_of(ns, "ip -j neigh show dev " + dev);
    for (const auto& n : neigh.as_array()) {
      bool perm = false;
      if (n.as_object().contains("state"))
        for (const auto& s : n.at("state").as_array())
          perm = perm || s.as_string() == "PERMANENT";
      if (perm)
        o.perm_neigh.push_back(str(n, "dst") + " " + str(n, "lladdr"));
    }
  }
  o.rp_filter = ns.out("cat /proc/sys/net/ipv4/conf/" + dev + "/rp_filter");
  while (!o.rp_filter.empty() && o.rp_filter.back() == '\n')
    o.rp_filter.pop_back();
  return o;
}

} // namespace kcr::test
