// Command-line parsing (CLI11): flags in options_flags.cpp, validation of every setting before
// anything runs in options_checks.cpp. Here: the program's description, the argv quirks and the
// mapping of every outcome to an exit code.
#include "app/options.hpp"

#include <algorithm>
#include <cstdlib>
#include <tuple>
#include <vector>

#include "app/options_raw.hpp"
#include "app/version.hpp"

namespace kcr::app {

namespace {

void describe_program(CLI::App& cli) {
  cli.set_version_flag("--version", version_line());
  cli.footer("Subcommands:\n"
             "  render      device configuration (NetScaler, BIG-IP, Linux) from the published "
             "ConfigMap;\n"
             "              kube-chorus-router render --help");
  cli.get_formatter()->column_width(40);
}

// argv without the program name, in the reverse order CLI11 takes a vector in.
std::vector<std::string> cli_args(int argc, const char* const* argv) {
  // "--health-addr=" (an empty value after '=') means "disabled"; CLI11 would take the next
  // argument as the value instead, so spell it as the flag followed by an empty argument.
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() > 3 && a.starts_with("--") && a.back() == '=') {
      args.push_back(a.substr(0, a.size() - 1));
      args.emplace_back();
    } else {
      args.push_back(std::move(a));
    }
  }
  std::reverse(args.begin(), args.end());
  return args;
}

// An empty environment variable disables an endpoint too (CLI11 skips empty values).
void apply_empty_endpoint_env(CLI::App& cli, options& o) {
  for (auto [flag, env, target] :
       {std::tuple{"--health-addr", "KCR_HEALTH_ADDR", &o.health_addr},
        std::tuple{"--metrics-addr", "KCR_METRICS_ADDR", &o.metrics_addr}}) {
    const char* v = std::getenv(env);
    if (cli.get_option(flag)->count() == 0 && v && *v == '\0')
      target->clear();
  }
}

void usage_failure(command_line& result, std::string message) {
  result.exit_now = true;
  result.exit_code = 2;
  result.err = std::move(message);
}

} // namespace

command_line parse_command_line(int argc, const char* const* argv) {
  command_line result;
  detail::raw_flags raw;
  CLI::App cli{
      "kube-chorus-router: makes pod networks reachable from external ingress devices through "
      "VXLAN/IPIP tunnels and publishes the routes in a ConfigMap.",
      "kube-chorus-router"};
  describe_program(cli);
  detail::add_flags(cli, result.opts, raw);
  try {
    cli.parse(cli_args(argc, argv));
    apply_empty_endpoint_env(cli, result.opts);
    detail::validate(raw, result.opts);
  } catch (const CLI::CallForHelp&) {
    result.exit_now = true;
    result.out = cli.help();
  } catch (const CLI::CallForVersion&) {
    result.exit_now = true;
    result.out = version_line() + "\n";
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    usage_failure(result, msg + " (see --help)");
  } catch (const detail::usage_error& e) {
    usage_failure(result, e.what());
  }
  return result;
}

} // namespace kcr::app
