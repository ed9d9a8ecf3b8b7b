#include "convert.hpp"

#include <libyuv.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace lookout::picture {

namespace {

// libyuv takes strides as int.
int as_int(std::size_t stride) {
  if (stride > static_cast<std::size_t>(INT_MAX)) {
    throw std::runtime_error("row stride " + std::to_string(stride) + " is too large for libyuv");
  }
  return static_cast<int>(stride);
}

void check(int status, const char* function) {
  if (status != 0) {
    throw std::runtime_error(std::string("libyuv ") + function + " failed (" +
                             std::to_string(status) + ")");
  }
}

std::size_t area(Size size) {
  return static_cast<std::size_t>(size.width) * static_cast<std::size_t>(size.height);
}

// Half a dimension, rounded up: the chroma size of a subsampled plane.
int half(int n) {
  return (n + 1) / 2;
}

// libyuv scales packed 3-byte pixels only through ARGB rows, with coarser
// weights; its plane scaler is exact. So packed R,G,B (or B,G,R when
// `swap`) is split into planes, each scaled, and merged back as R,G,B.
void scale_packed(const std::uint8_t* src, int src_stride, Size src_size, std::uint8_t* dst,
                  Size dst_size, bool swap) {
  const std::size_t in = area(src_size);
  const std::size_t out = area(dst_size);
  std::vector<std::uint8_t> buffer(3 * in + 3 * out);
  std::uint8_t* split[3] = {buffer.data(), buffer.data() + in, buffer.data() + 2 * in};
  std::uint8_t* small[3] = {split[2] + in, split[2] + in + out, split[2] + in + 2 * out};
  const int sw = src_size.width, dw = dst_size.width;
  libyuv::SplitRGBPlane(src, src_stride, split[0], sw, split[1], sw, split[2], sw, sw,
                        src_size.height);
  for (int c = 0; c < 3; ++c) {
    libyuv::ScalePlane(split[c], sw, sw, src_size.height, small[c], dw, dw, dst_size.height,
                       libyuv::kFilterBox);
  }
  libyuv::MergeRGBPlane(small[swap ? 2 : 0], dw, small[1], dw, small[swap ? 0 : 2], dw, dst, dw * 3,
                        dw, dst_size.height);
}

}  // namespace

Size fit_width(int width, int height, int target_width) {
  if (target_width <= 0 || target_width >= width) return {width, height};
  const double h = static_cast<double>(height) * target_width / width;
  return {target_width, std::max(1, static_cast<int>(std::lround(h)))};
}

void scale_rgb(const std::uint8_t* src, Size src_size, std::size_t src_stride, std::uint8_t* dst,
               Size dst_size) {
  if (dst_size.width == src_size.width && dst_size.height == src_size.height) {
    const auto row = static_cast<std::size_t>(src_size.width) * 3;
    for (int y = 0; y < src_size.height; ++y) {
      std::memcpy(dst + static_cast<std::size_t>(y) * row,
                  src + static_cast<std::size_t>(y) * src_stride, row);
    }
    return;
  }
  scale_packed(src, as_int(src_stride), src_size, dst, dst_size, false);
}

void convert_to_rgb(const Frame& frame, Size out_size, std::uint8_t* out) {
  const std::string format(to_string(frame.format));
  if (frame.format == PixelFormat::MJPEG) {
    throw std::runtime_error("MJPEG frames must be decoded before conversion");
  }
  if (const std::string problem = validate_layout(frame); !problem.empty()) {
    throw std::runtime_error(format + " frame: " + problem);
  }
  const int w = frame.width, h = frame.height;
  if (out_size.width <= 0 || out_size.height <= 0 || out_size.width > w || out_size.height > h) {
    throw std::runtime_error("cannot convert a " + std::to_string(w) + "x" + std::to_string(h) +
                             " frame to " + std::to_string(out_size.width) + "x" +
                             std::to_string(out_size.height));
  }
  const bool resize = out_size.width != w || out_size.height != h;
  const int dw = out_size.width, dh = out_size.height;
  const int out_stride = dw * 3;
  const Plane* p = frame.planes.data();
  const int s0 = as_int(p[0].stride);

  switch (frame.format) {
    case PixelFormat::RGB24:
      if (resize) {
        scale_packed(p[0].data, s0, {w, h}, out, out_size, false);
      } else {
        libyuv::CopyPlane(p[0].data, s0, out, out_stride, w * 3, h);
      }
      return;
    case PixelFormat::BGR24:
      if (resize) {
        scale_packed(p[0].data, s0, {w, h}, out, out_size, true);
      } else {
        // libyuv's "RGB24" is B,G,R in memory and its "RAW" R,G,B.
        check(libyuv::RGB24ToRAW(p[0].data, s0, out, out_stride, w, h), "RGB24ToRAW");
      }
      return;
    case PixelFormat::GRAY8: {
      const std::uint8_t* y = p[0].data;
      int ys = s0;
      std::vector<std::uint8_t> small;
      if (resize) {
        small.resize(area(out_size));
        libyuv::ScalePlane(y, ys, w, h, small.data(), dw, dw, dh, libyuv::kFilterBox);
        y = small.data();
        ys = dw;
      }
      // Grey as R = G = B (full range: the byte is the brightness).
      libyuv::MergeRGBPlane(y, ys, y, ys, y, ys, out, out_stride, dw, dh);
      return;
    }
    case PixelFormat::I420: {
      const std::uint8_t* y = p[0].data;
      const std::uint8_t* u = p[1].data;
      const std::uint8_t* v = p[2].data;
      int ys = s0, us = as_int(p[1].stride), vs = as_int(p[2].stride);
      std::vector<std::uint8_t> small;
      if (resize) {
        const int cw = half(dw);
        const std::size_t luma = area(out_size);
        const std::size_t chroma = area({cw, half(dh)});
        small.resize(luma + 2 * chroma);
        std::uint8_t* sy = small.data();
        std::uint8_t* su = sy + luma;
        std::uint8_t* sv = su + chroma;
        check(libyuv::I420Scale(y, ys, u, us, v, vs, w, h, sy, dw, su, cw, sv, cw, dw, dh,
                                libyuv::kFilterBox),
              "I420Scale");
        y = sy;
        u = su;
        v = sv;
        ys = dw;
        us = vs = cw;
      }
      check(libyuv::I420ToRAW(y, ys, u, us, v, vs, out, out_stride, dw, dh), "I420ToRAW");
      return;
    }
    case PixelFormat::NV12: {
      const std::uint8_t* y = p[0].data;
      const std::uint8_t* uv = p[1].data;
      int ys = s0, uvs = as_int(p[1].stride);
      std::vector<std::uint8_t> small;
      if (resize) {
        const std::size_t luma = area(out_size);
        const int uv_row = 2 * half(dw);
        small.resize(luma + area({uv_row, half(dh)}));
        std::uint8_t* sy = small.data();
        std::uint8_t* suv = sy + luma;
        // libyuv filters the interleaved chroma bilinearly (it has no box
        // filter for it); the luma gets the box filter.
        check(libyuv::NV12Scale(y, ys, uv, uvs, w, h, sy, dw, suv, uv_row, dw, dh,
                                libyuv::kFilterBox),
              "NV12Scale");
        y = sy;
        uv = suv;
        ys = dw;
        uvs = uv_row;
      }
      check(libyuv::NV12ToRAW(y, ys, uv, uvs, out, out_stride, dw, dh), "NV12ToRAW");
      return;
    }
    case PixelFormat::YUYV: {
      // libyuv cannot scale or convert packed 4:2:2 straight to R,G,B, so it
      // is unpacked to planar I422 first (the one full-size copy), then
      // scaled and converted.
      const int cw = half(w);
      const std::size_t luma = area({w, h});
      const std::size_t chroma = area({cw, h});
      const int dcw = half(dw);
      const std::size_t small_luma = resize ? area(out_size) : 0;
      const std::size_t small_chroma = resize ? area({dcw, dh}) : 0;
      std::vector<std::uint8_t> planes(luma + 2 * chroma + small_luma + 2 * small_chroma);
      std::uint8_t* y = planes.data();
      std::uint8_t* u = y + luma;
      std::uint8_t* v = u + chroma;
      check(libyuv::YUY2ToI422(p[0].data, s0, y, w, u, cw, v, cw, w, h), "YUY2ToI422");
      int ys = w, cs = cw;
      if (resize) {
        std::uint8_t* sy = v + chroma;
        std::uint8_t* su = sy + small_luma;
        std::uint8_t* sv = su + small_chroma;
        check(libyuv::I422Scale(y, ys, u, cs, v, cs, w, h, sy, dw, su, dcw, sv, dcw, dw, dh,
                                libyuv::kFilterBox),
              "I422Scale");
        y = sy;
        u = su;
        v = sv;
        ys = dw;
        cs = dcw;
      }
      check(libyuv::I422ToRAW(y, ys, u, cs, v, cs, out, out_stride, dw, dh), "I422ToRAW");
      return;
    }
    case PixelFormat::MJPEG:
      break;
  }
  throw std::runtime_error("cannot convert pixel format " + format);
}

}  // namespace lookout::picture
