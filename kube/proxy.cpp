// Proxy selection and NO_PROXY matching. See proxy.hpp.
#include "kube/proxy.hpp"

#include <arpa/inet.h>
#include <array>
#include <cstring>
#include <vector>

#include "kube/base64.hpp"

namespace kcr::kube {

namespace {

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t");
  auto e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string percent_decode(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// An IP address: family and 4 or 16 bytes.
struct ip_addr {
  int family = 0;
  std::array<unsigned char, 16> b{};
  std::size_t len() const { return family == AF_INET ? 4 : 16; }
};

std::optional<ip_addr> parse_ip(const std::string& s) {
  ip_addr a;
  if (::inet_pton(AF_INET, s.c_str(), a.b.data()) == 1) {
    a.family = AF_INET;
    return a;
  }
  if (::inet_pton(AF_INET6, s.c_str(), a.b.data()) == 1) {
    a.family = AF_INET6;
    return a;
  }
  return std::nullopt;
}

bool is_loopback(const ip_addr& a) {
  if (a.family == AF_INET)
    return a.b[0] == 127;
  static const std::array<unsigned char, 16> one{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return a.b == one;
}

bool in_cidr(const ip_addr& ip, const ip_addr& net, int bits) {
  if (ip.family != net.family)
    return false;
  for (int i = 0; i < bits; ++i) {
    unsigned char mask = static_cast<unsigned char>(0x80 >> (i % 8));
    if ((ip.b[i / 8] & mask) != (net.b[i / 8] & mask))
      return false;
  }
  return true;
}

// Splits "host:port" / "[v6]:port" / "host" / "v6"; port "" when absent.
void split_host_port(const std::string& s, std::string& host, std::string& port) {
  host = s;
  port.clear();
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close != std::string::npos) {
      host = s.substr(1, close - 1);
      if (close + 1 < s.size() && s[close + 1] == ':')
        port = s.substr(close + 2);
    }
    return;
  }
  auto colon = s.rfind(':');
  if (colon != std::string::npos && s.find(':') == colon) { // one colon: host:port
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
}

// One NO_PROXY entry against the (lower-case) host.
bool entry_matches(const std::string& entry, const std::string& host, const std::string& port,
                   const std::optional<ip_addr>& host_ip) {
  if (auto slash = entry.find('/'); slash != std::string::npos) { // CIDR: IP hosts only
    auto net = parse_ip(entry.substr(0, slash));
    if (!net || !host_ip)
      return false;
    int bits = std::atoi(entry.substr(slash + 1).c_str());
    if (bits < 0 || bits > static_cast<int>(net->len() * 8))
      return false;
    return in_cidr(*host_ip, *net, bits);
  }
  std::string ehost, eport;
  split_host_port(entry, ehost, eport);
  if (ehost.empty())
    return false;
  bool port_ok = eport.empty() || eport == port;
  if (auto eip = parse_ip(ehost)) // an IP entry matches that IP only
    return host_ip && host_ip->family == eip->family &&
           std::memcmp(host_ip->b.data(), eip->b.data(), eip->len()) == 0 && port_ok;
  if (ehost.rfind("*.", 0) == 0)
    ehost = ehost.substr(1);
  bool match_self = ehost[0] != '.';
  std::string suffix = match_self ? "." + ehost : ehost;
  bool hit = (host.size() > suffix.size() &&
              host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0) ||
             (match_self && host == ehost);
  return hit && port_ok;
}

std::string first_set(const env_getter& env, const char* a, const char* b) {
  for (const char* name : {a, b})
    if (auto v = env(name); v && !v->empty())
      return *v;
  return {};
}

} // namespace

std::string proxy_url::authority() const {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
}

std::string proxy_url::to_string() const {
  return "http://" + (has_auth ? username + "@" : std::string()) + authority();
}

std::string proxy_url::authorization() const {
  return has_auth ? "Basic " + base64_encode(username + ":" + password) : std::string();
}

proxy_url parse_proxy_url(const std::string& url) {
  auto bad = [&](const std::string& why) {
    // The URL may hold a password: name only its scheme and host in errors.
    auto at = url.rfind('@');
    std::string shown = at == std::string::npos ? url : "..." + url.substr(at);
    return config_error("proxy URL \"" + shown + "\": " + why);
  };
  std::string rest = url;
  if (auto sep = url.find("://"); sep != std::string::npos) {
    auto scheme = lower(url.substr(0, sep));
    if (scheme == "https")
      throw bad("https:// proxies (TLS to the proxy) are not supported; use an http:// proxy "
                "(the API server's TLS still goes end to end through CONNECT)");
    if (scheme.rfind("socks", 0) == 0)
      throw bad("SOCKS proxies are not supported; use an http:// proxy");
    if (scheme != "http")
      throw bad("scheme must be http");
    rest = url.substr(sep + 3);
  }
  auto authority = rest.substr(0, rest.find('/'));
  proxy_url p;
  if (auto at = authority.rfind('@'); at != std::string::npos) {
    auto info = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto colon = info.find(':');
    p.username = percent_decode(info.substr(0, colon));
    if (colon != std::string::npos)
      p.password = percent_decode(info.substr(colon + 1));
    p.has_auth = true;
  }
  if (!authority.empty() && authority[0] != '[' && authority.find(':') != authority.rfind(':'))
    throw bad("an IPv6 host must be written in brackets");
  split_host_port(authority, p.host, p.port);
  if (p.host.empty())
    throw bad("no host");
  if (p.port.empty())
    p.port = "80";
  if (p.port.find_first_not_of("0123456789") != std::string::npos || p.port.size() > 5 ||
      std::stoul(p.port) == 0 || std::stoul(p.port) > 65535)
    throw bad("bad port \"" + p.port + "\"");
  return p;
}

bool no_proxy_matches(const std::string& no_proxy, const std::string& host,
                      const std::string& port) {
  auto h = lower(host);
  auto ip = parse_ip(h);
  std::size_t start = 0;
  while (start <= no_proxy.size()) {
    auto end = no_proxy.find(',', start);
    if (end == std::string::npos)
      end = no_proxy.size();
    auto entry = lower(trim(no_proxy.substr(start, end - start)));
    start = end + 1;
    if (entry == "*")
      return true;
    if (!entry.empty() && entry_matches(entry, h, port, ip))
      return true;
  }
  return false;
}

std::optional<proxy_url> proxy_for(const server_url& server, const std::string& kubeconfig_proxy,
                                   const env_getter& env) {
  if (!kubeconfig_proxy.empty()) // proxy-url: every request, NO_PROXY does not apply
    return parse_proxy_url(kubeconfig_proxy);
  const char* var = server.tls() ? "HTTPS_PROXY" : "HTTP_PROXY";
  auto url = server.tls() ? first_set(env, "HTTPS_PROXY", "https_proxy")
                          : first_set(env, "HTTP_PROXY", "http_proxy");
  if (url.empty())
    return std::nullopt;
  // Go never proxies localhost or loopback addresses from the environment.
  auto host = lower(server.host);
  if (auto ip = parse_ip(host); host == "localhost" || (ip && is_loopback(*ip)))
    return std::nullopt;
  if (no_proxy_matches(first_set(env, "NO_PROXY", "no_proxy"), host, server.port))
    return std::nullopt;
  try {
    return parse_proxy_url(url);
  } catch (const config_error& e) {
    throw config_error(std::string(var) + ": " + e.what());
  }
}

} // namespace kcr::kube
