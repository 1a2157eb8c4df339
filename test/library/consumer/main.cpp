// Calls create() or remove() and prints the outcome: the seed's library use.
#include <cstdio>
#include <cstring>
#include <kube-chorus-router/kube_chorus_router.hpp>

int main(int argc, char** argv) {
  if (argc != 2 || (std::strcmp(argv[1], "create") != 0 && std::strcmp(argv[1], "remove") != 0)) {
    std::fprintf(stderr, "usage: kcr_consumer create|remove\n");
    return 2;
  }
  auto r = std::strcmp(argv[1], "create") == 0 ? kcr::create() : kcr::remove();
  std::printf("%s: %s\n", r.ok ? "ok" : "error", r.message.c_str());
  for (const auto& c : r.changes)
    std::printf("  %s\n", c.c_str());
  return r.ok ? 0 : 1;
}
