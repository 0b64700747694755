// Scanner resource limits (scanning.md §4.4). Every limit fails closed: hitting one is a
// finding with rule "limit.<name>" and verdict Error (or Invalid where the input is at fault).
#pragma once

#include <chrono>
#include <cstdint>

namespace hubgate::scan {

struct Limits {
  std::uint64_t max_inflate_total_min = 64ull << 20;  // total inflated bytes <= max(4 x file, this)
  std::uint32_t max_inflate_ratio = 100;              // on entries above 1 MiB
  int max_archive_depth = 3;
  std::uint32_t max_members = 10'000;
  std::uint64_t max_pickle_opcodes = 50'000'000;
  std::uint64_t max_pickle_stack = 1'000'000;
  std::uint64_t max_pickle_memo = 1'000'000;
  int max_json_depth = 64;
  int max_nested_pickle_depth = 3;  // pickles found inside pickle string arguments
  // Wall time per file: base + per_gib x size. 0 disables.
  std::chrono::milliseconds time_base{2'000};
  std::chrono::milliseconds time_per_gib{30'000};
};

}  // namespace hubgate::scan
