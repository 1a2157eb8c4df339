// The ConfigMap contract (docs/configmap-format.md): encodes the published state into the
// seed-compatible `data` keys, decodes it back (restart, tunnel side), and merges it into a
// ConfigMap that may also hold keys of other owners. Pure logic: no I/O.
//
// Keys written (own keys), <ip> being the node's underlay IP with ':' written as '_' (ConfigMap
// keys must match [-._a-zA-Z0-9]+), values always keep ':':
//   EndpointIP          the device's overlay IP
//   Type                VXLAN | IPIP | NONE (route-only: no tunnel, no Mac- keys)
//   Network, VNID, Port, RemoteVTEP   additive, only when set
//   RemoteVTEPs         additive: every device VTEP, comma-separated, only when there are several
//   Host-<uid>          node underlay IP
//   Interface-<ip>      node overlay IP
//   Mac-<ip>            tunnel MAC (VXLAN only)
//   CNI-<ip>            first host of each pod CIDR with its prefix, comma-separated
//   Name-<ip>           node name (additive: lets a restart map entries back to nodes)
//   Node-<ip>           node underlay IP, written last: its presence marks the entry complete
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/ip.hpp"
#include "net/overlay_type.hpp"

namespace kcr::kube {

/// One node's published entry.
struct node_entry {
  std::string name; // Name-<ip>; empty: no Name- key (seed data has none)
  std::string uid;  // Host-<uid>; empty: no Host- key
  net::ip_address node_ip;
  net::ip_address overlay_ip;
  /// An explicit tunnel MAC. Empty means the MAC derived from the overlay IP
  /// (mac_address::from_overlay_ip), which is what this project always uses; decode() leaves it
  /// empty when the published MAC equals the derived one, so only foreign MACs show up here.
  std::optional<net::mac_address> mac;
  std::vector<net::cidr> pod_cidrs; // networks, e.g. 10.244.1.0/24

  /// The MAC to publish / to set on the interface: `mac`, else the derived one.
  net::mac_address effective_mac() const;

  bool operator==(const node_entry&) const = default;
};

/// Everything the ConfigMap publishes. Decoded entries are ordered by node_ip.
struct published_state {
  std::optional<net::ip_address> endpoint_ip;
  std::optional<net::overlay_type> type;
  std::optional<net::cidr> network;
  std::optional<uint32_t> vni;
  std::optional<uint16_t> port;
  std::optional<net::ip_address> remote_vtep;
  /// Every device VTEP (RemoteVTEPs), the first being remote_vtep; written when not empty, and
  /// the publisher fills it only when there are several devices.
  std::vector<net::ip_address> remote_vteps;
  std::vector<node_entry> entries;

  bool operator==(const published_state&) const = default;
};

/// What decode() found in a ConfigMap's data.
struct decode_result {
  published_state state; // complete, well-formed entries only
  /// Well-formed entries without a Node- key: a publish was interrupted or the key was removed.
  /// They carry what was readable (always node_ip and overlay_ip) and may be restored.
  std::vector<node_entry> partial;
  /// One line per malformed own value (or missing Interface-/CNI- key, Node- value that does not
  /// match its key, several Host- keys for one IP), naming the key and the value. The entry
  /// concerned is left out of `state` and `partial`; foreign keys are never reported.
  std::vector<std::string> problems;
};

/// The key suffix for a node IP: its text with ':' replaced by '_'.
std::string ip_key(const net::ip_address& ip);

/// The `CNI-` value for a list of pod CIDRs: "10.244.1.0/24" -> "10.244.1.1/24", comma-separated.
std::string cni_value(const std::vector<net::cidr>& pod_cidrs);

/// The keys of one entry in write order: Host-, Interface-, Mac- (VXLAN only), CNI-, Name-, and
/// Node- last. Host- and Name- are left out when uid / name are empty.
std::vector<std::pair<std::string, std::string>> encode_entry(const node_entry& entry,
                                                              net::overlay_type type);

/// All own keys of `state` (the entry keys use `state.type`, VXLAN when unset). Entries must have
/// distinct node IPs.
std::map<std::string, std::string> encode(const published_state& state);

/// True for keys this project owns: the fixed keys above and the Host-/Interface-/Mac-/CNI-/
/// Name-/Node- families.
bool is_own_key(std::string_view key);

/// The data to write: every foreign key of `current_data` untouched, own keys exactly
/// `desired_own` (stale own keys dropped, changed values replaced).
std::map<std::string, std::string> merge(const std::map<std::string, std::string>& current_data,
                                         const std::map<std::string, std::string>& desired_own);

/// Reads a ConfigMap's data. decode(encode(x)).state == x for any x whose entries are sorted by
/// node_ip, have distinct node IPs, network-form pod CIDRs, and `mac` empty or not derived (and
/// empty for IPIP, which publishes no MAC).
decode_result decode(const std::map<std::string, std::string>& data);

/// decode(now), reusing `before` — the decode of `before_data` — for every node whose keys did
/// not change: one pass over both maps plus work proportional to the change (a watcher of a
/// 5000-node ConfigMap sees one node change at a time). Falls back to decode(now) when a fixed
/// key changed, when much changed, or when either side has problems to report.
decode_result decode_incremental(const std::map<std::string, std::string>& before_data,
                                 const decode_result& before,
                                 const std::map<std::string, std::string>& now);

std::ostream& operator<<(std::ostream& os, const node_entry& x);
std::ostream& operator<<(std::ostream& os, const published_state& x);

} // namespace kcr::kube
