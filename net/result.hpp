// The one result type below CAF: a value or an error, never an exception across the interfaces
// of net/ and of the actors' ports (std::expected is C++23). Each layer names its error type:
// net::pool_error, net::tunnel_error, kube::api_failure.
#pragma once

#include <utility>
#include <variant>

namespace kcr::net {

template <class T, class E>
class result {
public:
  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  result(E error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  /// The value; only when ok().
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  /// The error; only when !ok().
  const E& error() const { return std::get<1>(v_); }

private:
  std::variant<T, E> v_;
};

} // namespace kcr::net
