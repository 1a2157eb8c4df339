// `kube-chorus-router render`: flags, reading the ConfigMap (file or API), printing (see
// render_cli.hpp).
#include "app/render_cli.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "app/cluster_flags.hpp"
#include "app/flag_values.hpp"
#include "app/render.hpp"
#include "kube/api_client.hpp"
#include "kube/client_config.hpp"
#include "kube/configmap_codec.hpp"

namespace kcr::app {

namespace {

constexpr const char* prog = "kube-chorus-router render";

// What the API path failed with: not the user's input, so exit 1.
struct api_path_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct raw_flags {
  std::string target = "linux";
  std::string file;
  std::string diff;
  std::string kubeconfig;
  std::string master;
  std::string configmap_name = "kube-chorus-router";
  std::string configmap_namespace = "kube-system";
  std::string local_ip;
  std::string vni;
  std::string port;
  std::string device_interface = "kcrdev0";
  std::string underlay_dev;
  std::string device_mac;
};

[[noreturn]] void bad_flag(const std::string& flag, const std::string& value,
                           const std::string& expected) {
  throw render_input_error(invalid_value(flag, value, expected));
}

uint32_t parse_number(const std::string& flag, const std::string& value, uint32_t lo, uint32_t hi,
                      const std::string& what) {
  auto n = integer_in(value, lo, hi);
  if (!n)
    bad_flag(flag, value, what);
  return static_cast<uint32_t>(*n);
}

render_options validate(const raw_flags& raw) {
  render_options o;
  auto t = parse_render_target(raw.target);
  if (!t)
    bad_flag("--target", raw.target, "linux, netscaler or bigip");
  o.target = *t;
  o.device_interface = raw.device_interface;
  o.underlay_dev = raw.underlay_dev;
  if (!raw.local_ip.empty()) {
    o.local_ip = net::ip_address::parse(raw.local_ip);
    if (!o.local_ip)
      bad_flag("--local-ip", raw.local_ip, "an IP address like 192.0.2.10");
  }
  if (!raw.vni.empty())
    o.vni = parse_number("--vni", raw.vni, 1, 16777215, "a VXLAN network identifier 1..16777215");
  if (!raw.port.empty())
    o.port = static_cast<uint16_t>(
        parse_number("--vxlan-port", raw.port, 1, 65535, "a UDP port 1..65535"));
  if (!raw.device_mac.empty()) {
    o.device_mac = net::mac_address::parse(raw.device_mac);
    if (!o.device_mac)
      bad_flag("--device-mac", raw.device_mac, "a MAC address like 02:42:c6:33:64:01");
  }
  if (raw.configmap_name.empty() || raw.configmap_namespace.empty())
    throw render_input_error("--configmap-name and --configmap-namespace must not be empty");
  return o;
}

std::map<std::string, std::string> data_of(const boost::json::object& data) {
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : data) {
    if (!value.is_string())
      throw render_input_error("data key \"" + std::string{key} +
                               "\": expected a string value, got " +
                               boost::json::serialize(value).substr(0, 40));
    out.emplace(std::string{key}, std::string{value.get_string()});
  }
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in;
  std::istream* is = &std::cin;
  if (path != "-") {
    in.open(path, std::ios::binary);
    if (!in)
      throw render_input_error(path + ": cannot read: " + std::strerror(errno));
    is = &in;
  }
  std::string text{std::istreambuf_iterator<char>(*is), std::istreambuf_iterator<char>()};
  if (is->bad())
    throw render_input_error(path + ": cannot read: " + std::strerror(errno));
  return text;
}

std::map<std::string, std::string> data_from_file(const std::string& path) {
  try {
    return configmap_data_from_json(read_file(path));
  } catch (const render_input_error& e) {
    std::string msg = e.what();
    if (msg.starts_with(path + ":"))
      throw;
    throw render_input_error((path == "-" ? std::string{"stdin"} : path) + ": " + msg);
  }
}

std::map<std::string, std::string> data_from_api(const raw_flags& raw) {
  std::shared_ptr<const kube::client_config> cfg;
  try {
    kube::config_options co;
    co.kubeconfig = raw.kubeconfig; // empty: $KUBECONFIG (':'-separated), in-cluster, ~/.kube
    co.master = raw.master;
    auto c = kube::load_client_config(co);
    c.validate();
    cfg = std::make_shared<const kube::client_config>(std::move(c));
  } catch (const std::exception& e) {
    throw render_input_error(e.what());
  }
  auto where = "configmap " + raw.configmap_namespace + "/" + raw.configmap_name;
  auto server = cfg->server.to_string();
  auto cm = kube::api_result<boost::json::object>(kube::api_failure::no_answer(""));
  try {
    kube::api_client client{cfg}; // throws config_error for unusable TLS material
    cm = client.get_configmap(raw.configmap_namespace, raw.configmap_name);
  } catch (const std::exception& e) {
    throw api_path_error(where + ": " + server + ": " + e.what());
  }
  if (!cm) {
    const auto& f = cm.error();
    if (f.is_not_found())
      throw api_path_error(where + " not found on " + server);
    if (!f.is_answer())
      throw api_path_error(where + ": " + server + ": " + f.what());
    throw api_path_error(where + ": " + f.what() + (f.is_forbidden() ? "; " + f.rbac_hint() : ""));
  }
  auto* data = cm->if_contains("data");
  if (data == nullptr || data->is_null())
    return {};
  if (!data->is_object())
    throw api_path_error(where + ": data is not an object");
  try {
    return data_of(data->get_object());
  } catch (const render_input_error& e) {
    throw api_path_error(where + ": " + e.what());
  } catch (const std::exception& e) {
    throw api_path_error(where + ": " + server + ": " + e.what());
  }
}

// Decodes a ConfigMap. A bad fixed key (EndpointIP, Type, VNID, ...) is fatal: rendering with a
// default instead would configure the device wrongly. A bad or half-written node entry is only
// left out, like the tunnel side does.
kube::published_state decode_state(const std::map<std::string, std::string>& data,
                                   const std::string& source, std::ostream& err) {
  auto r = kube::decode(data);
  static constexpr std::array fixed{
      "EndpointIP: ", "Type: ", "Network: ", "VNID: ", "Port: ", "RemoteVTEP: ", "RemoteVTEPs: "};
  for (const auto& p : r.problems) {
    bool is_fixed =
        std::any_of(fixed.begin(), fixed.end(), [&](const char* k) { return p.starts_with(k); });
    if (is_fixed)
      throw render_input_error(source + ": " + p);
    err << prog << ": warning: " << source << ": " << p << " (entry left out)\n";
  }
  for (const auto& e : r.partial)
    err << prog << ": warning: " << source << ": node " << e.node_ip
        << " has no Node- key yet (entry incomplete): left out\n";
  if (!r.state.endpoint_ip)
    throw render_input_error(source +
                             ": the ConfigMap has no EndpointIP: expected the device's overlay IP");
  return r.state;
}

int run(const raw_flags& raw, std::ostream& out, std::ostream& err) {
  auto opts = validate(raw);
  std::string new_source = raw.file.empty()
                               ? "configmap " + raw.configmap_namespace + "/" + raw.configmap_name
                               : (raw.file == "-" ? "stdin" : raw.file);
  if (!raw.diff.empty() && raw.diff == "-" && raw.file == "-")
    throw render_input_error("--diff and -f cannot both read stdin");
  std::optional<kube::published_state> old_state;
  if (!raw.diff.empty())
    old_state = decode_state(data_from_file(raw.diff), raw.diff, err);
  auto data = raw.file.empty() ? data_from_api(raw) : data_from_file(raw.file);
  auto new_state = decode_state(data, new_source, err);

  rendered r;
  try {
    r = old_state ? render_diff(*old_state, new_state, opts) : render(new_state, opts);
  } catch (const render_error& e) {
    throw render_input_error(e.what());
  }
  for (const auto& w : r.warnings)
    err << prog << ": warning: " << w << "\n";
  for (const auto& c : r.commands)
    out << c << "\n";
  out.flush();
  return 0;
}

// The subcommand's flags, in --help order.
void add_render_flags(CLI::App& cli, raw_flags& raw) {
  cli.add_option("-t,--target", raw.target, "linux, netscaler or bigip")
      ->default_str("linux")
      ->type_name("TARGET");
  cli.add_option("-f,--file", raw.file,
                 "ConfigMap JSON (kubectl get cm -o json, or its data object; - for stdin) "
                 "instead of the API")
      ->type_name("FILE");
  cli.add_option("--diff", raw.diff,
                 "Print only the changes from this older ConfigMap JSON to the current one")
      ->type_name("OLD");
  auto* g = "Cluster access (without -f)";
  add_cluster_access_flags(cli, raw.kubeconfig, raw.master, g);
  add_configmap_flags(cli, raw.configmap_name, raw.configmap_namespace, g);
  g = "Device";
  cli.add_option("--local-ip", raw.local_ip,
                 "The device's underlay IP; default the ConfigMap's RemoteVTEP (required when "
                 "RemoteVTEPs lists several devices: one of them)")
      ->type_name("IP")
      ->group(g);
  cli.add_option("--vni", raw.vni, "VXLAN identifier; default the ConfigMap's VNID, else 1")
      ->type_name("N")
      ->group(g);
  cli.add_option("--vxlan-port", raw.port,
                 "VXLAN UDP port; default the ConfigMap's Port, else 4789")
      ->type_name("PORT")
      ->group(g);
  cli.add_option("--device-interface", raw.device_interface, "linux: the tunnel interface")
      ->capture_default_str()
      ->type_name("NAME")
      ->group(g);
  cli.add_option("--underlay-dev", raw.underlay_dev, "linux: bind the tunnel to this interface")
      ->type_name("NAME")
      ->group(g);
  cli.add_option("--device-mac", raw.device_mac,
                 "linux, VXLAN: the tunnel interface's MAC (the nodes' --remote-vtep-mac)")
      ->type_name("MAC")
      ->group(g);
}

} // namespace

std::map<std::string, std::string> configmap_data_from_json(std::string_view text) {
  boost::json::error_code ec;
  auto value = boost::json::parse(text, ec);
  if (ec)
    throw render_input_error("not JSON: " + ec.message());
  if (!value.is_object())
    throw render_input_error("expected a ConfigMap object or its data object, got " +
                             std::string{value.is_array() ? "an array" : "a scalar"});
  const auto& obj = value.get_object();
  bool whole = obj.contains("kind") || obj.contains("apiVersion") || obj.contains("metadata") ||
               obj.contains("data");
  if (!whole)
    return data_of(obj);
  if (auto* kind = obj.if_contains("kind");
      kind != nullptr && !(kind->is_string() && kind->get_string() == "ConfigMap"))
    throw render_input_error("expected kind ConfigMap, got " + boost::json::serialize(*kind));
  auto* data = obj.if_contains("data");
  if (data == nullptr || data->is_null())
    return {};
  if (!data->is_object())
    throw render_input_error("the ConfigMap's data is not an object");
  return data_of(data->get_object());
}

int run_render(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  raw_flags raw;
  CLI::App cli{"Prints the device-side configuration for the published ConfigMap: ip/bridge "
               "commands (linux), the Citrix ADC CLI (netscaler) or tmsh (bigip). With --diff, "
               "only what to remove and add to go from OLD to the current ConfigMap.",
               prog};
  cli.get_formatter()->column_width(36);
  add_render_flags(cli, raw);
  try {
    cli.parse(argc, argv);
    return run(raw, out, err);
  } catch (const CLI::CallForHelp&) {
    out << cli.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    err << prog << ": " << msg << " (see --help)\n";
    return 2;
  } catch (const render_input_error& e) {
    err << prog << ": " << e.what() << "\n";
    return 2;
  } catch (const api_path_error& e) {
    err << prog << ": " << e.what() << "\n";
    return 1;
  }
}

int render_main(int argc, const char* const* argv) {
  return run_render(argc, argv, std::cout, std::cerr);
}

} // namespace kcr::app
