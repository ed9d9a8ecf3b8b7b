#include "drivers/image_decoder.hpp"

#if LOOKOUT_WITH_FFMPEG
extern "C" {
#include <libavcodec/avcodec.h>
}

#include "files/ffmpeg_util.hpp"
#endif

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "core/jpeg.hpp"

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

// A decompressor, failing (out of memory) as sources fail.
jpeg::Decompressor make_decompressor() {
  try {
    return jpeg::Decompressor();
  } catch (const jpeg::JpegError& e) {
    throw ImageDecodeError(e.what());
  }
}

std::shared_ptr<Frame> decode_jpeg(const std::filesystem::path& path,
                                   const std::vector<std::uint8_t>& bytes) {
  jpeg::Decompressor tj = make_decompressor();
  jpeg::Header header;
  try {
    header = tj.header(bytes.data(), bytes.size());
  } catch (const jpeg::JpegError& e) {
    throw ImageDecodeError(path.string() + ": not a valid JPEG (" + e.reason() + ")");
  }
  // Before anything is allocated: a few hundred bytes may declare 65500x65500.
  if (const auto problem = frame_size_problem(header.width, header.height)) {
    throw ImageDecodeError(path.string() + ": " + *problem);
  }
  std::shared_ptr<Frame> frame;
  try {
    frame = Frame::allocate(PixelFormat::RGB24, header.width, header.height);
  } catch (const std::exception& e) {
    throw ImageDecodeError(path.string() + ": " + e.what());
  }
  try {
    // A warning (e.g. a truncated file) still yields a usable image.
    tj.decode_rgb(bytes.data(), bytes.size(), frame->mutable_plane(0), frame->planes[0].stride);
  } catch (const jpeg::JpegError& e) {
    throw ImageDecodeError(path.string() + ": cannot decode JPEG (" + e.reason() + ")");
  }
  return frame;
}

#if LOOKOUT_WITH_FFMPEG
std::shared_ptr<Frame> decode_png(const std::filesystem::path& path,
                                  const std::vector<std::uint8_t>& bytes) {
  ffmpeg::route_logs();
  const AVCodec* png = avcodec_find_decoder(AV_CODEC_ID_PNG);
  if (png == nullptr) throw ImageDecodeError(path.string() + ": this FFmpeg has no PNG decoder");
  ffmpeg::CodecContextPtr codec(avcodec_alloc_context3(png));
  if (!codec) throw std::bad_alloc();
  const ffmpeg::PacketPtr packet = ffmpeg::alloc_packet();
  const ffmpeg::AvFramePtr picture = ffmpeg::alloc_frame();
  codec->thread_count = 1;
  // FFmpeg refuses larger pictures from their header, before decoding (a
  // 31 KB PNG may declare 16000x16000).
  codec->max_pixels = kMaxFramePixels;
  int error = avcodec_open2(codec.get(), png, nullptr);
  if (error < 0) throw ImageDecodeError(path.string() + ": " + ffmpeg::error_text(error));
  // The packet borrows `bytes`; send_packet copies what it keeps.
  packet->data = const_cast<std::uint8_t*>(bytes.data());
  packet->size = static_cast<int>(bytes.size());
  error = avcodec_send_packet(codec.get(), packet.get());
  if (error >= 0) error = avcodec_send_packet(codec.get(), nullptr);  // flush: one picture
  if (error >= 0) error = avcodec_receive_frame(codec.get(), picture.get());
  if (error < 0) {
    throw ImageDecodeError(path.string() + ": cannot decode PNG (" + ffmpeg::error_text(error) +
                           ")");
  }
  try {
    // Grey, palette, 16-bit and alpha (dropped) all become RGB24.
    ffmpeg::ScalerPtr scaler;
    return ffmpeg::to_rgb24(*picture, scaler);
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
  return decode_image_bytes(read_file(path), path);
}

std::shared_ptr<Frame> decode_image_bytes(const std::vector<std::uint8_t>& bytes,
                                          const std::filesystem::path& name) {
  switch (kind_of(bytes.data(), bytes.size())) {
    case ImageKind::Jpeg:
      return decode_jpeg(name, bytes);
    case ImageKind::Png:
      return decode_png(name, bytes);
    case ImageKind::Other:
      break;
  }
  throw ImageDecodeError(name.string() + ": not a JPEG or PNG image");
}

}  // namespace lookout
