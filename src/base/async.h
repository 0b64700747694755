// Helpers for Asio coroutines shared by every asynchronous module (header-only).
//
// runBlocking(): runs a blocking function (fsync, rename, SQLite write, hashing a file) on the
// blocking worker pool and resumes the calling coroutine on its own executor with the result,
// so I/O threads never block on disk or SQLite writes.
//
// REQUIRES: `fn` is trivially destructible (capture pointers and references only). g++ 12
// destroys non-trivial by-value state of coroutine lambdas twice; the static_assert keeps that
// bug out of the tree. Move owned data into a heap object and capture a pointer to it instead.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <type_traits>
#include <utility>

namespace hubgate {

template <class F>
boost::asio::awaitable<std::invoke_result_t<F&>> runBlocking(boost::asio::thread_pool& pool, F fn) {
  using R = std::invoke_result_t<F&>;
  static_assert(std::is_trivially_destructible_v<F>,
                "runBlocking: capture pointers/references only (g++ 12 coroutine bug)");
  co_return co_await boost::asio::co_spawn(
      pool, [f = std::move(fn)]() mutable -> boost::asio::awaitable<R> { co_return f(); },
      boost::asio::use_awaitable);
}

}  // namespace hubgate
