#include "image_io.hpp"

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

}  // namespace

std::shared_ptr<Frame> read_image(const std::string& path) {
  std::vector<std::uint8_t> bytes = read_file(path);
  if (bytes.empty()) throw ImageError(path + ": file is empty");
  if (starts_with(bytes, {0xFF, 0xD8, 0xFF})) return read_jpeg(path, std::move(bytes));
  try {
    return decode_image_bytes(bytes, path, DecodedColour::Rgb24OrGray8);
  } catch (const std::exception& e) {
    throw ImageError(e.what());
  }
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
