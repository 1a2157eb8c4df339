// The `kube-chorus-router render` subcommand: reads the published ConfigMap from a JSON file
// (`-f`) or through the API, and prints the device configuration (app/render.hpp) or, with
// `--diff OLD.json`, only what changed. Exit status: 0 done, 1 the API could not be read,
// 2 bad input (flags, an unreadable or invalid file, a ConfigMap without EndpointIP), with one
// line on stderr.
#pragma once

#include <iosfwd>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

namespace kcr::app {

/// Bad input to `render`: the message is one line naming the input and what was expected.
struct render_input_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The `data` of a ConfigMap given as JSON text: a whole ConfigMap as `kubectl get cm -o json`
/// prints it (no `data`: empty), or a bare data object. Every value must be a string.
/// Throws render_input_error ("not JSON: ...", "expected a ConfigMap ...").
std::map<std::string, std::string> configmap_data_from_json(std::string_view text);

/// Runs the subcommand; argv[0] is "render". Commands go to `out`, warnings and errors to `err`.
int run_render(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

/// run_render on std::cout / std::cerr (what main() dispatches to).
int render_main(int argc, const char* const* argv);

} // namespace kcr::app
