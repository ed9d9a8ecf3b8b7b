#include "activations.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace lookout::engine {

namespace {

// GCC/Clang vector extensions: 4 floats, NEON on aarch64, SSE on x86-64,
// from one portable source.
typedef float v4f __attribute__((vector_size(16)));
typedef std::int32_t v4i __attribute__((vector_size(16)));

inline v4f splat(float v) { return v4f{v, v, v, v}; }

inline v4f vmin(v4f a, v4f b) { return a < b ? a : b; }
inline v4f vmax(v4f a, v4f b) { return a > b ? a : b; }

// exp(t) for t in [-87, 88]: t = n ln2 + r with n = round(t / ln2),
// |r| <= ln2 / 2; exp(r) by its Taylor polynomial to degree 6; 2^n built in
// the exponent bits.
inline v4f exp4(v4f t) {
  const v4f magic = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  const v4f v = t * splat(1.44269504088896341f) + magic;
  const v4f n = v - magic;
  v4f r = t - n * splat(0.693145751953125f);  // ln2, high part (exact in float)
  r = r - n * splat(1.428606765330187e-06f);  // ln2, low part
  v4f p = splat(1.0f / 720);
  p = p * r + splat(1.0f / 120);
  p = p * r + splat(1.0f / 24);
  p = p * r + splat(1.0f / 6);
  p = p * r + splat(0.5f);
  p = p * r + splat(1.0f);
  p = p * r + splat(1.0f);
  const v4i bits = (__builtin_convertvector(n, v4i) + 127) << 23;
  v4f scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

inline v4f load(const float* p) {
  v4f v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline void store(float* p, v4f v) { std::memcpy(p, &v, sizeof v); }

// exp(-x) clamped so it neither overflows nor underflows to a denormal.
inline v4f exp_neg(v4f x) { return exp4(vmin(vmax(-x, splat(-87.0f)), splat(88.0f))); }

template <bool kSilu>
void apply(const float* in, float* out, std::size_t n) {
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const v4f x = load(in + i);
    const v4f s = splat(1.0f) / (splat(1.0f) + exp_neg(x));
    store(out + i, kSilu ? x * s : s);
  }
  if (i < n) {  // the tail through the same code, padded
    float tail[4] = {0, 0, 0, 0};
    std::memcpy(tail, in + i, (n - i) * sizeof(float));
    const v4f x = load(tail);
    const v4f s = splat(1.0f) / (splat(1.0f) + exp_neg(x));
    store(tail, kSilu ? x * s : s);
    std::memcpy(out + i, tail, (n - i) * sizeof(float));
  }
}

}  // namespace

void silu(const float* in, float* out, std::size_t n) { apply<true>(in, out, n); }
void sigmoid(const float* in, float* out, std::size_t n) { apply<false>(in, out, n); }

}  // namespace lookout::engine
