// The actors' retry delays come from kube::backoff, the one backoff, set up from the settings.
#pragma once

#include "actors/settings.hpp"
#include "kube/backoff.hpp"

namespace kcr::actors {

/// settings.backoff_initial doubling up to settings.backoff_max, without jitter: an actor's
/// retry timers run on CAF's clock, which the deterministic tests advance by exact delays. The
/// actor calls reset() after a success; the injected clock stands still, so the backoff never
/// resets by itself (kube::backoff's reset_after plays no part).
inline kube::backoff retry_backoff(const controller_settings& s) {
  kube::backoff::params p;
  p.initial = s.backoff_initial;
  p.max = s.backoff_max;
  p.jitter = 0;
  return kube::backoff{p, [] { return kube::backoff::clock::time_point{}; }, [] { return 0.0; }};
}

} // namespace kcr::actors
