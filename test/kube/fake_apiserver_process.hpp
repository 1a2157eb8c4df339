// Test helper: runs test/fakeapi/fake_apiserver.py as a subprocess, reads its one JSON startup
// line, talks to its control port (through our own http_connection) and kills it at the end.
#pragma once

#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

#include <boost/json.hpp>

#include "kube/client_config.hpp"
#include "kube/http_connection.hpp"

namespace kcr::test {

class fake_apiserver {
public:
  /// Starts the fake with `--port 0 --control-port 0` plus `args` (plus `--tls-dir TEMP` when
  /// `tls`); throws std::runtime_error (with the fake's stderr) when it does not come up.
  explicit fake_apiserver(std::vector<std::string> args = {}, bool tls = false);
  ~fake_apiserver();
  fake_apiserver(const fake_apiserver&) = delete;
  fake_apiserver& operator=(const fake_apiserver&) = delete;

  std::string api_url;
  std::string control_url;
  std::string ca_file; ///< empty for plain http
  std::string tls_dir; ///< the --tls-dir folder (ca.crt, server.crt, ...) when tls
  int api_port = 0;

  /// Control call; returns the parsed JSON answer, throws on a non-2xx status.
  boost::json::value control(const std::string& method, const std::string& path,
                             const boost::json::value& body = nullptr);
  /// The requests the fake saw (GET /requests). The fake logs a request after answering it,
  /// so this waits (up to 2 s) until at least `at_least` entries are there.
  boost::json::array requests(std::size_t at_least = 0);
  void clear_requests();
  /// POST /faults with `body`.
  void fault(const boost::json::object& body);

  /// A client configuration for this fake: the right CA for TLS, optional fixed token.
  std::shared_ptr<kube::client_config> config(const std::string& token = "") const;

  /// A fresh temp folder for certificates / token files, removed with the fake.
  std::string make_temp_dir();

private:
  void shutdown();

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string log_file_;
  std::vector<std::string> temp_dirs_;
  std::unique_ptr<kube::http_connection> control_;
};

/// The source folder (KCR_SOURCE_DIR from ctest, else the compile-time one).
std::string source_dir();

} // namespace kcr::test
