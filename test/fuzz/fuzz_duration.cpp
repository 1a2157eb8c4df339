// app/duration: parse_duration on any text never crashes or overflows, and whatever it accepts
// formats to a spelling that parses back to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "app/duration.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto d = kcr::app::parse_duration(text);
  if (!d)
    return 0;
  if (d->count() < 0)
    std::abort(); // only non-negative periods exist
  auto back = kcr::app::parse_duration(kcr::app::format_duration(*d));
  if (!back || *back != *d)
    std::abort();
  return 0;
}
