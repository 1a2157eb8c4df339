// app/options: parse_command_line on any argv (the input split at '\0' bytes) never crashes and
// always gives either options or an exit status with its text. The environment fallbacks are
// left as the process has them (none of the variables is set in a fuzz run).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "app/options.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args{"kube-chorus-router"};
  std::string current;
  for (size_t i = 0; i < size && args.size() < 64; ++i) {
    if (data[i] == 0) {
      args.push_back(current);
      current.clear();
    } else {
      current.push_back(static_cast<char>(data[i]));
    }
  }
  if (!current.empty())
    args.push_back(current);
  std::vector<const char*> argv;
  for (const auto& a : args)
    argv.push_back(a.c_str());
  argv.push_back(nullptr);
  auto cl = kcr::app::parse_command_line(static_cast<int>(args.size()), argv.data());
  // A usage error is exit status 2 with one line saying why; help/version exit 0 with text.
  if (cl.exit_now && cl.exit_code != 0 && cl.err.empty())
    std::abort();
  if (cl.exit_now && cl.exit_code == 0 && cl.out.empty())
    std::abort();
  return 0;
}
