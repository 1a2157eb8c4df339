// Decodes the ConfigMap contract, in full and incrementally (see configmap_codec.hpp).
#include <algorithm>
#include <charconv>
#include <set>

#include "kube/configmap_codec.hpp"
#include "kube/configmap_keys.hpp"

namespace kcr::kube {

using namespace codec_detail;

namespace {

std::string quote(std::string_view text) {
  constexpr size_t limit = 100;
  std::string q = "\"";
  q.append(text.substr(0, limit));
  q += text.size() > limit ? "...\"" : "\"";
  return q;
}

std::string bad_value(std::string_view key, std::string_view value, std::string_view expected) {
  return cat(key, ": ") + quote(value) + " is not " + std::string{expected};
}

// Parses an unsigned decimal in [min, max] with nothing else around it.
std::optional<uint32_t> parse_uint(std::string_view text, uint32_t min, uint32_t max) {
  uint32_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size() || value < min ||
      value > max)
    return std::nullopt;
  return value;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// The node IP named by a key suffix, which must be spelled exactly as ip_key() writes it (a
// second spelling of the same IP would make two entries for one node).
std::optional<net::ip_address> parse_ip_key(std::string_view suffix) {
  std::string text{suffix};
  std::replace(text.begin(), text.end(), '_', ':');
  auto ip = net::ip_address::parse(text);
  if (!ip || ip_key(*ip) != suffix)
    return std::nullopt;
  return ip;
}

std::optional<std::vector<net::cidr>> parse_cni_value(std::string_view value) {
  std::vector<net::cidr> result;
  if (trim(value).empty())
    return result;
  while (true) {
    auto comma = value.find(',');
    auto c = net::cidr::parse(trim(value.substr(0, comma)));
    if (!c)
      return std::nullopt;
    result.push_back(c->network());
    if (comma == std::string_view::npos)
      return result;
    value.remove_prefix(comma + 1);
  }
}

// The raw keys seen for one node IP, before they are checked together.
struct raw_entry {
  std::vector<std::string> uids; // from Host-<uid> keys whose value is this IP
  const std::string* interface = nullptr;
  const std::string* mac = nullptr;
  const std::string* cni = nullptr;
  const std::string* name = nullptr;
  const std::string* node = nullptr;
};

// "192.0.2.10,192.0.2.11" -> out; false (out cleared) when any item is not an IP address.
bool parse_ip_list(std::string_view value, std::vector<net::ip_address>& out) {
  out.clear();
  while (true) {
    auto comma = value.find(',');
    auto ip = net::ip_address::parse(trim(value.substr(0, comma)));
    if (!ip) {
      out.clear();
      return false;
    }
    out.push_back(*ip);
    if (comma == std::string_view::npos)
      return true;
    value.remove_prefix(comma + 1);
  }
}

void decode_fixed(std::string_view key, const std::string& value, decode_result& out) {
  auto& s = out.state;
  bool ok = true;
  if (key == key_endpoint)
    ok = (s.endpoint_ip = net::ip_address::parse(value)).has_value();
  else if (key == key_type)
    ok = (s.type = net::parse_overlay_type(value)).has_value();
  else if (key == key_network)
    ok = (s.network = net::cidr::parse(value)).has_value();
  else if (key == key_vnid)
    ok = (s.vni = parse_uint(value, 1, 16777215)).has_value();
  else if (key == key_port) {
    auto port = parse_uint(value, 1, 65535);
    ok = port.has_value();
    if (port)
      s.port = static_cast<uint16_t>(*port);
  } else if (key == key_remote_vtep)
    ok = (s.remote_vtep = net::ip_address::parse(value)).has_value();
  else if (key == key_remote_vteps)
    ok = parse_ip_list(value, s.remote_vteps);
  if (ok)
    return;
  static const std::map<std::string_view, std::string_view> expected{
      {key_endpoint, "an IP address"},
      {key_type, "VXLAN, IPIP or NONE"},
      {key_network, "a CIDR"},
      {key_vnid, "a VNI in 1..16777215"},
      {key_port, "a port in 1..65535"},
      {key_remote_vtep, "an IP address"},
      {key_remote_vteps, "a comma-separated list of IP addresses"}};
  out.problems.push_back(bad_value(key, value, expected.at(key)));
}

// Checks one node's keys together; appends the entry to state or partial, or reports why not.
void decode_entry(const net::ip_address& ip, const raw_entry& raw, decode_result& out) {
  auto key = [&](std::string_view prefix) { return cat(prefix, ip_key(ip)); };
  auto& problems = out.problems;
  size_t problems_before = problems.size();
  node_entry e;
  e.node_ip = ip;

  bool complete = false;
  if (raw.node != nullptr) {
    auto value = net::ip_address::parse(*raw.node);
    if (!value)
      problems.push_back(bad_value(key(prefix_node), *raw.node, "an IP address"));
    else if (*value != ip)
      problems.push_back(key(prefix_node) + ": " + quote(*raw.node) +
                         " does not match the IP in its key");
    else
      complete = true;
  }
  if (raw.uids.size() > 1) {
    std::string keys;
    for (const auto& uid : raw.uids)
      keys += (keys.empty() ? "" : ", ") + cat(prefix_host, uid);
    problems.push_back(keys + " all name node IP " + ip.to_string());
  } else if (raw.uids.size() == 1) {
    e.uid = raw.uids.front();
  }
  if (raw.interface == nullptr) {
    problems.push_back(key(prefix_interface) + " is missing for node IP " + ip.to_string());
  } else if (auto overlay = net::ip_address::parse(*raw.interface)) {
    e.overlay_ip = *overlay;
  } else {
    problems.push_back(bad_value(key(prefix_interface), *raw.interface, "an IP address"));
  }
  if (raw.mac != nullptr) {
    if (auto mac = net::mac_address::parse(*raw.mac)) {
      if (*mac != e.effective_mac())
        e.mac = *mac;
    } else {
      problems.push_back(bad_value(key(prefix_mac), *raw.mac, "a MAC address"));
    }
  }
  if (raw.cni != nullptr) {
    if (auto cidrs = parse_cni_value(*raw.cni))
      e.pod_cidrs = std::move(*cidrs);
    else
      problems.push_back(bad_value(key(prefix_cni), *raw.cni, "a comma-separated list of CIDRs"));
  } else if (complete) {
    problems.push_back(key(prefix_cni) + " is missing for node IP " + ip.to_string());
  }
  if (raw.name != nullptr)
    e.name = *raw.name;

  if (problems.size() != problems_before)
    return;
  (complete ? out.state.entries : out.partial).push_back(std::move(e));
}

} // namespace

decode_result decode(const std::map<std::string, std::string>& data) {
  decode_result out;
  std::map<net::ip_address, raw_entry> by_ip; // ordered: entries come out sorted by node IP
  for (const auto& [key, value] : data) {
    std::string_view k = key;
    if (std::find(fixed_keys.begin(), fixed_keys.end(), k) != fixed_keys.end()) {
      decode_fixed(k, value, out);
      continue;
    }
    auto prefix = std::find_if(entry_prefixes.begin(), entry_prefixes.end(),
                               [&](std::string_view p) { return k.starts_with(p); });
    if (prefix == entry_prefixes.end())
      continue; // foreign key
    auto suffix = k.substr(prefix->size());
    if (*prefix == prefix_host) {
      // Host-<uid>: the value names the node IP.
      auto ip = net::ip_address::parse(value);
      if (suffix.empty())
        out.problems.push_back(key + ": the key has no node uid");
      else if (!ip)
        out.problems.push_back(bad_value(key, value, "an IP address"));
      else
        by_ip[*ip].uids.emplace_back(suffix);
      continue;
    }
    auto ip = parse_ip_key(suffix);
    if (!ip) {
      out.problems.push_back(key + ": " + quote(suffix) +
                             " is not a node IP as written in keys (IPv6 with ':' as '_')");
      continue;
    }
    auto& raw = by_ip[*ip];
    if (*prefix == prefix_interface)
      raw.interface = &value;
    else if (*prefix == prefix_mac)
      raw.mac = &value;
    else if (*prefix == prefix_cni)
      raw.cni = &value;
    else if (*prefix == prefix_name)
      raw.name = &value;
    else
      raw.node = &value;
  }
  for (const auto& [ip, raw] : by_ip)
    decode_entry(ip, raw, out);
  return out;
}

// ---------------------------------------------------------------- incremental decoding

namespace {

std::string_view family_of(std::string_view key) {
  for (auto p : entry_prefixes)
    if (key.starts_with(p))
      return p;
  return {};
}

// The node IPs whose keys differ between the two maps; nullopt when a full decode is needed
// (a fixed key changed, a key decode() would report, or too many changes to be worth it).
std::optional<std::set<net::ip_address>>
affected_nodes(const std::map<std::string, std::string>& before_data,
               const std::map<std::string, std::string>& now) {
  std::set<net::ip_address> affected;
  size_t changed = 0;
  const size_t budget = now.size() / 8 + 16; // beyond this a full decode is as cheap
  auto note = [&](const std::string& key, const std::string* old_value,
                  const std::string* new_value) -> bool {
    if (!is_own_key(key))
      return true;
    if (++changed > budget)
      return false;
    auto family = family_of(key);
    if (family.empty())
      return false; // a fixed key: it shapes every entry
    if (family == prefix_host) {
      for (const auto* v : {old_value, new_value}) {
        if (!v)
          continue;
        auto ip = net::ip_address::parse(*v);
        if (!ip)
          return false;
        affected.insert(*ip);
      }
      return true;
    }
    // Only the exact spelling decode() accepts: a second spelling of an IP (non-canonical IPv6)
    // is a problem the full decode reports, and the partial decode below would not see that key.
    auto ip = parse_ip_key(std::string_view{key}.substr(family.size()));
    if (!ip)
      return false;
    affected.insert(*ip);
    return true;
  };
  // One pass over both sorted maps finds every added, removed and changed key.
  auto b = before_data.begin();
  auto n = now.begin();
  while (b != before_data.end() || n != now.end()) {
    bool ok = true;
    if (n == now.end() || (b != before_data.end() && b->first < n->first)) {
      ok = note(b->first, &b->second, nullptr);
      ++b;
    } else if (b == before_data.end() || n->first < b->first) {
      ok = note(n->first, nullptr, &n->second);
      ++n;
    } else {
      if (b->second != n->second)
        ok = note(n->first, &b->second, &n->second);
      ++b;
      ++n;
    }
    if (!ok)
      return std::nullopt;
  }
  return affected;
}

// The keys that decode the affected nodes: the fixed keys, their IP-keyed keys, the Host- keys
// naming them.
std::map<std::string, std::string> keys_of(const std::map<std::string, std::string>& now,
                                           const std::set<net::ip_address>& affected) {
  std::map<std::string, std::string> part;
  for (auto k : fixed_keys)
    if (auto it = now.find(std::string{k}); it != now.end())
      part.insert(*it);
  for (const auto& ip : affected)
    for (auto p : entry_prefixes)
      if (p != prefix_host)
        if (auto it = now.find(cat(p, ip_key(ip))); it != now.end())
          part.insert(*it);
  for (auto it = now.lower_bound(std::string{prefix_host});
       it != now.end() && std::string_view{it->first}.starts_with(prefix_host); ++it)
    if (auto ip = net::ip_address::parse(it->second); ip && affected.count(*ip))
      part.insert(*it);
  return part;
}

// `before` with the affected nodes' entries replaced by `decoded`'s, sorted by node IP.
decode_result splice(const decode_result& before, decode_result decoded,
                     const std::set<net::ip_address>& affected) {
  decode_result out;
  out.state = before.state;
  out.state.entries.clear();
  out.state.entries.reserve(before.state.entries.size() + decoded.state.entries.size());
  for (const auto& e : before.state.entries)
    if (!affected.count(e.node_ip))
      out.state.entries.push_back(e);
  for (auto& e : decoded.state.entries)
    out.state.entries.push_back(std::move(e));
  for (const auto& e : before.partial)
    if (!affected.count(e.node_ip))
      out.partial.push_back(e);
  for (auto& e : decoded.partial)
    out.partial.push_back(std::move(e));
  auto by_ip = [](const node_entry& x, const node_entry& y) { return x.node_ip < y.node_ip; };
  std::sort(out.state.entries.begin(), out.state.entries.end(), by_ip);
  std::sort(out.partial.begin(), out.partial.end(), by_ip);
  return out;
}

} // namespace

decode_result decode_incremental(const std::map<std::string, std::string>& before_data,
                                 const decode_result& before,
                                 const std::map<std::string, std::string>& now) {
  // Problems are reported in full-decode terms; keep that path for anything unusual.
  if (!before.problems.empty())
    return decode(now);
  auto affected = affected_nodes(before_data, now);
  if (!affected)
    return decode(now);
  if (affected->empty())
    return before; // only foreign keys changed
  auto decoded = decode(keys_of(now, *affected));
  if (!decoded.problems.empty())
    return decode(now);
  return splice(before, std::move(decoded), *affected);
}

} // namespace kcr::kube
