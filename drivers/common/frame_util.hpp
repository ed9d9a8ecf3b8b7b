// Helpers for sources that publish frames they did not allocate one by one.
#pragma once

#include <chrono>
#include <cstdint>

#include "core/frame.hpp"

namespace lookout {

// A frame showing `base`'s pixels (and truth) under a new sequence number and
// capture time, without copying pixels: the result keeps `base` alive. Used to
// re-publish a cached image and to renumber frames across source restarts.
FramePtr restamp(const FramePtr& base, std::uint64_t sequence,
                 std::chrono::system_clock::time_point capture_time,
                 std::chrono::steady_clock::time_point capture_steady);
// Same, keeping base's capture times.
FramePtr restamp(const FramePtr& base, std::uint64_t sequence);

// Sets both capture times of a frame to now.
void stamp_now(Frame& frame);

}  // namespace lookout
