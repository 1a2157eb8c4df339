// Watch body framing: events split at every byte, coalesced, byte by byte, and bad input.
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <boost/test/unit_test.hpp>

#include "kube/api_error.hpp"
#include "kube/watch_decoder.hpp"

namespace json = boost::json;
using namespace kcr::kube;

namespace {

// A real-sized Node (> 4 KiB): from test/kube/data/large-node.json if present, else built here.
json::object large_node() {
  const char* src = std::getenv("KCR_SOURCE_DIR");
  if (src) {
    std::ifstream in(std::string(src) + "/test/kube/data/large-node.json");
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      auto v = json::parse(ss.str());
      if (v.is_object() && json::serialize(v).size() > 4096)
        return v.get_object();
    }
  }
  json::object labels, ann;
  for (int i = 0; i < 60; ++i) {
    labels["example.com/label-" + std::to_string(i)] = "value-" + std::to_string(i * 7919);
    ann["example.com/annotation-" + std::to_string(i)] = std::string(40, 'a' + i % 26);
  }
  return json::object{
      {"kind", "Node"},
      {"apiVersion", "v1"},
      {"metadata",
       {{"name", "node-0001"},
        {"resourceVersion", "4866"},
        {"labels", labels},
        {"annotations", ann}}},
      {"spec", {{"podCIDR", "10.42.0.0/24"}, {"podCIDRs", json::array{"10.42.0.0/24"}}}},
      {"status",
       {{"addresses", json::array{json::object{{"type", "InternalIP"}, {"address", "198.18.0.1"}},
                                  json::object{{"type", "Hostname"}, {"address", "node-0001"}}}}}}};
}

std::string event_text(const char* type, const json::object& obj) {
  return json::serialize(json::object{{"type", type}, {"object", obj}}) + "\n";
}

std::vector<watch_event> feed_all(watch_decoder& d, const std::vector<std::string_view>& parts) {
  std::vector<watch_event> out;
  for (auto p : parts)
    d.feed(p, [&](watch_event&& e) { out.push_back(std::move(e)); });
  return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(large_event_split_at_every_byte) {
  auto node = large_node();
  std::string text = event_text("MODIFIED", node);
  BOOST_TEST_REQUIRE(text.size() > 4096u);
  for (std::size_t cut = 0; cut <= text.size(); ++cut) {
    watch_decoder d;
    std::string_view all(text);
    auto first = feed_all(d, {all.substr(0, cut)});
    // Nothing may come out before the last byte of the object arrived.
    if (cut < text.size() - 1)
      BOOST_TEST_REQUIRE(first.empty());
    auto rest = feed_all(d, {all.substr(cut)});
    first.insert(first.end(), std::make_move_iterator(rest.begin()),
                 std::make_move_iterator(rest.end()));
    BOOST_TEST_REQUIRE(first.size() == 1u, "cut at " << cut);
    BOOST_TEST_REQUIRE((first[0].type == watch_event_type::modified));
    BOOST_TEST_REQUIRE((first[0].object == node), "cut at " << cut);
    BOOST_TEST_REQUIRE(!d.mid_event());
  }
}

BOOST_AUTO_TEST_CASE(three_events_in_one_chunk_and_byte_by_byte) {
  auto node = large_node();
  node["metadata"].as_object()["resourceVersion"] = "4866";
  auto deleted = node;
  deleted["metadata"].as_object()["resourceVersion"] = "4870";
  json::object bookmark{
      {"kind", "Node"},
      {"apiVersion", "v1"},
      {"metadata",
       {{"resourceVersion", "4871"}, {"annotations", {{"k8s.io/initial-events-end", "true"}}}}}};
  std::string text = event_text("ADDED", node) + event_text("DELETED", deleted) + "\r\n  " +
                     event_text("BOOKMARK", bookmark);
  std::vector<std::vector<watch_event>> runs;
  {
    watch_decoder d;
    runs.push_back(feed_all(d, {text}));
  }
  {
    watch_decoder d;
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < text.size(); ++i)
      bytes.push_back(std::string_view(text).substr(i, 1));
    runs.push_back(feed_all(d, bytes));
  }
  for (auto& ev : runs) {
    BOOST_TEST_REQUIRE(ev.size() == 3u);
    BOOST_TEST((ev[0].type == watch_event_type::added));
    BOOST_TEST(ev[0].resource_version() == "4866");
    BOOST_TEST((ev[1].type == watch_event_type::deleted));
    BOOST_TEST(ev[1].resource_version() == "4870");
    BOOST_TEST((ev[2].type == watch_event_type::bookmark));
    BOOST_TEST(ev[2].resource_version() == "4871");
    BOOST_TEST(ev[2].initial_events_end());
    BOOST_TEST(!ev[0].initial_events_end());
  }
}

BOOST_AUTO_TEST_CASE(error_events) {
  struct row {
    const char* text;
    int code;
    const char* reason;
    bool expired;
  };
  row rows[] = {
      {R"J({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410}})J",
       410, "Expired", true},
      {R"J({"type":"ERROR","object":{"kind":"Status","status":"Failure","reason":"Gone","code":410}})J",
       410, "Gone", true},
      {R"J({"type":"ERROR","object":{"kind":"Status","status":"Failure","reason":"InternalError","message":"boom","code":500}})J",
       500, "InternalError", false},
  };
  for (const auto& r : rows) {
    watch_decoder d;
    auto ev = feed_all(d, {r.text});
    BOOST_TEST_REQUIRE(ev.size() == 1u);
    BOOST_TEST((ev[0].type == watch_event_type::error));
    BOOST_TEST(ev[0].status_code() == r.code);
    BOOST_TEST(ev[0].status_reason() == r.reason);
    BOOST_TEST(ev[0].is_expired() == r.expired);
  }
}

BOOST_AUTO_TEST_CASE(malformed_streams_throw) {
  const char* bad[] = {
      "{\"type\":\"ADDED\",\"object\":{}}}",   // stray brace after an event
      "[1,2]\n",                               // not an object
      "{\"type\":\"UPSERTED\",\"object\":{}}", // unknown type
      "{\"type\":\"ADDED\"}",                  // no object
      "{\"type\":\"ADDED\",\"object\":{\"a\":tru}}",
  };
  for (const char* text : bad) {
    watch_decoder d;
    BOOST_CHECK_THROW(feed_all(d, {text}), transport_error);
  }
}

BOOST_AUTO_TEST_CASE(partial_event_is_reported) {
  watch_decoder d;
  auto ev =
      feed_all(d, {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":\"1\"}}}\n"
                   "{\"type\":\"MODIFIED\",\"obj"});
  BOOST_TEST(ev.size() == 1u);
  BOOST_TEST(d.mid_event());
  d.reset();
  BOOST_TEST(!d.mid_event());
  ev = feed_all(d, {"{\"type\":\"DELETED\",\"object\":{}}"});
  BOOST_TEST(ev.size() == 1u);
  BOOST_TEST(d.events() == 2u);
}
