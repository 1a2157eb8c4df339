// Which HTTP proxy the API client goes through, the way kubectl (Go's net/http) decides: the
// kubeconfig cluster's proxy-url wins; otherwise HTTPS_PROXY / https_proxy for an https server
// (HTTP_PROXY / http_proxy for http) unless NO_PROXY / no_proxy matches the server or the
// server is localhost / a loopback address. Pure functions: no I/O.
#pragma once

#include <optional>
#include <string>

#include "kube/client_config.hpp"

namespace kcr::kube {

/// An http:// proxy (TLS to the API server goes through a CONNECT tunnel).
struct proxy_url {
  std::string host; ///< without brackets
  std::string port;
  std::string username; ///< percent-decoded userinfo, for Proxy-Authorization: Basic
  std::string password;
  bool has_auth = false;
  /// "http://user@host:port" (never the password), for messages.
  std::string to_string() const;
  /// "Basic <base64(user:password)>", or "" without userinfo.
  std::string authorization() const;
  /// "host:port" / "[v6]:port".
  std::string authority() const;
};

/// "http://[user:pass@]host[:port][/]" or "host:port" (taken as http://). Throws config_error
/// for other schemes (https:// and socks5:// proxies are not supported) or a malformed URL.
proxy_url parse_proxy_url(const std::string& url);

/// Go's NO_PROXY rules: comma list; "*" = everything; an IP or CIDR matches IP hosts; a name
/// matches itself and its subdomains ("example.com", "*.example.com"), ".example.com" only
/// subdomains; an entry with ":port" only that port. Case-insensitive.
bool no_proxy_matches(const std::string& no_proxy, const std::string& host,
                      const std::string& port);

/// The proxy for `server`, or nullopt for a direct connection. `kubeconfig_proxy` is the
/// cluster's proxy-url ("" = use the environment). Throws config_error for an unusable URL.
std::optional<proxy_url> proxy_for(const server_url& server, const std::string& kubeconfig_proxy,
                                   const env_getter& env);

} // namespace kcr::kube
