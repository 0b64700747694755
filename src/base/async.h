// Helpers for Asio coroutines shared by every asynchronous module (header-only).
//
// runBlocking(): runs a blocking function (fsync, rename, SQLite write, hashing a file) on the
// blocking worker pool and resumes the calling coroutine on its own executor with the result,
// so I/O threads never block on disk or SQLite writes.
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
  co_return co_await boost::asio::co_spawn(
      pool, [f = std::move(fn)]() mutable -> boost::asio::awaitable<R> { co_return f(); },
      boost::asio::use_awaitable);
}

}  // namespace hubgate
