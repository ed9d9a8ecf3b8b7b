#include "core/jpeg.hpp"

#include <turbojpeg.h>

#include <climits>

namespace lookout::jpeg {

namespace {

// turbojpeg's last error on `handle` (or, for a null handle, the last error of
// handle creation in this thread).
std::string reason_of(void* handle) {
  return tjGetErrorStr2(handle);
}

// turbojpeg takes sizes as unsigned long (as wide as size_t on Linux, 32- and
// 64-bit) and strides as int.
static_assert(sizeof(unsigned long) >= sizeof(std::size_t));
unsigned long length(std::size_t size) {
  return static_cast<unsigned long>(size);
}

int pitch(std::size_t stride) {
  if (stride > INT_MAX) {
    throw JpegError("row stride " + std::to_string(stride) + " is too large for turbojpeg",
                    "stride too large");
  }
  return static_cast<int>(stride);
}

}  // namespace

// ---- Decompressor ------------------------------------------------------------

void Decompressor::Destroy::operator()(void* handle) const noexcept {
  tjDestroy(handle);
}

Decompressor::Decompressor() : handle_(tjInitDecompress()) {
  if (!handle_) {
    const std::string reason = reason_of(nullptr);
    throw JpegError("turbojpeg: cannot create a decompressor (" + reason + ")", reason);
  }
}

Decompressor::~Decompressor() = default;
Decompressor::Decompressor(Decompressor&&) noexcept = default;
Decompressor& Decompressor::operator=(Decompressor&&) noexcept = default;

void* Decompressor::handle() const {
  if (!handle_) throw std::logic_error("jpeg::Decompressor used after it was moved from");
  return handle_.get();
}

Header Decompressor::header(const std::uint8_t* data, std::size_t size) {
  void* tj = handle();
  Header h;
  int subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(tj, data, length(size), &h.width, &h.height, &subsampling, &colorspace) !=
      0) {
    const std::string reason = reason_of(tj);
    throw JpegError("not a readable JPEG: " + reason, reason);
  }
  // turbojpeg refuses headers without a size itself; this keeps the promise
  // of Header whatever its version does.
  if (h.width <= 0 || h.height <= 0) {
    throw JpegError("not a readable JPEG: no frame size", "no frame size");
  }
  return h;
}

std::string Decompressor::decode_rgb(const std::uint8_t* data, std::size_t size, std::uint8_t* out,
                                     std::size_t stride) {
  void* tj = handle();
  // Width and height 0: the JPEG's own size (no scaling).
  if (tjDecompress2(tj, data, length(size), out, 0, pitch(stride), 0, TJPF_RGB, 0) == 0) return {};
  const std::string reason = reason_of(tj);
  if (tjGetErrorCode(tj) == TJERR_WARNING) return reason;
  throw JpegError("corrupt JPEG: " + reason, reason);
}

// ---- JpegBytes -----------------------------------------------------------------

void JpegBytes::Free::operator()(std::uint8_t* bytes) const noexcept {
  tjFree(bytes);
}

// ---- Compressor ------------------------------------------------------------------

void Compressor::Destroy::operator()(void* handle) const noexcept {
  tjDestroy(handle);
}

Compressor::Compressor() : handle_(tjInitCompress()) {
  if (!handle_) {
    const std::string reason = reason_of(nullptr);
    throw JpegError("turbojpeg: cannot create a compressor (" + reason + ")", reason);
  }
}

Compressor::~Compressor() = default;
Compressor::Compressor(Compressor&&) noexcept = default;
Compressor& Compressor::operator=(Compressor&&) noexcept = default;

void* Compressor::handle() const {
  if (!handle_) throw std::logic_error("jpeg::Compressor used after it was moved from");
  return handle_.get();
}

JpegBytes Compressor::compress_rgb(const std::uint8_t* pixels, int width, int height,
                                   std::size_t stride, int quality, Subsampling subsampling) {
  void* tj = handle();
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  const int status =
      tjCompress2(tj, pixels, width, pitch(stride), height, TJPF_RGB, &buffer, &size,
                  subsampling == Subsampling::S444 ? TJSAMP_444 : TJSAMP_420, quality, 0);
  // Own the buffer first: turbojpeg may have allocated it even when it failed.
  JpegBytes bytes;
  bytes.bytes_.reset(buffer);
  if (status != 0) {
    const std::string reason = reason_of(tj);
    throw JpegError("JPEG compression failed: " + reason, reason);
  }
  bytes.size_ = size;
  return bytes;
}

}  // namespace lookout::jpeg
