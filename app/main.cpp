// kube-chorus-router entry point: parse and validate the command line, then run.
#include <cstdio>

#include <spdlog/spdlog.h>

#include "app/logging.hpp"
#include "app/options.hpp"

int main(int argc, char** argv) {
  auto cl = kcr::app::parse_command_line(argc, argv);
  if (cl.exit_now) {
    if (!cl.out.empty())
      std::fputs(cl.out.c_str(), stdout);
    if (!cl.err.empty())
      std::fprintf(stderr, "kube-chorus-router: %s\n", cl.err.c_str());
    return cl.exit_code;
  }
  const auto& o = cl.opts;
  kcr::app::setup_logging(o.log_format, o.log_level);
  spdlog::info("kube-chorus-router {} overlay={} network={} endpoint={} remote-vtep={}",
               KCR_VERSION, kcr::net::flag_name(o.overlay_type), o.overlay_network.to_string(),
               o.endpoint_ip.to_string(), o.remote_vtep.to_string());
  spdlog::error("the controller is not wired yet (issue: actor system); settings are valid");
  return 1;
}
