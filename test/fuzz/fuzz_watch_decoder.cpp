// kube/watch_decoder on any watch body cut into any chunks. The first input byte says how many
// cuts (0-15), the next that many bytes are the chunk lengths; the rest is the body. The body fed
// in those chunks must give exactly the events (and the error, if any) that it gives fed whole:
// events are framed by JSON, never by the HTTP chunking.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "kube/api_error.hpp"
#include "kube/watch_decoder.hpp"

namespace {

struct outcome {
  std::vector<std::string> events; // type, resourceVersion and the serialised object
  bool failed = false;
  bool mid_event = false;
};

outcome decode(std::string_view body, const std::vector<size_t>& cuts) {
  outcome out;
  kcr::kube::watch_decoder dec;
  auto on_event = [&](kcr::kube::watch_event&& ev) {
    // Exercise the accessors the reflector uses on every event.
    auto line = std::string{kcr::kube::to_string(ev.type)} + " " + ev.resource_version() + " " +
                std::to_string(ev.status_code()) + ev.status_reason() + ev.status_message() +
                (ev.is_expired() ? " expired" : "") + (ev.initial_events_end() ? " end" : "") +
                " " + boost::json::serialize(ev.object);
    out.events.push_back(std::move(line));
  };
  try {
    size_t at = 0;
    for (size_t len : cuts) {
      len = std::min(len, body.size() - at);
      dec.feed(body.substr(at, len), on_event);
      at += len;
    }
    dec.feed(body.substr(at), on_event);
    out.mid_event = dec.mid_event();
  } catch (const kcr::kube::transport_error&) {
    out.failed = true;
  }
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  size_t ncuts = data[0] % 16;
  if (size < 1 + ncuts)
    return 0;
  std::vector<size_t> cuts(data + 1, data + 1 + ncuts);
  std::string_view body{reinterpret_cast<const char*>(data + 1 + ncuts), size - 1 - ncuts};
  auto whole = decode(body, {});
  auto chunked = decode(body, cuts);
  if (whole.events != chunked.events || whole.failed != chunked.failed ||
      whole.mid_event != chunked.mid_event) {
    std::fprintf(stderr,
                 "watch_decoder: chunking changed the result: %zu vs %zu events, %s vs %s\n",
                 whole.events.size(), chunked.events.size(), whole.failed ? "error" : "ok",
                 chunked.failed ? "error" : "ok");
    std::abort();
  }
  return 0;
}
