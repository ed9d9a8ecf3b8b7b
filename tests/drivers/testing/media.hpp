// Test helpers for the drivers: temporary directories and real media files
// (JPEG via libturbojpeg; PNG and video via libavcodec/libavformat)
// written at test time, so the sources read files no different from a user's.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/frame.hpp"

namespace lookout::test {

// A fresh directory under the system temp dir, removed with its contents.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Packed RGB24 test picture: four solid quadrants (red, green, blue, white
// over a grey `shade`), so decoders can be checked pixel by pixel.
std::vector<std::uint8_t> quadrants(int width, int height, std::uint8_t shade = 128);

void write_jpeg(const std::filesystem::path& path, const std::vector<std::uint8_t>& rgb, int width,
                int height, int quality = 95);
std::vector<std::uint8_t> encode_jpeg(const std::vector<std::uint8_t>& rgb, int width, int height,
                                      int quality = 95);

// channels: 1 (grey), 3 (RGB) or 4 (RGBA). Needs FFmpeg.
void write_png(const std::filesystem::path& path, const std::vector<std::uint8_t>& pixels,
               int width, int height, int channels = 3);

// Binary PPM (P6) of packed RGB24, and an uncompressed 24-bit BMP (bottom-up
// rows of B,G,R padded to 4 bytes), written byte by byte as their specs say
// so the decoders are checked against files no lookout code made.
std::string encode_ppm(const std::vector<std::uint8_t>& rgb, int width, int height);
std::string encode_bmp(const std::vector<std::uint8_t>& rgb, int width, int height);

void write_bytes(const std::filesystem::path& path, const std::string& bytes);
std::string read_bytes(const std::filesystem::path& path);

// A mono 16-bit PCM WAV file of `samples` silent samples: a real media file
// FFmpeg opens, with an audio stream and no video.
void write_wav(const std::filesystem::path& path, int samples, int rate = 8000);

// Writes a video of `count` frames; frame i is filled with the colour
// video_colour(i). codec "mpeg4" (yuv420p) or "mjpeg" (full-range yuvj420p);
// the container follows the file extension (.avi, .mkv).
struct Yuv {
  std::uint8_t y, u, v;
};
Yuv video_colour(int index);
void write_video(const std::filesystem::path& path, const std::string& codec, int width, int height,
                 int count, int fps = 25);
// An HLS rendition (a VOD playlist and one-second MPEG-TS segments beside
// it) of the same kind of video, H.264 where FFmpeg has libx264 (else MPEG-4
// part 2). Returns the decoder that reads it ("h264" or "mpeg4").
std::string write_hls(const std::filesystem::path& playlist, int width, int height, int count,
                      int fps = 10);

// Mean of each channel of an RGB24/BGR24 frame, or of Y/U/V for I420/NV12.
std::vector<double> channel_means(const Frame& frame);

}  // namespace lookout::test
