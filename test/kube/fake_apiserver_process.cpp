// See fake_apiserver_process.hpp.
#include "test/kube/fake_apiserver_process.hpp"

#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <signal.h>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "kube/http_connection.hpp"

namespace kcr::test {

namespace json = boost::json;
namespace fs = std::filesystem;

std::string source_dir() {
  if (const char* s = std::getenv("KCR_SOURCE_DIR"); s && *s)
    return s;
#ifdef KCR_TEST_SOURCE_DIR
  return KCR_TEST_SOURCE_DIR;
#else
  return ".";
#endif
}

std::string fake_apiserver::make_temp_dir() {
  char tmpl[] = "/tmp/kcr-fake-XXXXXX";
  const char* p = ::mkdtemp(tmpl);
  if (!p)
    throw std::runtime_error("mkdtemp failed");
  temp_dirs_.push_back(p);
  return p;
}

fake_apiserver::fake_apiserver(std::vector<std::string> args, bool tls) {
  std::string script = source_dir() + "/test/fakeapi/fake_apiserver.py";
  if (!fs::exists(script))
    throw std::runtime_error("fake API server not found at " + script);
  auto dir = make_temp_dir();
  if (tls) {
    tls_dir = make_temp_dir();
    args.insert(args.end(), {"--tls-dir", tls_dir});
  }
  log_file_ = dir + "/fake.log";

  std::vector<std::string> argv_s{"python3", script, "--port", "0", "--control-port", "0"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  int out[2];
  if (::pipe(out) != 0)
    throw std::runtime_error("pipe failed");
  pid_ = ::fork();
  if (pid_ < 0)
    throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(out[1], 1);
    int err = ::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (err >= 0)
      ::dup2(err, 2);
    ::close(out[0]);
    ::close(out[1]);
    std::vector<char*> argv;
    for (auto& a : argv_s)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp("python3", argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  stdout_fd_ = out[0];

  // Read the one startup line.
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (line.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{stdout_fd_, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      break;
    char buf[1024];
    auto n = ::read(stdout_fd_, buf, sizeof buf);
    if (n <= 0)
      break;
    line.append(buf, static_cast<size_t>(n));
  }
  boost::system::error_code ec;
  auto v = json::parse(line.substr(0, line.find('\n')), ec);
  if (ec || !v.is_object()) {
    std::ifstream log(log_file_);
    std::stringstream ss;
    ss << log.rdbuf();
    shutdown();
    throw std::runtime_error("fake API server did not start (startup line \"" + line +
                             "\"); its log:\n" + ss.str());
  }
  auto& o = v.get_object();
  api_url = std::string(o.at("api_url").as_string());
  control_url = std::string(o.at("control_url").as_string());
  api_port = static_cast<int>(o.at("api_port").to_number<int64_t>());
  if (o.at("ca_file").is_string())
    ca_file = std::string(o.at("ca_file").as_string());

  auto ccfg = std::make_shared<kube::client_config>();
  ccfg->server = kube::parse_server_url(control_url);
  ccfg->source = "fake control";
  control_ = std::make_unique<kube::http_connection>(ccfg);
}

fake_apiserver::~fake_apiserver() {
  shutdown();
}

void fake_apiserver::shutdown() {
  control_.reset();
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    bool gone = false;
    for (int i = 0; i < 100 && !gone; ++i) {
      gone = ::waitpid(pid_, &status, WNOHANG) == pid_;
      if (!gone)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!gone) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }
  if (stdout_fd_ >= 0)
    ::close(stdout_fd_);
  stdout_fd_ = -1;
  std::error_code ec;
  for (auto& d : temp_dirs_)
    fs::remove_all(d, ec);
  temp_dirs_.clear();
}

json::value fake_apiserver::control(const std::string& method, const std::string& path,
                                    const json::value& body) {
  kube::http_request req{method, path, body.is_null() ? "" : json::serialize(body),
                         "application/json", ""};
  auto resp = control_->request(req);
  if (resp.status < 200 || resp.status > 299)
    throw std::runtime_error("fake control " + method + " " + path + ": " +
                             std::to_string(resp.status) + " " + resp.body);
  return resp.body.empty() ? json::value() : json::parse(resp.body);
}

json::array fake_apiserver::requests(std::size_t at_least) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (;;) {
    auto a = control("GET", "/requests").as_array();
    if (a.size() >= at_least || std::chrono::steady_clock::now() > deadline)
      return a;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}
void fake_apiserver::clear_requests() {
  control("DELETE", "/requests");
}
void fake_apiserver::fault(const json::object& body) {
  control("POST", "/faults", body);
}

std::shared_ptr<kube::client_config> fake_apiserver::config(const std::string& token) const {
  auto cfg = std::make_shared<kube::client_config>();
  cfg->server = kube::parse_server_url(api_url);
  cfg->source = "fake " + api_url;
  if (!ca_file.empty()) {
    std::ifstream in(ca_file);
    std::stringstream ss;
    ss << in.rdbuf();
    cfg->ca_pem = ss.str();
  }
  if (!token.empty())
    cfg->token = kube::token_source::fixed(token);
  cfg->connect_timeout = std::chrono::seconds(2);
  cfg->request_timeout = std::chrono::seconds(10);
  return cfg;
}

} // namespace kcr::test
