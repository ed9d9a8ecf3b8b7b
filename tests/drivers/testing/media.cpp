#include "testing/media.hpp"

#if LOOKOUT_WITH_FFMPEG
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
}
#endif
#include <stdlib.h>
#include <turbojpeg.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace lookout::test {

ScratchDir::ScratchDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "lookout-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::vector<std::uint8_t> quadrants(int width, int height, std::uint8_t shade) {
  std::vector<std::uint8_t> rgb(static_cast<std::size_t>(width * height * 3));
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      std::uint8_t* p = &rgb[static_cast<std::size_t>((y * width + x) * 3)];
      const bool right = x >= width / 2, bottom = y >= height / 2;
      if (!right && !bottom) {
        p[0] = 220, p[1] = 30, p[2] = 30;
      } else if (right && !bottom) {
        p[0] = 30, p[1] = 200, p[2] = 40;
      } else if (!right && bottom) {
        p[0] = 40, p[1] = 50, p[2] = 210;
      } else {
        p[0] = p[1] = p[2] = shade;
      }
    }
  }
  return rgb;
}

std::vector<std::uint8_t> encode_jpeg(const std::vector<std::uint8_t>& rgb, int width, int height,
                                      int quality) {
  tjhandle tj = tjInitCompress();
  unsigned char* out = nullptr;
  unsigned long size = 0;
  const int r = tjCompress2(tj, rgb.data(), width, width * 3, height, TJPF_RGB, &out, &size,
                            TJSAMP_444, quality, 0);
  std::vector<std::uint8_t> bytes;
  if (r == 0) bytes.assign(out, out + size);
  tjFree(out);
  tjDestroy(tj);
  if (r != 0) throw std::runtime_error("tjCompress2 failed");
  return bytes;
}

void write_jpeg(const std::filesystem::path& path, const std::vector<std::uint8_t>& rgb, int width,
                int height, int quality) {
  const auto bytes = encode_jpeg(rgb, width, height, quality);
  write_bytes(path, std::string(bytes.begin(), bytes.end()));
}

std::string encode_ppm(const std::vector<std::uint8_t>& rgb, int width, int height) {
  std::string out =
      "P6\n# lookout test\n" + std::to_string(width) + " " + std::to_string(height) + "\n255\n";
  out.append(rgb.begin(), rgb.end());
  return out;
}

std::string encode_bmp(const std::vector<std::uint8_t>& rgb, int width, int height) {
  const int row = (width * 3 + 3) / 4 * 4;
  const std::uint32_t pixels = static_cast<std::uint32_t>(row) * static_cast<std::uint32_t>(height);
  std::string out;
  auto u16 = [&](std::uint32_t v) {
    out.push_back(static_cast<char>(v & 0xFF));
    out.push_back(static_cast<char>((v >> 8) & 0xFF));
  };
  auto u32 = [&](std::uint32_t v) {
    u16(v & 0xFFFF);
    u16(v >> 16);
  };
  out += "BM";
  u32(14 + 40 + pixels);  // file size
  u32(0);                 // reserved
  u32(14 + 40);           // pixel data offset
  u32(40);                // BITMAPINFOHEADER
  u32(static_cast<std::uint32_t>(width));
  u32(static_cast<std::uint32_t>(height));  // positive: bottom-up
  u16(1);                                   // planes
  u16(24);                                  // bits per pixel
  u32(0);                                   // BI_RGB
  u32(pixels);
  u32(2835);  // 72 dpi
  u32(2835);
  u32(0);
  u32(0);
  for (int y = height - 1; y >= 0; --y) {
    for (int x = 0; x < width; ++x) {
      const std::uint8_t* p = rgb.data() + (static_cast<std::size_t>(y) * width + x) * 3;
      out.push_back(static_cast<char>(p[2]));
      out.push_back(static_cast<char>(p[1]));
      out.push_back(static_cast<char>(p[0]));
    }
    out.append(static_cast<std::size_t>(row - width * 3), '\0');
  }
  return out;
}

void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

void write_wav(const std::filesystem::path& path, int samples, int rate) {
  std::string wav;
  const auto put = [&wav](std::uint32_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) wav += static_cast<char>((value >> (8 * i)) & 0xFF);
  };
  const auto data_bytes = static_cast<std::uint32_t>(samples) * 2;
  wav += "RIFF";
  put(36 + data_bytes, 4);
  wav += "WAVEfmt ";
  put(16, 4);                                    // fmt chunk size
  put(1, 2);                                     // PCM
  put(1, 2);                                     // mono
  put(static_cast<std::uint32_t>(rate), 4);      // sample rate
  put(static_cast<std::uint32_t>(rate) * 2, 4);  // byte rate
  put(2, 2);                                     // block align
  put(16, 2);                                    // bits per sample
  wav += "data";
  put(data_bytes, 4);
  wav.append(data_bytes, '\0');
  write_bytes(path, wav);
}

Yuv video_colour(int index) {
  // Well apart from each other and away from the clipping ends.
  return {static_cast<std::uint8_t>(40 + (index * 37) % 170),
          static_cast<std::uint8_t>(70 + (index * 53) % 110),
          static_cast<std::uint8_t>(180 - (index * 29) % 110)};
}

#if LOOKOUT_WITH_FFMPEG
namespace {

void check(int r, const char* what) {
  if (r < 0) {
    char text[AV_ERROR_MAX_STRING_SIZE] = {};
    av_strerror(r, text, sizeof text);
    throw std::runtime_error(std::string(what) + ": " + text);
  }
}

void drain(AVCodecContext* ctx, AVFormatContext* oc, AVStream* st, AVPacket* pkt) {
  for (;;) {
    const int r = avcodec_receive_packet(ctx, pkt);
    if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return;
    check(r, "avcodec_receive_packet");
    av_packet_rescale_ts(pkt, ctx->time_base, st->time_base);
    pkt->stream_index = st->index;
    check(av_interleaved_write_frame(oc, pkt), "av_interleaved_write_frame");
  }
}

}  // namespace

namespace {

void encode_video(const std::filesystem::path& path, const std::string& codec_name, int width,
                  int height, int count, int fps,
                  const std::vector<std::pair<std::string, std::string>>& muxer_options) {
  AVFormatContext* oc = nullptr;
  check(avformat_alloc_output_context2(&oc, nullptr, nullptr, path.c_str()), "output context");
  const AVCodec* codec = avcodec_find_encoder_by_name(codec_name.c_str());
  if (codec == nullptr) throw std::runtime_error("no encoder " + codec_name);
  AVStream* st = avformat_new_stream(oc, nullptr);
  AVCodecContext* ctx = avcodec_alloc_context3(codec);
  ctx->width = width;
  ctx->height = height;
  ctx->time_base = AVRational{1, fps};
  ctx->framerate = AVRational{fps, 1};
  ctx->gop_size = 5;
  const bool mjpeg = codec_name == "mjpeg";
  ctx->pix_fmt = mjpeg ? AV_PIX_FMT_YUVJ420P : AV_PIX_FMT_YUV420P;
  ctx->flags |= AV_CODEC_FLAG_QSCALE;
  ctx->global_quality = FF_QP2LAMBDA * 2;
  if ((oc->oformat->flags & AVFMT_GLOBALHEADER) != 0) ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  check(avcodec_open2(ctx, codec, nullptr), "avcodec_open2");
  check(avcodec_parameters_from_context(st->codecpar, ctx), "parameters");
  st->time_base = ctx->time_base;
  // Muxers that write files of their own (HLS: a playlist and segments) open them themselves.
  const bool own_files = (oc->oformat->flags & AVFMT_NOFILE) != 0;
  if (!own_files) check(avio_open(&oc->pb, path.c_str(), AVIO_FLAG_WRITE), "avio_open");
  AVDictionary* options = nullptr;
  for (const auto& [key, value] : muxer_options)
    av_dict_set(&options, key.c_str(), value.c_str(), 0);
  const int header = avformat_write_header(oc, &options);
  av_dict_free(&options);
  check(header, "write header");
  AVFrame* frame = av_frame_alloc();
  AVPacket* pkt = av_packet_alloc();
  frame->format = ctx->pix_fmt;
  frame->width = width;
  frame->height = height;
  check(av_frame_get_buffer(frame, 0), "frame buffer");
  for (int i = 0; i < count; ++i) {
    check(av_frame_make_writable(frame), "writable");
    const Yuv c = video_colour(i);
    for (int y = 0; y < height; ++y)
      std::memset(frame->data[0] + y * frame->linesize[0], c.y, width);
    for (int y = 0; y < height / 2; ++y) {
      std::memset(frame->data[1] + y * frame->linesize[1], c.u, width / 2);
      std::memset(frame->data[2] + y * frame->linesize[2], c.v, width / 2);
    }
    frame->pts = i;
    check(avcodec_send_frame(ctx, frame), "send frame");
    drain(ctx, oc, st, pkt);
  }
  check(avcodec_send_frame(ctx, nullptr), "flush");
  drain(ctx, oc, st, pkt);
  check(av_write_trailer(oc), "trailer");
  av_packet_free(&pkt);
  av_frame_free(&frame);
  avcodec_free_context(&ctx);
  if (!own_files) avio_closep(&oc->pb);
  avformat_free_context(oc);
}

}  // namespace

void write_video(const std::filesystem::path& path, const std::string& codec_name, int width,
                 int height, int count, int fps) {
  encode_video(path, codec_name, width, height, count, fps, {});
}

std::string write_hls(const std::filesystem::path& playlist, int width, int height, int count,
                      int fps) {
  // H.264 as IP cameras send it, where this FFmpeg has an encoder for it.
  const std::string codec =
      avcodec_find_encoder_by_name("libx264") != nullptr ? "libx264" : "mpeg4";
  encode_video(playlist, codec, width, height, count, fps,
               {{"hls_time", "1"}, {"hls_list_size", "0"}, {"hls_playlist_type", "vod"}});
  return codec == "libx264" ? "h264" : "mpeg4";
}
void write_png(const std::filesystem::path& path, const std::vector<std::uint8_t>& pixels,
               int width, int height, int channels) {
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
  if (codec == nullptr) throw std::runtime_error("no PNG encoder");
  AVCodecContext* ctx = avcodec_alloc_context3(codec);
  ctx->width = width;
  ctx->height = height;
  ctx->time_base = AVRational{1, 1};
  ctx->pix_fmt = channels == 1   ? AV_PIX_FMT_GRAY8
                 : channels == 4 ? AV_PIX_FMT_RGBA
                                 : AV_PIX_FMT_RGB24;
  check(avcodec_open2(ctx, codec, nullptr), "open PNG encoder");
  AVFrame* frame = av_frame_alloc();
  frame->format = ctx->pix_fmt;
  frame->width = width;
  frame->height = height;
  check(av_frame_get_buffer(frame, 0), "frame buffer");
  const std::size_t row = static_cast<std::size_t>(width * channels);
  for (int y = 0; y < height; ++y) {
    std::memcpy(frame->data[0] + y * frame->linesize[0], pixels.data() + y * row, row);
  }
  AVPacket* pkt = av_packet_alloc();
  check(avcodec_send_frame(ctx, frame), "send frame");
  check(avcodec_send_frame(ctx, nullptr), "flush");
  check(avcodec_receive_packet(ctx, pkt), "receive packet");
  write_bytes(path, std::string(reinterpret_cast<const char*>(pkt->data),
                                static_cast<std::size_t>(pkt->size)));
  av_packet_free(&pkt);
  av_frame_free(&frame);
  avcodec_free_context(&ctx);
}
#else
void write_video(const std::filesystem::path&, const std::string&, int, int, int, int) {
  throw std::runtime_error("write_video: built without FFmpeg");
}
void write_png(const std::filesystem::path&, const std::vector<std::uint8_t>&, int, int, int) {
  throw std::runtime_error("write_png: built without FFmpeg");
}
#endif

std::vector<double> channel_means(const Frame& frame) {
  std::vector<double> sums;
  const auto mean_plane = [](const Plane& p, int row_bytes, int rows, int step, int offset) {
    double sum = 0;
    long n = 0;
    for (int y = 0; y < rows; ++y) {
      for (int x = offset; x < row_bytes; x += step) {
        sum += p.data[static_cast<std::size_t>(y) * p.stride + static_cast<std::size_t>(x)];
        ++n;
      }
    }
    return sum / static_cast<double>(n);
  };
  switch (frame.format) {
    case PixelFormat::RGB24:
    case PixelFormat::BGR24:
      for (int c = 0; c < 3; ++c)
        sums.push_back(mean_plane(frame.planes[0], frame.width * 3, frame.height, 3, c));
      break;
    case PixelFormat::I420:
      sums.push_back(mean_plane(frame.planes[0], frame.width, frame.height, 1, 0));
      sums.push_back(mean_plane(frame.planes[1], frame.width / 2, frame.height / 2, 1, 0));
      sums.push_back(mean_plane(frame.planes[2], frame.width / 2, frame.height / 2, 1, 0));
      break;
    case PixelFormat::NV12:
      sums.push_back(mean_plane(frame.planes[0], frame.width, frame.height, 1, 0));
      sums.push_back(mean_plane(frame.planes[1], frame.width, frame.height / 2, 2, 0));
      sums.push_back(mean_plane(frame.planes[1], frame.width, frame.height / 2, 2, 1));
      break;
    default:
      throw std::runtime_error("channel_means: unsupported format");
  }
  return sums;
}

}  // namespace lookout::test
