#include "image_io.hpp"

#include <turbojpeg.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>

#include "core/jpeg.hpp"
#include "drivers/image_decoder.hpp"

namespace lookout::cli {

namespace {

// A turbojpeg codec, failing (out of memory) with the CLI's error type.
template <class Codec>
Codec make_codec() {
  try {
    return Codec();
  } catch (const jpeg::JpegError& e) {
    throw ImageError(e.what());
  }
}

std::vector<std::uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ImageError(path + ": cannot open (" + std::strerror(errno) + ")");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool starts_with(const std::vector<std::uint8_t>& bytes, std::initializer_list<int> magic) {
  if (bytes.size() < magic.size()) return false;
  std::size_t i = 0;
  for (int m : magic) {
    if (bytes[i++] != m) return false;
  }
  return true;
}

std::shared_ptr<Frame> read_jpeg(const std::string& path, std::vector<std::uint8_t> bytes) {
  auto tj = make_codec<jpeg::Decompressor>();
  jpeg::Header header;
  try {
    header = tj.header(bytes.data(), bytes.size());
  } catch (const jpeg::JpegError& e) {
    throw ImageError(path + ": not a readable JPEG (" + e.reason() + ")");
  }
  auto frame = Frame::allocate(PixelFormat::MJPEG, header.width, header.height, bytes.size());
  std::memcpy(frame->mutable_plane(0), bytes.data(), bytes.size());
  return frame;
}

// PPM/PGM and BMP through turbojpeg's loader.
std::shared_ptr<Frame> read_netpbm_or_bmp(const std::string& path) {
  int width = 0, height = 0;
  int format = TJPF_UNKNOWN;
  // tjLoadImage's buffer, freed with tjFree on every path.
  struct TjFree {
    void operator()(unsigned char* buffer) const noexcept { tjFree(buffer); }
  };
  const std::unique_ptr<unsigned char, TjFree> loaded(
      tjLoadImage(path.c_str(), &width, 1, &height, &format, 0));
  if (!loaded) {
    throw ImageError(path + ": not a JPEG, PNG, PPM/PGM or BMP image (" + tjGetErrorStr2(nullptr) +
                     ")");
  }
  const unsigned char* pixels = loaded.get();
  std::shared_ptr<Frame> frame;
  if (format == TJPF_GRAY) {
    frame = Frame::allocate(PixelFormat::GRAY8, width, height);
    std::memcpy(frame->mutable_plane(0), pixels, static_cast<std::size_t>(width) * height);
  } else {
    frame = Frame::allocate(PixelFormat::RGB24, width, height);
    const int bpp = tjPixelSize[format];
    std::uint8_t* out = frame->mutable_plane(0);
    for (int i = 0; i < width * height; ++i) {
      out[3 * i + 0] = pixels[bpp * i + tjRedOffset[format]];
      out[3 * i + 1] = pixels[bpp * i + tjGreenOffset[format]];
      out[3 * i + 2] = pixels[bpp * i + tjBlueOffset[format]];
    }
  }
  return frame;
}

}  // namespace

std::shared_ptr<Frame> read_image(const std::string& path) {
  std::vector<std::uint8_t> bytes = read_file(path);
  if (bytes.empty()) throw ImageError(path + ": file is empty");
  if (starts_with(bytes, {0xFF, 0xD8, 0xFF})) return read_jpeg(path, std::move(bytes));
  if (starts_with(bytes, {0x89, 'P', 'N', 'G'})) {
    try {
      return decode_image(path);
    } catch (const std::exception& e) {
      throw ImageError(e.what());
    }
  }
  return read_netpbm_or_bmp(path);
}

void write_jpeg(const std::string& path, const picture::RgbImage& image, int quality) {
  auto tj = make_codec<jpeg::Compressor>();
  jpeg::JpegBytes compressed;
  try {
    compressed = tj.compress_rgb(image.pixels.data(), image.width, image.height, 0, quality);
  } catch (const jpeg::JpegError& e) {
    throw ImageError(path + ": JPEG compression failed: " + e.reason());
  }
  std::FILE* f = std::fopen(path.c_str(), "wb");
  const bool ok =
      f != nullptr && std::fwrite(compressed.data(), 1, compressed.size(), f) == compressed.size();
  const int saved_errno = errno;
  if (f != nullptr && std::fclose(f) != 0) errno = saved_errno;
  if (!ok) throw ImageError(path + ": cannot write (" + std::strerror(saved_errno) + ")");
}

}  // namespace lookout::cli
