#include "image_io.hpp"

#include <libyuv.h>
#include <turbojpeg.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "drivers/image_decoder.hpp"

namespace lookout::cli {

namespace {

// Owns a turbojpeg handle.
struct TjHandle {
  explicit TjHandle(tjhandle h) : handle(h) {
    if (handle == nullptr) throw ImageError("turbojpeg: cannot create a handle");
  }
  ~TjHandle() { tjDestroy(handle); }
  TjHandle(const TjHandle&) = delete;
  TjHandle& operator=(const TjHandle&) = delete;
  tjhandle handle;
};

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
  TjHandle tj(tjInitDecompress());
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(tj.handle, bytes.data(), static_cast<unsigned long>(bytes.size()),
                          &width, &height, &subsampling, &colorspace) != 0 ||
      width <= 0 || height <= 0) {
    throw ImageError(path + ": not a readable JPEG (" + tjGetErrorStr2(tj.handle) + ")");
  }
  auto frame = Frame::allocate(PixelFormat::MJPEG, width, height, bytes.size());
  std::memcpy(frame->mutable_plane(0), bytes.data(), bytes.size());
  return frame;
}

// PPM/PGM and BMP through turbojpeg's loader.
std::shared_ptr<Frame> read_netpbm_or_bmp(const std::string& path) {
  int width = 0, height = 0;
  int format = TJPF_UNKNOWN;
  unsigned char* pixels = tjLoadImage(path.c_str(), &width, 1, &height, &format, 0);
  if (pixels == nullptr) {
    throw ImageError(path + ": not a JPEG, PNG, PPM/PGM or BMP image (" +
                     tjGetErrorStr2(nullptr) + ")");
  }
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
  tjFree(pixels);
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

RgbImage to_rgb(const Frame& frame) {
  RgbImage image;
  if (frame.format == PixelFormat::MJPEG) {
    TjHandle tj(tjInitDecompress());
    int subsampling = 0, colorspace = 0;
    const auto size = static_cast<unsigned long>(frame.planes[0].size);
    if (tjDecompressHeader3(tj.handle, frame.planes[0].data, size, &image.width, &image.height,
                            &subsampling, &colorspace) != 0) {
      throw ImageError(std::string("JPEG: ") + tjGetErrorStr2(tj.handle));
    }
    image.pixels.resize(static_cast<std::size_t>(image.width) * image.height * 3);
    if (tjDecompress2(tj.handle, frame.planes[0].data, size, image.pixels.data(), image.width, 0,
                      image.height, TJPF_RGB, 0) != 0 &&
        tjGetErrorCode(tj.handle) == TJERR_FATAL) {
      throw ImageError(std::string("JPEG: ") + tjGetErrorStr2(tj.handle));
    }
    return image;
  }
  image.width = frame.width;
  image.height = frame.height;
  const int w = frame.width, h = frame.height;
  image.pixels.resize(static_cast<std::size_t>(w) * h * 3);
  std::uint8_t* out = image.pixels.data();
  const Plane* p = frame.planes.data();
  const auto s = [](const Plane& plane) { return static_cast<int>(plane.stride); };
  switch (frame.format) {
    case PixelFormat::RGB24:
      libyuv::CopyPlane(p[0].data, s(p[0]), out, w * 3, w * 3, h);
      break;
    case PixelFormat::BGR24:
      libyuv::RGB24ToRAW(p[0].data, s(p[0]), out, w * 3, w, h);
      break;
    case PixelFormat::I420:
      libyuv::I420ToRAW(p[0].data, s(p[0]), p[1].data, s(p[1]), p[2].data, s(p[2]), out, w * 3,
                        w, h);
      break;
    case PixelFormat::NV12:
      libyuv::NV12ToRAW(p[0].data, s(p[0]), p[1].data, s(p[1]), out, w * 3, w, h);
      break;
    case PixelFormat::YUYV: {
      std::vector<std::uint8_t> argb(static_cast<std::size_t>(w) * h * 4);
      libyuv::YUY2ToARGB(p[0].data, s(p[0]), argb.data(), w * 4, w, h);
      libyuv::ARGBToRAW(argb.data(), w * 4, out, w * 3, w, h);
      break;
    }
    case PixelFormat::GRAY8:
      for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
          const std::uint8_t v = p[0].data[static_cast<std::size_t>(y) * p[0].stride + x];
          std::uint8_t* o = out + (static_cast<std::size_t>(y) * w + x) * 3;
          o[0] = o[1] = o[2] = v;
        }
      }
      break;
    case PixelFormat::MJPEG:
      break;
  }
  return image;
}

void write_jpeg(const std::string& path, const RgbImage& image, int quality) {
  TjHandle tj(tjInitCompress());
  unsigned char* jpeg = nullptr;
  unsigned long size = 0;
  if (tjCompress2(tj.handle, image.pixels.data(), image.width, 0, image.height, TJPF_RGB, &jpeg,
                  &size, TJSAMP_420, quality, 0) != 0) {
    throw ImageError(path + ": JPEG compression failed: " + tjGetErrorStr2(tj.handle));
  }
  std::FILE* f = std::fopen(path.c_str(), "wb");
  const bool ok = f != nullptr && std::fwrite(jpeg, 1, size, f) == size;
  const int saved_errno = errno;
  if (f != nullptr && std::fclose(f) != 0) errno = saved_errno;
  tjFree(jpeg);
  if (!ok) throw ImageError(path + ": cannot write (" + std::strerror(saved_errno) + ")");
}

}  // namespace lookout::cli
