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
#include <limits>
#include <vector>

#include "core/jpeg.hpp"

namespace lookout {

namespace {

constexpr std::array<std::uint8_t, 3> kJpegMagic{0xFF, 0xD8, 0xFF};
constexpr std::array<std::uint8_t, 8> kPngMagic{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

bool is_space(std::uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

ImageKind kind_of(const std::uint8_t* data, std::size_t size) {
  if (size >= kPngMagic.size() && std::memcmp(data, kPngMagic.data(), kPngMagic.size()) == 0) {
    return ImageKind::Png;
  }
  if (size >= kJpegMagic.size() && std::memcmp(data, kJpegMagic.data(), kJpegMagic.size()) == 0) {
    return ImageKind::Jpeg;
  }
  // Netpbm: "P1".."P6", white space, comments, then the width's first digit
  // (PAM's "P7" has no decoder here). Text that starts "P1 is" is not one;
  // a comment longer than what was read cannot be told, and counts.
  if (size >= 3 && data[0] == 'P' && data[1] >= '1' && data[1] <= '6' && is_space(data[2])) {
    std::size_t i = 3;
    while (i < size) {
      if (is_space(data[i])) {
        ++i;
      } else if (data[i] == '#') {
        while (i < size && data[i] != '\n' && data[i] != '\r') ++i;
      } else {
        break;
      }
    }
    if (i == size || (data[i] >= '0' && data[i] <= '9')) return ImageKind::Netpbm;
    return ImageKind::Other;
  }
  // BMP: "BM", the file size, two reserved words, where the pixels start
  // (past the headers), then the size of the information header, one of the
  // few the format defines (core 12, OS/2 16 or 64, Windows 40, 52, 56,
  // 108, 124; FFmpeg decodes all but 16 and 52, which then count as corrupt
  // frames). Text that starts "BM" is not one.
  if (size >= 26 && data[0] == 'B' && data[1] == 'M') {
    const auto le32 = [&](std::size_t at) {
      return static_cast<std::uint32_t>(data[at]) | static_cast<std::uint32_t>(data[at + 1]) << 8 |
             static_cast<std::uint32_t>(data[at + 2]) << 16 |
             static_cast<std::uint32_t>(data[at + 3]) << 24;
    };
    const std::uint32_t info = le32(14);
    const std::uint32_t pixels = le32(10);
    const bool known = info == 12 || info == 16 || info == 40 || info == 52 || info == 56 ||
                       info == 64 || info == 108 || info == 124;
    if (known && pixels >= 14 + info) return ImageKind::Bmp;
    return ImageKind::Other;
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
// PNG, PPM/PGM/PBM and BMP: one picture per file, so the whole file is one
// packet for the decoder (no demuxer, hence no file or protocol access).
std::shared_ptr<Frame> decode_with_ffmpeg(const std::filesystem::path& path,
                                          const std::vector<std::uint8_t>& bytes, AVCodecID id,
                                          const char* what, DecodedColour colour) {
  ffmpeg::route_logs();
  const AVCodec* decoder = avcodec_find_decoder(id);
  if (decoder == nullptr) {
    throw ImageDecodeError(path.string() + ": this FFmpeg has no " + what + " decoder");
  }
  if (bytes.size() >
      static_cast<std::size_t>(std::numeric_limits<int>::max() - AV_INPUT_BUFFER_PADDING_SIZE)) {
    throw ImageDecodeError(path.string() + ": file too large for one picture");
  }
  ffmpeg::CodecContextPtr codec(avcodec_alloc_context3(decoder));
  if (!codec) throw std::bad_alloc();
  const ffmpeg::PacketPtr packet = ffmpeg::alloc_packet();
  const ffmpeg::AvFramePtr picture = ffmpeg::alloc_frame();
  codec->thread_count = 1;
  // FFmpeg refuses larger pictures from their header, before decoding (a
  // 31 KB PNG may declare 16000x16000).
  codec->max_pixels = kMaxFramePixels;
  int error = avcodec_open2(codec.get(), decoder, nullptr);
  if (error < 0) throw ImageDecodeError(path.string() + ": " + ffmpeg::error_text(error));
  // A padded copy: decoders may read up to AV_INPUT_BUFFER_PADDING_SIZE bytes
  // past the end of a packet (FFmpeg's rule for packet buffers).
  error = av_new_packet(packet.get(), static_cast<int>(bytes.size()));
  if (error < 0) throw std::bad_alloc();
  if (!bytes.empty()) std::memcpy(packet->data, bytes.data(), bytes.size());
  error = avcodec_send_packet(codec.get(), packet.get());
  if (error >= 0) error = avcodec_send_packet(codec.get(), nullptr);  // flush: one picture
  if (error >= 0) error = avcodec_receive_frame(codec.get(), picture.get());
  if (error < 0) {
    throw ImageDecodeError(path.string() + ": cannot decode " + what + " (" +
                           ffmpeg::error_text(error) + ")");
  }
  if (const auto problem = frame_size_problem(picture->width, picture->height)) {
    throw ImageDecodeError(path.string() + ": " + *problem);
  }
  try {
    if (colour == DecodedColour::Rgb24OrGray8 && picture->format == AV_PIX_FMT_GRAY8) {
      auto frame = Frame::allocate(PixelFormat::GRAY8, picture->width, picture->height);
      for (int y = 0; y < picture->height; ++y) {
        std::memcpy(frame->mutable_plane(0) + y * frame->planes[0].stride,
                    picture->data[0] + static_cast<std::ptrdiff_t>(y) * picture->linesize[0],
                    static_cast<std::size_t>(picture->width));
      }
      return frame;
    }
    // Grey, palette, 16-bit, 1-bit and alpha (dropped) all become RGB24.
    ffmpeg::ScalerPtr scaler;
    return ffmpeg::to_rgb24(*picture, scaler);
  } catch (const std::exception& e) {
    throw ImageDecodeError(path.string() + ": " + e.what());
  }
}

std::shared_ptr<Frame> decode_netpbm(const std::filesystem::path& path,
                                     const std::vector<std::uint8_t>& bytes, DecodedColour colour) {
  switch (bytes[1]) {
    case '1':
    case '4':
      return decode_with_ffmpeg(path, bytes, AV_CODEC_ID_PBM, "PBM", colour);
    case '2':
    case '5':
      return decode_with_ffmpeg(path, bytes, AV_CODEC_ID_PGM, "PGM", colour);
    default:
      return decode_with_ffmpeg(path, bytes, AV_CODEC_ID_PPM, "PPM", colour);
  }
}
#endif

}  // namespace

ImageKind sniff_image(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<std::uint8_t, 32> head{};  // enough for every kind_of check
  in.read(reinterpret_cast<char*>(head.data()), head.size());
  return kind_of(head.data(), static_cast<std::size_t>(in.gcount()));
}

std::shared_ptr<Frame> decode_image(const std::filesystem::path& path, DecodedColour colour) {
  return decode_image_bytes(read_file(path), path, colour);
}

std::shared_ptr<Frame> decode_image_bytes(const std::vector<std::uint8_t>& bytes,
                                          const std::filesystem::path& name, DecodedColour colour) {
  const ImageKind kind = kind_of(bytes.data(), bytes.size());
  switch (kind) {
    case ImageKind::Jpeg:
      return decode_jpeg(name, bytes);
    case ImageKind::Png:
    case ImageKind::Netpbm:
    case ImageKind::Bmp:
#if LOOKOUT_WITH_FFMPEG
      if (kind == ImageKind::Png) {
        return decode_with_ffmpeg(name, bytes, AV_CODEC_ID_PNG, "PNG", colour);
      }
      if (kind == ImageKind::Bmp) {
        return decode_with_ffmpeg(name, bytes, AV_CODEC_ID_BMP, "BMP", colour);
      }
      return decode_netpbm(name, bytes, colour);
#else
      (void)colour;
      throw ImageDecodeError(name.string() + ": " + std::string(enum_name(kind)) +
                             " needs a build with LOOKOUT_WITH_FFMPEG (JPEG always works)");
#endif
    case ImageKind::Other:
      break;
  }
  throw ImageDecodeError(name.string() + ": not a JPEG, PNG, PPM/PGM or BMP image");
}

}  // namespace lookout
