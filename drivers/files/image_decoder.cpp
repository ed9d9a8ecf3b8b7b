#include "drivers/image_decoder.hpp"

#include <turbojpeg.h>

#if LOOKOUT_WITH_FFMPEG
extern "C" {
#include <libavcodec/avcodec.h>
#include <libswscale/swscale.h>
}

#include "files/ffmpeg_util.hpp"
#endif

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

namespace lookout {

namespace {

constexpr std::array<std::uint8_t, 3> kJpegMagic{0xFF, 0xD8, 0xFF};
constexpr std::array<std::uint8_t, 8> kPngMagic{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

ImageKind kind_of(const std::uint8_t* data, std::size_t size) {
  if (size >= kPngMagic.size() && std::memcmp(data, kPngMagic.data(), kPngMagic.size()) == 0) {
    return ImageKind::Png;
  }
  if (size >= kJpegMagic.size() && std::memcmp(data, kJpegMagic.data(), kJpegMagic.size()) == 0) {
    return ImageKind::Jpeg;
  }
  return ImageKind::Other;
}

std::vector<std::uint8_t> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ImageReadError("cannot open " + path.string() + ": " + std::strerror(errno));
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
  if (in.bad()) throw ImageReadError("cannot read " + path.string() + ": " + std::strerror(errno));
  return bytes;
}

struct TjHandle {
  tjhandle handle = tjInitDecompress();
  TjHandle() = default;
  TjHandle(const TjHandle&) = delete;
  TjHandle& operator=(const TjHandle&) = delete;
  ~TjHandle() {
    if (handle != nullptr) tjDestroy(handle);
  }
};

std::shared_ptr<Frame> decode_jpeg(const std::filesystem::path& path,
                                   const std::vector<std::uint8_t>& bytes) {
  TjHandle tj;
  if (tj.handle == nullptr) throw ImageDecodeError("turbojpeg: cannot create a decompressor");
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(tj.handle, bytes.data(), static_cast<unsigned long>(bytes.size()), &width,
                          &height, &subsampling, &colorspace) != 0) {
    throw ImageDecodeError(path.string() + ": not a valid JPEG (" + tjGetErrorStr2(tj.handle) +
                           ")");
  }
  if (width <= 0 || height <= 0)
    throw ImageDecodeError(path.string() + ": JPEG without a frame size");
  std::shared_ptr<Frame> frame;
  try {
    frame = Frame::allocate(PixelFormat::RGB24, width, height);
  } catch (const std::exception& e) {
    throw ImageDecodeError(path.string() + ": " + e.what());
  }
  if (tjDecompress2(tj.handle, bytes.data(), static_cast<unsigned long>(bytes.size()),
                    frame->mutable_plane(0), width, static_cast<int>(frame->planes[0].stride),
                    height, TJPF_RGB, 0) != 0 &&
      tjGetErrorCode(tj.handle) == TJERR_FATAL) {
    // TJERR_WARNING (e.g. a truncated file) still yields a usable image.
    throw ImageDecodeError(path.string() + ": cannot decode JPEG (" + tjGetErrorStr2(tj.handle) +
                           ")");
  }
  return frame;
}

#if LOOKOUT_WITH_FFMPEG
std::shared_ptr<Frame> decode_png(const std::filesystem::path& path,
                                  const std::vector<std::uint8_t>& bytes) {
  ffmpeg::route_logs();
  // RAII for the three FFmpeg objects a one-picture decode needs.
  struct Objects {
    AVCodecContext* codec = nullptr;
    AVPacket* packet = av_packet_alloc();
    AVFrame* picture = av_frame_alloc();
    SwsContext* scaler = nullptr;
    Objects() = default;
    Objects(const Objects&) = delete;
    Objects& operator=(const Objects&) = delete;
    ~Objects() {
      sws_freeContext(scaler);
      av_frame_free(&picture);
      av_packet_free(&packet);
      avcodec_free_context(&codec);
    }
  } o;
  const AVCodec* png = avcodec_find_decoder(AV_CODEC_ID_PNG);
  if (png == nullptr) throw ImageDecodeError(path.string() + ": this FFmpeg has no PNG decoder");
  o.codec = avcodec_alloc_context3(png);
  if (o.codec == nullptr || o.packet == nullptr || o.picture == nullptr) throw std::bad_alloc();
  o.codec->thread_count = 1;
  int error = avcodec_open2(o.codec, png, nullptr);
  if (error < 0) throw ImageDecodeError(path.string() + ": " + ffmpeg::error_text(error));
  // The packet borrows `bytes`; send_packet copies what it keeps.
  o.packet->data = const_cast<std::uint8_t*>(bytes.data());
  o.packet->size = static_cast<int>(bytes.size());
  error = avcodec_send_packet(o.codec, o.packet);
  if (error >= 0) error = avcodec_send_packet(o.codec, nullptr);  // flush: one picture
  if (error >= 0) error = avcodec_receive_frame(o.codec, o.picture);
  if (error < 0) {
    throw ImageDecodeError(path.string() + ": cannot decode PNG (" + ffmpeg::error_text(error) +
                           ")");
  }
  try {
    // Grey, palette, 16-bit and alpha (dropped) all become RGB24.
    return ffmpeg::to_rgb24(*o.picture, &o.scaler);
  } catch (const std::exception& e) {
    throw ImageDecodeError(path.string() + ": " + e.what());
  }
}
#else
std::shared_ptr<Frame> decode_png(const std::filesystem::path& path,
                                  const std::vector<std::uint8_t>&) {
  throw ImageDecodeError(path.string() + ": PNG needs a build with LOOKOUT_WITH_FFMPEG");
}
#endif

}  // namespace

ImageKind sniff_image(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<std::uint8_t, 8> head{};
  in.read(reinterpret_cast<char*>(head.data()), head.size());
  return kind_of(head.data(), static_cast<std::size_t>(in.gcount()));
}

std::shared_ptr<Frame> decode_image(const std::filesystem::path& path) {
  const auto bytes = read_file(path);
  switch (kind_of(bytes.data(), bytes.size())) {
    case ImageKind::Jpeg:
      return decode_jpeg(path, bytes);
    case ImageKind::Png:
      return decode_png(path, bytes);
    case ImageKind::Other:
      break;
  }
  throw ImageDecodeError(path.string() + ": not a JPEG or PNG image");
}

}  // namespace lookout
