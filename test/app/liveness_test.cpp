// Liveness vs readiness: health_registry keeps the two apart, and the liveness prober turns
// "the actor answers" into /healthz lines, so that a stuck actor (a deadlock) fails liveness while
// stale API work (expect/beat) fails readiness only. Real actor system, short periods.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <boost/test/unit_test.hpp>
#include <caf/all.hpp>

#include "actors/messages.hpp"
#include "app/liveness.hpp"

using namespace kcr;
using namespace std::chrono_literals;

namespace {

using block_atom = caf::atom_constant<caf::atom("block")>;

// A gate a stuck actor waits on; opened by the test (or at the end, so the system can stop).
struct gate {
  std::mutex m;
  std::condition_variable cv;
  bool open = false;
  void wait() {
    std::unique_lock l{m};
    cv.wait(l, [this] { return open; });
  }
  void release() {
    {
      std::lock_guard l{m};
      open = true;
    }
    cv.notify_all();
  }
};

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred())
      return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

bool has(const std::string& text, const std::string& s) {
  return text.find(s) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(health_registry_suite)

// Work freshness (expect/beat) and conditions are readiness; only loops are liveness.
BOOST_AUTO_TEST_CASE(stale_work_fails_readiness_not_liveness) {
  actors::health_registry h;
  h.expect("leader_elector", 50ms);
  h.expect_alive("leader_elector", 10s);
  h.alive("leader_elector");
  std::this_thread::sleep_for(80ms); // no successful Lease call for longer than allowed
  auto live = h.healthz();
  auto ready = h.readyz();
  BOOST_TEST(live.ok, live.text);
  BOOST_TEST(has(live.text, "[+]leader_elector last answer "), live.text);
  BOOST_TEST(!ready.ok, ready.text);
  BOOST_TEST(has(ready.text, "[-]leader_elector no sync yet, "), ready.text);
  BOOST_TEST(has(ready.text, ": stale\n"), ready.text);
  h.beat("leader_elector");
  BOOST_TEST(h.readyz().ok, h.readyz().text);
  h.set_ready("tunnel rp_filter not strict", false, "on the node run: sysctl -w x=2");
  BOOST_TEST(
      has(h.readyz().text, "[-]tunnel rp_filter not strict: on the node run: sysctl -w x=2\n"));
  BOOST_TEST(h.healthz().ok);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(liveness_prober_suite)

// One actor answers, one is stuck in a handler, one answers a tunnel status: /healthz
// names the stuck one as stale and turns green once it answers again.
BOOST_AUTO_TEST_CASE(a_stuck_actor_fails_liveness_the_others_do_not) {
  caf::actor_system_config cfg;
  cfg.set("logger.verbosity", caf::atom("quiet"));
  cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{cfg};
  auto tel = std::make_shared<actors::telemetry>();
  auto g = std::make_shared<gate>();
  auto good = sys.spawn([] { return caf::behavior{[](int) {}}; });
  auto stuck =
      sys.spawn<caf::detached>([g] { return caf::behavior{[g](block_atom) { g->wait(); }}; });
  auto status = sys.spawn(
      [] { return caf::behavior{[](actors::status_atom) { return actors::tunnel_status{}; }}; });
  app::liveness_settings s;
  s.period = 50ms;
  s.allowance = 400ms;
  auto prober = app::spawn_liveness_prober(
      sys, tel,
      {{"good", good}, {"stuck", stuck}, {"tunnel", status, true}, {"absent", caf::actor{}}}, s);
  BOOST_TEST(
      wait_until([&] { return has(tel->health.healthz().text, "[+]tunnel last answer"); }, 2s),
      tel->health.healthz().text);
  BOOST_TEST(tel->health.healthz().ok, tel->health.healthz().text);
  caf::anon_send(stuck, block_atom::value); // the "deadlock"
  BOOST_TEST(wait_until([&] { return !tel->health.healthz().ok; }, 3s), tel->health.healthz().text);
  auto text = tel->health.healthz().text;
  BOOST_TEST(has(text, "[-]stuck last answer "), text);
  BOOST_TEST(has(text, ": stale\n"), text);
  BOOST_TEST(has(text, "[+]good last answer "), text);
  BOOST_TEST(has(text, "[+]tunnel last answer "), text);
  BOOST_TEST(!has(text, "absent"), text); // a role that is off is not watched
  g->release();
  BOOST_TEST(wait_until([&] { return tel->health.healthz().ok; }, 3s), tel->health.healthz().text);
  for (const auto& a : {good, stuck, status, prober})
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
