// The bearer token of a client configuration: fixed, from a rotating file, or from an exec
// credential plugin. See token_source in client_config.hpp.
#include <mutex>
#include <stdexcept>

#include "kube/client_config.hpp"
#include "kube/config_files.hpp"

namespace kcr::kube {

using detail::slurp;
using detail::trim;

std::shared_ptr<token_source> token_source::fixed(std::string token) {
  auto t = std::shared_ptr<token_source>(new token_source());
  t->token_ = std::move(token);
  return t;
}

std::shared_ptr<token_source> token_source::from_file(std::string path,
                                                      std::chrono::milliseconds refresh) {
  auto t = std::shared_ptr<token_source>(new token_source());
  t->path_ = std::move(path);
  t->refresh_ = refresh;
  std::string err;
  auto text = slurp(t->path_, err);
  if (!text)
    throw config_error("token file " + t->path_ + ": cannot read: " + err);
  t->token_ = trim(*text);
  if (t->token_.empty())
    throw config_error("token file " + t->path_ + ": is empty");
  t->read_at_ = std::chrono::steady_clock::now();
  t->reads_ = 1;
  return t;
}

void token_source::reread_locked() {
  std::string err;
  if (auto text = slurp(path_, err)) {
    auto tok = trim(*text);
    if (!tok.empty())
      token_ = std::move(tok);
  }
  ++reads_;
  read_at_ = std::chrono::steady_clock::now();
  stale_ = false;
}

std::shared_ptr<token_source>
token_source::from_exec(std::shared_ptr<exec_credential_source> exec) {
  auto t = std::shared_ptr<token_source>(new token_source());
  try {
    exec->get();
  } catch (const std::runtime_error& e) {
    throw config_error(e.what());
  }
  t->exec_ = std::move(exec);
  return t;
}

exec_credential token_source::credential() {
  if (!exec_)
    return exec_credential{token(), {}, {}};
  try {
    return exec_->get();
  } catch (const std::runtime_error& e) {
    throw transport_error(e.what());
  }
}

std::string token_source::token() {
  if (exec_)
    return credential().token;
  std::lock_guard lock(mutex_);
  if (!path_.empty() && (stale_ || std::chrono::steady_clock::now() - read_at_ >= refresh_))
    reread_locked();
  return token_;
}

bool token_source::invalidate() {
  if (exec_) {
    exec_->invalidate();
    return true;
  }
  std::lock_guard lock(mutex_);
  stale_ = true;
  return !path_.empty();
}

unsigned token_source::reads() const {
  std::lock_guard lock(mutex_);
  return reads_;
}
} // namespace kcr::kube
