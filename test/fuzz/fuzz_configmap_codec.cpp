// kube/configmap_codec on any ConfigMap data. The input is `key=value` lines; a line "---" splits
// it into the data before and after an edit (without one, "before" is the data less its middle
// key). Checked, besides the absence of crashes:
//   - encode/decode round trip: decode(encode(decode(d).state)).state == decode(d).state
//     (the MACs dropped for IPIP first: it publishes none, see configmap_codec.hpp);
//   - merge keeps foreign keys and replaces own ones: decode(merge(d, encode(s))).state == s;
//   - decode_incremental(before, decode(before), now) == decode(now), problems included.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "kube/configmap_codec.hpp"

namespace {

using data_map = std::map<std::string, std::string>;
using kcr::kube::decode_result;

data_map parse_lines(std::string_view text) {
  data_map m;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    auto eq = line.find('=');
    if (eq == std::string_view::npos)
      continue;
    m.insert_or_assign(std::string{line.substr(0, eq)}, std::string{line.substr(eq + 1)});
  }
  return m;
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_configmap_codec: %s\n", what);
  std::abort();
}

void check_round_trip(const data_map& d) {
  auto state = kcr::kube::decode(d).state;
  if (state.type && *state.type != kcr::net::overlay_type::vxlan)
    for (auto& e : state.entries)
      e.mac.reset();
  auto encoded = kcr::kube::encode(state);
  for (const auto& [k, v] : encoded)
    if (!kcr::kube::is_own_key(k))
      fail("encode wrote a key is_own_key() does not claim");
  if (!(kcr::kube::decode(encoded).state == state))
    fail("decode(encode(state)).state != state");
  auto merged = kcr::kube::merge(d, encoded);
  if (!(kcr::kube::decode(merged).state == state))
    fail("decode(merge(data, encode(state))).state != state");
  for (const auto& [k, v] : d)
    if (!kcr::kube::is_own_key(k) && merged.at(k) != v)
      fail("merge changed a foreign key");
}

void check_incremental(const data_map& before, const data_map& now) {
  auto full = kcr::kube::decode(now);
  auto inc = kcr::kube::decode_incremental(before, kcr::kube::decode(before), now);
  if (!(inc.state == full.state))
    fail("decode_incremental: state differs from decode");
  if (inc.partial != full.partial)
    fail("decode_incremental: partial entries differ from decode");
  if (inc.problems != full.problems)
    fail("decode_incremental: problems differ from decode");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto split = text.find("\n---\n");
  data_map now, before;
  if (split != std::string_view::npos) {
    before = parse_lines(text.substr(0, split));
    now = parse_lines(text.substr(split + 5));
  } else {
    now = parse_lines(text);
    before = now;
    if (!before.empty())
      before.erase(std::next(before.begin(), static_cast<long>(before.size() / 2)));
  }
  check_round_trip(now);
  check_incremental(before, now);
  return 0;
}
