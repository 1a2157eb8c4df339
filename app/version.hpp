// The version and the git revision this binary was built from (`--version`, the start-up log
// line, the build_info metric). The version's one source is `project(... VERSION)` in
// CMakeLists.txt; the revision is read by CMake at configure time (app/version.cpp.in).
#pragma once

#include <string>

namespace kcr::app {

/// "0.1.0"
const char* version();
/// "3f2a9c1d0b7e", with "-dirty" when the tree had uncommitted changes; "unknown" outside git.
const char* git_revision();
/// "kube-chorus-router 0.1.0 (git 3f2a9c1d0b7e)"
std::string version_line();

} // namespace kcr::app
