// FakeResponse: an in-memory upstream::Response for tests of code that consumes upstream bodies
// (fill sessions, Hub sources). The body is served in `chunk` sized reads; optionally the read
// after `fail_after` bytes returns an error, as a reset connection would.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/fields.hpp>
#include <cstring>
#include <optional>
#include <string>

#include "upstream/client.h"

namespace hubgate::testing {

class FakeResponse final : public upstream::Response {
 public:
  FakeResponse(int status, std::string body, std::size_t chunk = 4096,
               std::optional<std::size_t> fail_after = std::nullopt)
      : status_(status), body_(std::move(body)), chunk_(chunk), fail_after_(fail_after) {}

  int status() const override { return status_; }
  const boost::beast::http::fields& headers() const override { return fields_; }
  boost::beast::http::fields& mutableHeaders() { return fields_; }
  std::optional<std::uint64_t> contentLength() const override { return body_.size(); }

  boost::asio::awaitable<Result<std::size_t>> read(std::span<std::byte> buf) override {
    if (fail_after_ && pos_ >= *fail_after_) {
      co_return fail(ErrorCode::Unavailable, "connection reset (fake)");
    }
    std::size_t limit = fail_after_ ? std::min(*fail_after_, body_.size()) : body_.size();
    std::size_t n = std::min({buf.size(), chunk_, limit - pos_});
    if (n == 0 && fail_after_ && pos_ < body_.size()) {
      co_return fail(ErrorCode::Unavailable, "connection reset (fake)");
    }
    std::memcpy(buf.data(), body_.data() + pos_, n);
    pos_ += n;
    co_return n;
  }

  boost::asio::awaitable<Result<std::string>> readAll(std::size_t limit) override {
    std::string rest = body_.substr(pos_);
    pos_ = body_.size();
    if (rest.size() > limit) co_return fail(ErrorCode::ResourceExhausted, "body too large");
    co_return rest;
  }

 private:
  int status_;
  std::string body_;
  std::size_t chunk_;
  std::optional<std::size_t> fail_after_;
  std::size_t pos_ = 0;
  boost::beast::http::fields fields_;
};

}  // namespace hubgate::testing
