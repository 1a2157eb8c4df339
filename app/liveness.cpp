#include "app/liveness.hpp"

#include <set>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/messages.hpp"

namespace kcr::app {

namespace {

using probe_atom = caf::atom_constant<caf::atom("liveprobe")>;

struct prober_state {
  static inline const char* name = "liveness_prober";
  std::shared_ptr<actors::telemetry> tel;
  std::vector<liveness_target> targets;
  liveness_settings settings;
  std::set<std::string> waiting; // asked, not answered yet: never more than one question each
};

void ask(caf::stateful_actor<prober_state>* self, const liveness_target& t) {
  auto& st = self->state;
  if (!t.handle || !st.waiting.insert(t.name).second)
    return;
  auto name = t.name;
  auto answered = [self, name] {
    self->state.waiting.erase(name);
    self->state.tel->health.alive(name);
  };
  auto failed = [self, name](caf::error& err) {
    self->state.waiting.erase(name);
    spdlog::debug("liveness: {} did not answer: {}", name, caf::to_string(err));
  };
  // The request's own timeout only frees the slot; staleness is judged by the allowance.
  auto timeout = st.settings.allowance;
  if (t.via_status)
    self->request(t.handle, timeout, actors::status_atom::value)
        .then([answered](const actors::tunnel_status&) { answered(); }, failed);
  else
    self->request(t.handle, timeout, caf::sys_atom::value, caf::get_atom::value,
                  std::string{"info"})
        .then([answered](caf::ok_atom, const std::string&, const caf::strong_actor_ptr&,
                         const std::string&) { answered(); },
              failed);
}

caf::behavior prober(caf::stateful_actor<prober_state>* self,
                     std::shared_ptr<actors::telemetry> tel, std::vector<liveness_target> targets,
                     liveness_settings s) {
  self->state.tel = std::move(tel);
  self->state.targets = std::move(targets);
  self->state.settings = s;
  self->send(self, probe_atom::value);
  return {
      [self](probe_atom) {
        for (const auto& t : self->state.targets)
          ask(self, t);
        self->delayed_send(self, self->state.settings.period, probe_atom::value);
      },
  };
}

} // namespace

caf::actor spawn_liveness_prober(caf::actor_system& sys, std::shared_ptr<actors::telemetry> tel,
                                 std::vector<liveness_target> targets, liveness_settings s) {
  for (const auto& t : targets)
    if (t.handle)
      tel->health.expect_alive(t.name, s.allowance);
  return sys.spawn(prober, std::move(tel), std::move(targets), s);
}

} // namespace kcr::app
