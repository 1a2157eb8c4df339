// Exceptions inside kube/. They do not leave the API client: api_client converts
// transport_error and stopped_error into an api_failure value at one place (kube/api_failure.hpp,
// api_client.cpp `converted`). config_error is still thrown by configuration loading
// (kubeconfig, in-cluster, exec credential plugins, TLS material): it happens once at startup,
// where the caller prints it and exits.
//   - transport_error: no usable answer (refused, reset, timeout, TLS verification, bad framing);
//   - config_error:    kubeconfig / in-cluster configuration unusable (names the file and problem);
//   - stopped_error:   the client was stopped from another thread (api_client::stop()).
#pragma once

#include <stdexcept>
#include <string>

namespace kcr::kube {

/// The request got no usable HTTP answer: connection refused/reset/timed out, TLS failure,
/// a malformed response or watch stream. Always worth a retry with backoff.
struct transport_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The client configuration cannot be used; the message names the file and what is wrong.
struct config_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The operation was interrupted because stop() was called from another thread.
struct stopped_error : std::runtime_error {
  stopped_error() : std::runtime_error("kubernetes client stopped") {}
};

} // namespace kcr::kube
