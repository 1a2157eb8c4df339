#include "app/lib/kube_chorus_router.hpp"

#include <charconv>
#include <cstdlib>
#include <stdexcept>

#include "net/netlink_tunnel.hpp"
#include "net/tunnel_spec.hpp"

namespace kcr {

namespace {

struct env_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string required(const char* name, const char* example) {
  auto v = env(name);
  if (v.empty())
    throw env_error(std::string{name} + " is not set: expected e.g. " + example);
  return v;
}

net::ip_address address(const char* name, const std::string& v) {
  auto ip = net::ip_address::parse(v);
  if (!ip)
    throw env_error(std::string{name} + "=\"" + v + "\": expected an IP address");
  return *ip;
}

long number(const char* name, long lo, long hi, long fallback) {
  auto v = env(name);
  if (v.empty())
    return fallback;
  long n = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc{} || ptr != v.data() + v.size() || n < lo || n > hi)
    throw env_error(std::string{name} + "=\"" + v + "\": expected a number " + std::to_string(lo) +
                    ".." + std::to_string(hi));
  return n;
}

net::overlay_type type_from_env() {
  auto v = env("TYPE");
  if (v.empty())
    return net::overlay_type::vxlan;
  auto t = net::parse_overlay_type(v);
  if (!t)
    throw env_error("TYPE=\"" + v + "\": expected vxlan or ipip");
  return *t;
}

std::string name_from_env(net::overlay_type t) {
  auto v = env("INTERFACE_NAME");
  return v.empty() ? std::string{net::default_interface_name(t)} : v;
}

net::tunnel_spec spec_from_env() {
  net::tunnel_spec s;
  s.type = type_from_env();
  s.name = name_from_env(s.type);
  auto network_text = required("NETWORK", "192.168.254.0/24");
  auto network = net::cidr::parse(network_text);
  if (!network || !network->address().is_v4())
    throw env_error("NETWORK=\"" + network_text +
                    "\": expected an IPv4 network like 192.168.254.0/24");
  auto overlay = address("OVERLAY_IP", required("OVERLAY_IP", "192.168.254.1"));
  if (!network->contains(overlay))
    throw env_error("OVERLAY_IP=" + overlay.to_string() + " is outside NETWORK=" + network_text);
  s.overlay = net::cidr{overlay, network->prefix()};
  s.local = address("LOCAL_VTEPIP", required("LOCAL_VTEPIP", "198.51.100.10"));
  s.remote = address("REMOTE_VTEPIP", required("REMOTE_VTEPIP", "198.51.100.1"));
  if (s.type == net::overlay_type::vxlan) {
    s.vni = static_cast<uint32_t>(number("VNID", 1, 16777215, 1));
    s.port = static_cast<uint16_t>(number("VXLAN_PORT", 1, 65535, 4789));
    s.mac = net::mac_address::from_overlay_ip(overlay);
    auto endpoint = env("ENDPOINT_IP");
    auto mac_text = env("REMOTE_VTEP_MAC");
    if (!endpoint.empty() && !mac_text.empty()) {
      auto mac = net::mac_address::parse(mac_text);
      if (!mac)
        throw env_error("REMOTE_VTEP_MAC=\"" + mac_text + "\": expected a MAC address");
      s.endpoint_neighbour = net::static_neighbour{address("ENDPOINT_IP", endpoint), *mac};
    }
  }
  if (auto mtu = number("TUNNEL_MTU", 0, 65535, 0); mtu > 0)
    s.mtu = static_cast<uint32_t>(mtu);
  if (auto problems = net::validate(s); !problems.empty())
    throw env_error(problems.front());
  return s;
}

} // namespace

result create() {
  result r;
  try {
    auto spec = spec_from_env();
    net::netlink_tunnel_manager manager;
    auto c = manager.converge(spec);
    if (!c) {
      r.message = c.error().message;
      return r;
    }
    r.ok = true;
    r.changes = c->changes;
    r.message = c->changed() ? net::interface_name(spec) + " converged"
                             : net::interface_name(spec) + " already as specified";
  } catch (const env_error& e) {
    r.message = e.what();
  }
  return r;
}

result remove() {
  result r;
  try {
    auto name = name_from_env(type_from_env());
    net::netlink_tunnel_manager manager;
    auto c = manager.remove(name);
    if (!c) {
      r.message = c.error().message;
      return r;
    }
    r.ok = true;
    r.changes = c->removed;
    r.message = c->removed.empty() ? name + " does not exist" : name + " removed";
  } catch (const env_error& e) {
    r.message = e.what();
  }
  return r;
}

} // namespace kcr
