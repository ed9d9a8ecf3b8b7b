// Frame: one captured image, the only type the drivers and the engine share.
//
// Ownership: a frame is always held by a FramePtr (std::shared_ptr<const Frame>).
// A source that lends its own buffers (libcamera, V4L2 mmap) gives the
// shared_ptr a deleter that hands the buffer back to the source, so the buffer
// returns to the camera exactly when the last user (pipeline, engine) drops it.
// Frames that own their pixels (files, synthetic, converted copies) come from
// Frame::allocate(). A Frame never changes after it is published.
//
// Copying: a Frame is not copyable, because the planes of a frame that owns
// its pixels point into its own `storage`, and a member-wise copy would point
// at the original's pixels (dangling once the original is gone). It is
// movable (see below), and clone() makes a deep copy that owns its pixels.
//
// Threads: a published frame is immutable and may be read from any thread.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/enum_names.hpp"

namespace lookout {

// Pixel layouts the engine takes directly. Planar and semi-planar YUV use
// BT.601 limited range, which is what libcamera and UVC webcams deliver.
enum class PixelFormat {
  RGB24,  // packed R,G,B bytes
  BGR24,  // packed B,G,R bytes
  I420,   // planar Y, U, V; chroma subsampled 2x2 (YUV420)
  NV12,   // planar Y, interleaved UV; chroma subsampled 2x2
  YUYV,   // packed Y0 U Y1 V (YUV 4:2:2)
  GRAY8,  // one luma byte per pixel
  MJPEG,  // one compressed JPEG image in plane 0 (size = bytes used)
};

template <>
struct EnumTable<PixelFormat> {
  static constexpr std::array<EnumName<PixelFormat>, 7> entries{{
      {PixelFormat::RGB24, "RGB24"},
      {PixelFormat::BGR24, "BGR24"},
      {PixelFormat::I420, "I420"},
      {PixelFormat::NV12, "NV12"},
      {PixelFormat::YUYV, "YUYV"},
      {PixelFormat::GRAY8, "GRAY8"},
      {PixelFormat::MJPEG, "MJPEG"},
  }};
};

constexpr std::string_view to_string(PixelFormat format) {
  return enum_name(format);
}
constexpr std::optional<PixelFormat> pixel_format_from_string(std::string_view name) {
  return enum_from_name<PixelFormat>(name);
}

// Number of planes a format uses (1 to 3).
int plane_count(PixelFormat format);

// One plane of pixel data, borrowed from whoever owns the frame's memory.
struct Plane {
  const std::uint8_t* data = nullptr;
  std::size_t stride = 0;  // bytes per row (0 for MJPEG)
  std::size_t size = 0;    // bytes valid in this plane
};

// An axis-aligned box in frame pixels, with the class it belongs to. Sources
// that know the truth (the synthetic one) attach these to each frame.
struct LabelledBox {
  int class_id = 0;
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  // The object's identity across frames (unique within a sequence, never
  // re-used); -1 when the source does not know it.
  std::int64_t object_id = -1;
  // The share of the object's whole shape that is visible in this frame
  // (not cut by the frame edge, not covered by other objects), 0..1.
  float visibility = 1;
};

// The most pixels a frame may have: 8192 x 8192 (67 megapixels; a 12 MP
// camera's full still five times over). Decoders check the size an image
// declares before decoding it, so a small file claiming a huge picture costs
// nothing, and Frame::allocate() refuses more.
inline constexpr std::int64_t kMaxFramePixels = std::int64_t{1} << 26;
// The longest side a frame may have: libyuv's scalers step through a source
// in 16.16 fixed point, which overflows from 32768 pixels on (a 20x55050
// JPEG crashed them).
inline constexpr int kMaxFrameSide = 16384;

// Why a frame cannot be `width` x `height`: not positive, a side longer than
// kMaxFrameSide, or more than kMaxFramePixels ("image is 30000x30000 = 900000000 pixels; at most
// 67108864 (8192x8192) are taken"). nullopt when it can.
std::optional<std::string> frame_size_problem(int width, int height);

struct Frame {
  Frame() = default;
  ~Frame() = default;
  Frame(const Frame&) = delete;
  Frame& operator=(const Frame&) = delete;
  // Moving keeps the planes valid: a moved std::vector hands its heap buffer
  // over unchanged (no reallocation, for construction and, with
  // std::allocator, for assignment), so planes pointing into `storage` now
  // point into the new frame's storage; borrowed planes still point into the
  // source's buffer. The moved-from frame keeps stale plane pointers and empty
  // storage: assign to it or drop it, don't read it.
  Frame(Frame&&) = default;
  Frame& operator=(Frame&&) = default;

  PixelFormat format = PixelFormat::RGB24;
  int width = 0;
  int height = 0;
  std::array<Plane, 3> planes{};

  // Counts frames delivered by the source since it started, from 0. Gaps mean
  // frames the source itself dropped.
  std::uint64_t sequence = 0;
  // When the sensor captured the frame (wall clock, for clients) and the same
  // instant on the monotonic clock (for latency measurements).
  std::chrono::system_clock::time_point capture_time{};
  std::chrono::steady_clock::time_point capture_steady{};

  // Ground truth, only from sources that know it.
  std::vector<LabelledBox> truth;

  // Pixel memory for frames that own it (see allocate()); empty for frames
  // whose planes point into a source's buffer.
  std::vector<std::uint8_t> storage;

  // Allocates a frame that owns tightly packed planes of the given format and
  // size (MJPEG: `compressed_bytes` bytes in plane 0). Planes point into
  // `storage`. Throws std::invalid_argument for sizes the format can't have
  // (odd sizes for subsampled formats, frame_size_problem()).
  static std::shared_ptr<Frame> allocate(PixelFormat format, int width, int height,
                                         std::size_t compressed_bytes = 0);

  // A deep copy that owns its pixels: tightly packed copies of every plane
  // (whatever this frame's strides, and whether it owns or borrows them; MJPEG:
  // the compressed bytes as they are), with the same format, size, sequence,
  // capture times and truth. For whoever must keep a frame beyond the life of
  // the buffer it borrows (e.g. a snapshot served later). Any thread (the
  // frame is only read). Throws std::invalid_argument when validate_layout()
  // finds a problem with a raw frame's planes.
  std::shared_ptr<Frame> clone() const;

  // Mutable view of an owned plane, for whoever fills a freshly allocated frame.
  std::uint8_t* mutable_plane(int index) {
    return const_cast<std::uint8_t*>(planes[static_cast<std::size_t>(index)].data);
  }
};

using FramePtr = std::shared_ptr<const Frame>;

// Returns an empty string when the frame's planes are consistent with its
// format and size (enough bytes for stride * rows, stride >= row bytes),
// otherwise a message naming the first problem. Sources call this on frames
// built from foreign buffers before publishing them.
std::string validate_layout(const Frame& frame);

}  // namespace lookout
