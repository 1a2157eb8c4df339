// kube-chorus-router entry point: parse and validate the command line, then run.
#include <csignal>
#include <cstdio>
#include <malloc.h>
#include <string_view>

#include "app/controller.hpp"
#include "app/logging.hpp"
#include "app/options.hpp"
#include "app/render_cli.hpp"

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view{argv[1]} == "render")
    return kcr::app::render_main(argc - 1, argv + 1);
  auto cl = kcr::app::parse_command_line(argc, argv);
  if (cl.exit_now) {
    if (!cl.out.empty())
      std::fputs(cl.out.c_str(), stdout);
    if (!cl.err.empty())
      std::fprintf(stderr, "kube-chorus-router: %s\n", cl.err.c_str());
    return cl.exit_code;
  }
  // Messages are allocated on one thread and freed on another; with glibc's default of one arena
  // per thread that fragments into twice the memory actually in use (measured: 100 -> 62 MiB at
  // 5000 nodes with one arena, no measurable cost in speed).
  mallopt(M_ARENA_MAX, 1);
  kcr::app::setup_logging(cl.opts.log_format, cl.opts.log_level);
  if (cl.opts.cleanup_config)
    return kcr::app::run_cleanup(cl.opts);
  // Every thread started from here on inherits the mask; main waits for them with sigwait.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return kcr::app::run_controller(cl.opts);
}
