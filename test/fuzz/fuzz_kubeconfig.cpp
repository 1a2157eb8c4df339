// kube/client_config: load_kubeconfig on any file text (parsing only: no connection is made).
// The result is a client_config or a config_error naming the file; any other exception, or a
// crash, is a finding. The fuzzer must not run programs or read the machine's files, so inputs
// whose YAML has an `exec` key, or a file reference (certificate-authority, client-certificate,
// client-key, tokenFile) with a '/', are skipped; relative names resolve in a private empty
// directory. PATH points nowhere as a second guard against exec plugins.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <unistd.h>

#include <yaml-cpp/yaml.h>

#include "kube/client_config.hpp"

namespace {

bool file_key(const std::string& k) {
  return k == "certificate-authority" || k == "client-certificate" || k == "client-key" ||
         k == "tokenFile";
}

// False when the tree could make load_kubeconfig run a program or read a file outside `dir`.
bool safe(const YAML::Node& n, int depth) {
  if (depth > 64)
    return false;
  if (n.IsSequence()) {
    for (const auto& item : n)
      if (!safe(item, depth + 1))
        return false;
  } else if (n.IsMap()) {
    for (const auto& kv : n) {
      if (kv.first.IsScalar()) {
        const auto& k = kv.first.Scalar();
        if (k == "exec")
          return false;
        if (file_key(k) &&
            (!kv.second.IsScalar() || kv.second.Scalar().find('/') != std::string::npos))
          return false;
      }
      if (!safe(kv.first, depth + 1) || !safe(kv.second, depth + 1))
        return false;
    }
  }
  return true;
}

const std::string& kubeconfig_path() {
  static const std::string path = [] {
    ::setenv("PATH", "/nonexistent", 1);
    char dir[] = "/tmp/kcr-fuzz-kubeconfig-XXXXXX";
    if (!::mkdtemp(dir))
      std::abort();
    static std::string made{dir};
    std::atexit([] {
      ::unlink((made + "/kubeconfig").c_str());
      ::rmdir(made.c_str());
    });
    return made + "/kubeconfig";
  }();
  return path;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text{reinterpret_cast<const char*>(data), size};
  try {
    if (!safe(YAML::Load(text), 0))
      return 0;
  } catch (const YAML::Exception&) {
    // Not YAML: load_kubeconfig must say so itself (below).
  }
  const auto& path = kubeconfig_path();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  try {
    auto cfg = kcr::kube::load_kubeconfig({path});
    if (cfg.server.host.empty() || cfg.server.port.empty())
      std::abort();
  } catch (const kcr::kube::config_error& e) {
    if (std::strstr(e.what(), path.c_str()) == nullptr &&
        std::strstr(e.what(), "cluster") == nullptr) {
      std::fprintf(stderr, "config_error names neither the file nor the cluster: %s\n", e.what());
      std::abort();
    }
  }
  return 0;
}
