#include "preprocess.hpp"

#include <libyuv.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <string>

namespace lookout::engine {

namespace {

// v / 255 exactly as ultralytics computes it (float32 division), as a table so
// the per-pixel loop is a load instead of a division.
const std::array<float, 256>& unit_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int i = 0; i < 256; ++i) t[static_cast<std::size_t>(i)] = static_cast<float>(i) / 255.0f;
    return t;
  }();
  return table;
}

// Luma as PIL's convert("L") computes it (ITU-R 601-2, fixed point).
inline std::uint8_t luma(std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  return static_cast<std::uint8_t>((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);
}

void check(int status, const char* what) {
  if (status != 0)
    throw std::invalid_argument(std::string("preprocess: libyuv ") + what + " failed");
}

int as_int(std::size_t v) {
  return static_cast<int>(v);
}

std::uint8_t* grow(std::vector<std::uint8_t>& buffer, std::size_t bytes) {
  if (buffer.size() < bytes) buffer.resize(bytes);
  return buffer.data();
}

}  // namespace

namespace {

// Where value (channel c, row y, column x) of the input goes: planar
// [C, H, W] (NCHW tensors) or interleaved [H, W, C] (channels-last tensors,
// which XNNPACK convolutions take without a transposing copy).
struct Layout {
  std::size_t width;  // input width
  std::size_t plane;  // input width * height
  std::size_t channels;
  bool nhwc;
  std::size_t pixel() const { return nhwc ? channels : 1; }
  std::size_t channel() const { return nhwc ? 1 : plane; }
  std::size_t at(std::size_t c, std::size_t y, std::size_t x) const {
    return nhwc ? (y * width + x) * channels + c : c * plane + y * width + x;
  }
};

Layout layout_of(const Letterbox& box, int channels, bool nhwc) {
  const auto w = static_cast<std::size_t>(box.input_width);
  return {w, w * static_cast<std::size_t>(box.input_height), static_cast<std::size_t>(channels),
          nhwc};
}

// Fills the letterbox's padding: the bands above and below, then left and
// right of each image row.
void fill_padding(const Letterbox& box, const Layout& l, int pad_value, float* dst) {
  const float pad = unit_table()[static_cast<std::size_t>(pad_value)];
  const std::size_t in_h = static_cast<std::size_t>(box.input_height);
  const std::size_t sw = static_cast<std::size_t>(box.scaled_width);
  const std::size_t sh = static_cast<std::size_t>(box.scaled_height);
  const std::size_t left = static_cast<std::size_t>(box.left);
  const std::size_t top = static_cast<std::size_t>(box.top);
  // Runs of pixels in one row are contiguous in both layouts (all channels
  // of them when interleaved), so each run is one fill per plane.
  const std::size_t planes = l.nhwc ? 1 : l.channels;
  const std::size_t per_pixel = l.nhwc ? l.channels : 1;
  const auto run = [&](std::size_t y, std::size_t x0, std::size_t x1) {
    for (std::size_t c = 0; c < planes; ++c) {
      float* p = dst + l.at(c, y, x0);
      std::fill(p, p + (x1 - x0) * per_pixel, pad);
    }
  };
  for (std::size_t y = 0; y < in_h; ++y) {
    if (y < top || y >= top + sh) {
      run(y, 0, l.width);
    } else {
      run(y, 0, left);
      run(y, left + sw, l.width);
    }
  }
}

// Three 8-bit planes (R, G, B) of the scaled size into the float input.
void planes_to_input(const std::uint8_t* const rgb[3], std::size_t stride, const Letterbox& box,
                     const Layout& l, int pad_value, float* dst) {
  fill_padding(box, l, pad_value, dst);
  const auto& unit = unit_table();
  const std::size_t sw = static_cast<std::size_t>(box.scaled_width);
  const std::size_t sh = static_cast<std::size_t>(box.scaled_height);
  const std::size_t ps = l.pixel(), cs = l.channel();
  for (std::size_t y = 0; y < sh; ++y) {
    float* out =
        dst + l.at(0, static_cast<std::size_t>(box.top) + y, static_cast<std::size_t>(box.left));
    if (l.channels == 3 && ps == 1) {
      for (std::size_t c = 0; c < 3; ++c) {
        const std::uint8_t* s = rgb[c] + y * stride;
        float* o = out + c * cs;
        for (std::size_t x = 0; x < sw; ++x) o[x] = unit[s[x]];
      }
    } else if (l.channels == 3) {  // interleaved: one sequential pass
      const std::uint8_t* r = rgb[0] + y * stride;
      const std::uint8_t* g = rgb[1] + y * stride;
      const std::uint8_t* b = rgb[2] + y * stride;
      for (std::size_t x = 0; x < sw; ++x) {
        out[3 * x] = unit[r[x]];
        out[3 * x + 1] = unit[g[x]];
        out[3 * x + 2] = unit[b[x]];
      }
    } else {
      const std::uint8_t* r = rgb[0] + y * stride;
      const std::uint8_t* g = rgb[1] + y * stride;
      const std::uint8_t* b = rgb[2] + y * stride;
      for (std::size_t x = 0; x < sw; ++x) out[x] = unit[luma(r[x], g[x], b[x])];
    }
  }
}

// Packed 8-bit pixels (3 bytes RGB or BGR, or 1 byte grey) of the scaled size
// into the float input.
void pack_to_input(const std::uint8_t* src, std::size_t src_stride, int bytes_per_pixel, bool bgr,
                   const Letterbox& box, const Layout& l, int pad_value, float* dst) {
  fill_padding(box, l, pad_value, dst);
  const auto& unit = unit_table();
  const std::size_t sw = static_cast<std::size_t>(box.scaled_width);
  const std::size_t sh = static_cast<std::size_t>(box.scaled_height);
  const std::size_t ps = l.pixel(), cs = l.channel();
  const std::size_t ir = bgr ? 2 : 0;
  const std::size_t ib = bgr ? 0 : 2;
  for (std::size_t y = 0; y < sh; ++y) {
    const std::uint8_t* s = src + y * src_stride;
    float* r =
        dst + l.at(0, static_cast<std::size_t>(box.top) + y, static_cast<std::size_t>(box.left));
    if (l.channels == 3 && bytes_per_pixel == 3) {
      float* g = r + cs;
      float* b = g + cs;
      for (std::size_t x = 0; x < sw; ++x) {
        r[x * ps] = unit[s[3 * x + ir]];
        g[x * ps] = unit[s[3 * x + 1]];
        b[x * ps] = unit[s[3 * x + ib]];
      }
    } else if (l.channels == 3) {  // grey to RGB
      float* g = r + cs;
      float* b = g + cs;
      for (std::size_t x = 0; x < sw; ++x) r[x * ps] = g[x * ps] = b[x * ps] = unit[s[x]];
    } else if (bytes_per_pixel == 3) {  // RGB to grey
      for (std::size_t x = 0; x < sw; ++x) {
        r[x] = unit[luma(s[3 * x + ir], s[3 * x + 1], s[3 * x + ib])];
      }
    } else {
      for (std::size_t x = 0; x < sw; ++x) r[x] = unit[s[x]];
    }
  }
}

// Packed RGB/BGR downscaled by exactly 1/2 or 1/3 in both directions, straight
// into the float input: no channel split, no intermediate image. Identical to
// libyuv's ScalePlane(kFilterBilinear), which the general path uses (tested):
// at 1/2 it averages each 2x2 block, (a + b + c + d + 2) >> 2 (its Down2 box
// rows); at 1/3 pixel-centre sampling lands exactly on the middle pixel of
// each 3x3 block (weights 1 and 0), so it reads only that pixel.
void pack_downscaled_to_input(const std::uint8_t* src, std::size_t src_stride, int factor, bool bgr,
                              const Letterbox& box, const Layout& l, int pad_value, float* dst) {
  fill_padding(box, l, pad_value, dst);
  const auto& unit = unit_table();
  const std::size_t sw = static_cast<std::size_t>(box.scaled_width);
  const std::size_t sh = static_cast<std::size_t>(box.scaled_height);
  const std::size_t ps = l.pixel(), cs = l.channel();
  const std::size_t ir = bgr ? 2 : 0;
  const std::size_t ib = bgr ? 0 : 2;
  const std::size_t row_bytes = sw * static_cast<std::size_t>(factor) * 3;
  std::uint8_t px[3];
  for (std::size_t y = 0; y < sh; ++y) {
    float* r =
        dst + l.at(0, static_cast<std::size_t>(box.top) + y, static_cast<std::size_t>(box.left));
    float* g = r + cs;
    float* b = g + cs;
    const std::uint8_t* row0 = src + (factor == 3 ? 3 * y + 1 : 2 * y) * src_stride;
    const std::uint8_t* row1 = row0 + src_stride;
    if (y + 2 < sh) {
      // The frame comes from memory, not cache (the forward pass evicted it):
      // ask for the rows two outputs ahead, which the prefetchers don't
      // foresee across the skipped rows (-10 % in `lookout bench`).
      const std::uint8_t* ahead = row0 + 2 * factor * src_stride;
      for (std::size_t k = 0; k < row_bytes; k += 64) __builtin_prefetch(ahead + k);
      if (factor == 2) {
        for (std::size_t k = 0; k < row_bytes; k += 64) __builtin_prefetch(ahead + src_stride + k);
      }
    }
    for (std::size_t x = 0; x < sw; ++x) {
      if (factor == 3) {
        const std::uint8_t* q = row0 + (3 * x + 1) * 3;
        px[0] = q[ir];
        px[1] = q[1];
        px[2] = q[ib];
      } else {
        const std::uint8_t* q0 = row0 + 6 * x;
        const std::uint8_t* q1 = row1 + 6 * x;
        const auto avg = [&](std::size_t c) {
          return static_cast<std::uint8_t>((q0[c] + q0[c + 3] + q1[c] + q1[c + 3] + 2) >> 2);
        };
        px[0] = avg(ir);
        px[1] = avg(1);
        px[2] = avg(ib);
      }
      if (l.channels == 3) {
        r[x * ps] = unit[px[0]];
        g[x * ps] = unit[px[1]];
        b[x * ps] = unit[px[2]];
      } else {
        r[x] = unit[luma(px[0], px[1], px[2])];
      }
    }
  }
}

}  // namespace

void pack_to_planar(const std::uint8_t* src, std::size_t src_stride, int bytes_per_pixel, bool bgr,
                    const Letterbox& box, int channels, int pad_value, float* dst) {
  pack_to_input(src, src_stride, bytes_per_pixel, bgr, box, layout_of(box, channels, false),
                pad_value, dst);
}

Preprocessor::Preprocessor(bool integer_fast_paths) : integer_fast_paths_(integer_fast_paths) {}

Preprocessor::~Preprocessor() = default;

const Frame& Preprocessor::decode(const Frame& frame) {
  if (frame.format != PixelFormat::MJPEG) return frame;
  const Plane& in = frame.planes[0];
  if (in.data == nullptr || in.size == 0) throw std::invalid_argument("JPEG frame is empty");
  // JpegError is a std::runtime_error: not being able to create a decompressor
  // (out of memory) is not the frame's fault.
  if (!jpeg_) jpeg_.emplace();
  jpeg::Header header;
  try {
    header = jpeg_->header(in.data, in.size);
  } catch (const jpeg::JpegError& e) {
    throw std::invalid_argument("not a readable JPEG: " + e.reason());
  }
  const int width = header.width, height = header.height;
  // Before decoding: a small frame may declare a huge picture.
  if (const auto problem = frame_size_problem(width, height)) throw std::invalid_argument(*problem);
  if ((frame.width != 0 && frame.width != width) || (frame.height != 0 && frame.height != height)) {
    throw std::invalid_argument("JPEG is " + std::to_string(width) + "x" + std::to_string(height) +
                                " but the frame says " + std::to_string(frame.width) + "x" +
                                std::to_string(frame.height));
  }
  const std::size_t stride = static_cast<std::size_t>(width) * 3;
  std::uint8_t* out = grow(decoded_, stride * static_cast<std::size_t>(height));
  // decode_rgb's default flags (accurate integer DCT, fancy upsampling) are
  // libjpeg's defaults, which OpenCV's and PIL's readers use. A warning (e.g.
  // a truncated frame) still gives a usable picture.
  try {
    jpeg_->decode_rgb(in.data, in.size, out, stride);
  } catch (const jpeg::JpegError& e) {
    throw std::invalid_argument("corrupt JPEG: " + e.reason());
  }
  decoded_frame_.format = PixelFormat::RGB24;
  decoded_frame_.width = width;
  decoded_frame_.height = height;
  decoded_frame_.planes = {};
  decoded_frame_.planes[0] = {out, stride, stride * static_cast<std::size_t>(height)};
  decoded_frame_.sequence = frame.sequence;
  decoded_frame_.capture_time = frame.capture_time;
  decoded_frame_.capture_steady = frame.capture_steady;
  return decoded_frame_;
}

void Preprocessor::run(const Frame& frame, const Letterbox& box, int channels, int pad_value,
                       float* dst, bool nhwc) {
  const Layout layout = layout_of(box, channels, nhwc);
  if (frame.width != box.frame_width || frame.height != box.frame_height) {
    throw std::invalid_argument("frame is " + std::to_string(frame.width) + "x" +
                                std::to_string(frame.height) + ", letterbox expects " +
                                std::to_string(box.frame_width) + "x" +
                                std::to_string(box.frame_height));
  }
  if (frame.format == PixelFormat::MJPEG) {
    throw std::invalid_argument("MJPEG frames must be decoded before preprocessing");
  }
  if (const std::string problem = validate_layout(frame); !problem.empty()) {
    throw std::invalid_argument(std::string(to_string(frame.format)) + " frame: " + problem);
  }
  // libyuv asserts (aborts the process) on a zero-sized scale: the box must
  // fit the input, whatever the frame's shape.
  if (box.scaled_width < 1 || box.scaled_height < 1 || box.left < 0 || box.top < 0 ||
      box.left + box.scaled_width > box.input_width ||
      box.top + box.scaled_height > box.input_height) {
    throw std::invalid_argument("letterbox " + std::to_string(box.scaled_width) + "x" +
                                std::to_string(box.scaled_height) + " at (" +
                                std::to_string(box.left) + "," + std::to_string(box.top) +
                                ") does not fit the input " + std::to_string(box.input_width) +
                                "x" + std::to_string(box.input_height));
  }
  const int w = frame.width;
  const int h = frame.height;
  const int sw = box.scaled_width;
  const int sh = box.scaled_height;
  const bool resize = sw != w || sh != h;
  const auto usw = static_cast<std::size_t>(sw);
  const auto ush = static_cast<std::size_t>(sh);
  const Plane* p = frame.planes.data();

  switch (frame.format) {
    case PixelFormat::RGB24:
    case PixelFormat::BGR24: {
      const bool bgr = frame.format == PixelFormat::BGR24;
      if (!resize) {
        pack_to_input(p[0].data, p[0].stride, 3, bgr, box, layout, pad_value, dst);
        return;
      }
      if (integer_fast_paths_ && (w == 2 * sw || w == 3 * sw) && w * sh == h * sw) {
        // 1280x720 or 1920x1080 to 640x360: exact 1/2 or 1/3. See
        // pack_downscaled_to_input for why this equals the general path.
        pack_downscaled_to_input(p[0].data, p[0].stride, w / sw, bgr, box, layout, pad_value, dst);
        return;
      }
      // libyuv scales packed 3-byte pixels only through ARGB, with coarser
      // weights and, when enlarging, corner-aligned sampling; its plane
      // scaler samples exactly as OpenCV's INTER_LINEAR (pixel centres,
      // rounded), which is what ultralytics' letterbox uses. So split the
      // channels once (the copy scaling needs) and scale each plane.
      const std::size_t full = static_cast<std::size_t>(w) * static_cast<std::size_t>(h);
      const std::size_t scaled = usw * ush;
      std::uint8_t* split = grow(yuv_, 3 * full);
      std::uint8_t* out = grow(rgb_, 3 * scaled);
      libyuv::SplitRGBPlane(p[0].data, as_int(p[0].stride), split, w, split + full, w,
                            split + 2 * full, w, w, h);
      const std::uint8_t* planes[3] = {out + (bgr ? 2 : 0) * scaled, out + scaled,
                                       out + (bgr ? 0 : 2) * scaled};
      for (int c = 0; c < 3; ++c) {
        libyuv::ScalePlane(split + static_cast<std::size_t>(c) * full, w, w, h,
                           out + static_cast<std::size_t>(c) * scaled, sw, sw, sh,
                           libyuv::kFilterBilinear);
      }
      planes_to_input(planes, usw, box, layout, pad_value, dst);
      return;
    }
    case PixelFormat::GRAY8: {
      const std::uint8_t* src = p[0].data;
      std::size_t stride = p[0].stride;
      if (resize) {
        std::uint8_t* out = grow(rgb_, usw * ush);
        libyuv::ScalePlane(src, as_int(stride), w, h, out, sw, sw, sh, libyuv::kFilterBilinear);
        src = out;
        stride = usw;
      }
      pack_to_input(src, stride, 1, false, box, layout, pad_value, dst);
      return;
    }
    case PixelFormat::I420: {
      const std::uint8_t* y = p[0].data;
      const std::uint8_t* u = p[1].data;
      const std::uint8_t* v = p[2].data;
      int ys = as_int(p[0].stride), us = as_int(p[1].stride), vs = as_int(p[2].stride);
      if (resize) {
        const int cw = (sw + 1) / 2, ch = (sh + 1) / 2;
        const std::size_t luma_bytes = usw * ush;
        const std::size_t chroma_bytes =
            static_cast<std::size_t>(cw) * static_cast<std::size_t>(ch);
        std::uint8_t* out = grow(yuv_, luma_bytes + 2 * chroma_bytes);
        check(
            libyuv::I420Scale(y, ys, u, us, v, vs, w, h, out, sw, out + luma_bytes, cw,
                              out + luma_bytes + chroma_bytes, cw, sw, sh, libyuv::kFilterBilinear),
            "I420Scale");
        y = out;
        u = out + luma_bytes;
        v = u + chroma_bytes;
        ys = sw;
        us = vs = cw;
      }
      std::uint8_t* rgb = grow(rgb_, usw * 3 * ush);
      // libyuv's "RAW" is R, G, B in memory.
      check(libyuv::I420ToRAW(y, ys, u, us, v, vs, rgb, sw * 3, sw, sh), "I420ToRAW");
      pack_to_input(rgb, usw * 3, 3, false, box, layout, pad_value, dst);
      return;
    }
    case PixelFormat::NV12: {
      const std::uint8_t* y = p[0].data;
      const std::uint8_t* uv = p[1].data;
      int ys = as_int(p[0].stride), uvs = as_int(p[1].stride);
      if (!resize) {
        std::uint8_t* rgb = grow(rgb_, usw * 3 * ush);
        check(libyuv::NV12ToRAW(y, ys, uv, uvs, rgb, sw * 3, sw, sh), "NV12ToRAW");
        pack_to_input(rgb, usw * 3, 3, false, box, layout, pad_value, dst);
        return;
      }
      // libyuv's interleaved-UV scaler samples differently from its plane
      // scaler; de-interleave the (quarter-size) chroma and scale as I420.
      const int cw = (w + 1) / 2, ch = (h + 1) / 2;
      const std::size_t chroma = static_cast<std::size_t>(cw) * static_cast<std::size_t>(ch);
      const int scw = (sw + 1) / 2, sch = (sh + 1) / 2;
      const std::size_t scaled_chroma =
          static_cast<std::size_t>(scw) * static_cast<std::size_t>(sch);
      std::uint8_t* buf = grow(yuv_, 2 * chroma + usw * ush + 2 * scaled_chroma);
      std::uint8_t* u = buf;
      std::uint8_t* v = u + chroma;
      libyuv::SplitUVPlane(uv, uvs, u, cw, v, cw, cw, ch);
      std::uint8_t* sy = v + chroma;
      std::uint8_t* su = sy + usw * ush;
      std::uint8_t* sv = su + scaled_chroma;
      check(libyuv::I420Scale(y, ys, u, cw, v, cw, w, h, sy, sw, su, scw, sv, scw, sw, sh,
                              libyuv::kFilterBilinear),
            "I420Scale");
      std::uint8_t* rgb = grow(rgb_, usw * 3 * ush);
      check(libyuv::I420ToRAW(sy, sw, su, scw, sv, scw, rgb, sw * 3, sw, sh), "I420ToRAW");
      pack_to_input(rgb, usw * 3, 3, false, box, layout, pad_value, dst);
      return;
    }
    case PixelFormat::YUYV: {
      // libyuv cannot scale packed 4:2:2, so unpack it to planar I422 first
      // (the one copy this format needs), scale that, then convert.
      const int cw = (w + 1) / 2;
      const std::size_t luma_bytes = static_cast<std::size_t>(w) * static_cast<std::size_t>(h);
      const std::size_t chroma_bytes = static_cast<std::size_t>(cw) * static_cast<std::size_t>(h);
      const int scw = (sw + 1) / 2;
      const std::size_t scaled_bytes =
          resize ? usw * ush + 2 * static_cast<std::size_t>(scw) * ush : 0;
      std::uint8_t* planes = grow(yuv_, luma_bytes + 2 * chroma_bytes + scaled_bytes);
      std::uint8_t* y = planes;
      std::uint8_t* u = y + luma_bytes;
      std::uint8_t* v = u + chroma_bytes;
      check(libyuv::YUY2ToI422(p[0].data, as_int(p[0].stride), y, w, u, cw, v, cw, w, h),
            "YUY2ToI422");
      int ys = w, cs = cw;
      if (resize) {
        std::uint8_t* sy = v + chroma_bytes;
        std::uint8_t* su = sy + usw * ush;
        std::uint8_t* sv = su + static_cast<std::size_t>(scw) * ush;
        check(libyuv::I422Scale(y, ys, u, cs, v, cs, w, h, sy, sw, su, scw, sv, scw, sw, sh,
                                libyuv::kFilterBilinear),
              "I422Scale");
        y = sy;
        u = su;
        v = sv;
        ys = sw;
        cs = scw;
      }
      std::uint8_t* rgb = grow(rgb_, usw * 3 * ush);
      check(libyuv::I422ToRAW(y, ys, u, cs, v, cs, rgb, sw * 3, sw, sh), "I422ToRAW");
      pack_to_input(rgb, usw * 3, 3, false, box, layout, pad_value, dst);
      return;
    }
    case PixelFormat::MJPEG:
      break;
  }
  throw std::invalid_argument("unsupported pixel format " + std::string(to_string(frame.format)));
}

}  // namespace lookout::engine
