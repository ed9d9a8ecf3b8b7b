// JPEG through libturbojpeg: the one owner of turbojpeg handles, shared by the
// files source (drivers/files), the engine's MJPEG decode (app/engine) and the
// CLI's image files (app/cli).
//
// Ownership: a Decompressor or Compressor owns one turbojpeg handle (created
// in the constructor, destroyed with it); a JpegBytes owns the buffer
// turbojpeg compressed into. All are movable and not copyable. A moved-from
// Decompressor or Compressor has no handle: using it throws std::logic_error.
//
// Threads: a handle is not thread-safe. Use each object from one thread at a
// time (each caller owns its own); different objects may be used in parallel.
//
// Errors: JpegError, whose what() names the problem ("not a readable JPEG:
// ...") and whose reason() is turbojpeg's own text, for callers that word
// their messages themselves (they name the file, or translate to their own
// error type). <turbojpeg.h> stays out of this header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

namespace lookout::jpeg {

class JpegError : public std::runtime_error {
 public:
  JpegError(const std::string& what, std::string reason)
      : std::runtime_error(what), reason_(std::move(reason)) {}
  // turbojpeg's description ("Not a JPEG file: starts with 0x42 0x42").
  const std::string& reason() const { return reason_; }

 private:
  std::string reason_;
};

struct Header {
  int width = 0;   // always positive
  int height = 0;  // always positive
};

class Decompressor {
 public:
  // Throws JpegError when turbojpeg cannot create a handle (out of memory).
  Decompressor();
  ~Decompressor();
  Decompressor(Decompressor&&) noexcept;
  Decompressor& operator=(Decompressor&&) noexcept;
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;

  // The picture's size from the JPEG's header. Throws JpegError ("not a
  // readable JPEG: <reason>") when `data` is not a JPEG or its header is
  // damaged.
  Header header(const std::uint8_t* data, std::size_t size);

  // Decodes the JPEG at its own size (header()) into packed R,G,B bytes:
  // `out` holds header().height rows, `stride` bytes apart (0 = width * 3).
  // Grey JPEGs come out as R = G = B. Default flags: accurate integer DCT and
  // fancy upsampling, as libjpeg's defaults that OpenCV and Pillow use.
  // A JPEG that decodes with only a warning (TJERR_WARNING: typically a
  // truncated file, whose missing rows come out grey) counts as decoded: the
  // warning is returned; an empty string means a clean decode. Throws
  // JpegError ("corrupt JPEG: <reason>") when nothing usable came out.
  std::string decode_rgb(const std::uint8_t* data, std::size_t size, std::uint8_t* out,
                         std::size_t stride);

 private:
  struct Destroy {  // tjDestroy
    void operator()(void* handle) const noexcept;
  };
  void* handle() const;
  std::unique_ptr<void, Destroy> handle_;  // tjhandle
};

// Compressed bytes in the buffer turbojpeg allocated (freed with tjFree).
class JpegBytes {
 public:
  const std::uint8_t* data() const { return bytes_.get(); }
  std::size_t size() const { return size_; }

 private:
  friend class Compressor;
  struct Free {  // tjFree
    void operator()(std::uint8_t* bytes) const noexcept;
  };
  std::unique_ptr<std::uint8_t, Free> bytes_;
  std::size_t size_ = 0;
};

// Chroma subsampling of a compressed picture.
enum class Subsampling { S444, S420 };

class Compressor {
 public:
  // Throws JpegError when turbojpeg cannot create a handle (out of memory).
  Compressor();
  ~Compressor();
  Compressor(Compressor&&) noexcept;
  Compressor& operator=(Compressor&&) noexcept;
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;

  // Compresses packed R,G,B pixels (`height` rows `stride` bytes apart; 0 =
  // width * 3) at `quality` 1..100. Throws JpegError ("JPEG compression
  // failed: <reason>") for sizes or qualities turbojpeg refuses.
  JpegBytes compress_rgb(const std::uint8_t* pixels, int width, int height, std::size_t stride,
                         int quality, Subsampling subsampling = Subsampling::S420);

 private:
  struct Destroy {  // tjDestroy
    void operator()(void* handle) const noexcept;
  };
  void* handle() const;
  std::unique_ptr<void, Destroy> handle_;  // tjhandle
};

}  // namespace lookout::jpeg
