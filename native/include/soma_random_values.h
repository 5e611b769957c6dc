/* The values of Soma's seeded random fills, shared by the CPU kernel (native/src/random.cpp) and the CUDA kernel
   (cuda-kernels/random.cu), so that both produce the same numbers bit for bit on any machine.

   Stream layout: key = (seed low 32 bits, seed high 32 bits); Philox4x32-10 block b has counter
   (b low, b high, stream low, stream high) and yields 4 words w0..w3.
     f32: block b covers elements 4b..4b+3, one word each.
     f64: block b covers elements 2b, 2b+1; element 2b+j uses the 64-bit value (w[2j+1] << 32 | w[2j]).
   Uniform: f32 u = (w >> 8) * 2^-24, f64 u = (v >> 11) * 2^-53, both in [0, 1); the value is
     fma(b - a, u, a) in double (rounded once more to float for f32).
   Normal: Box-Muller on consecutive pairs (elements 2k, 2k+1) with u1 = 1 - u (in (0, 1], so log is finite):
     z0 = r cos(2 pi u2), z1 = r sin(2 pi u2), r = sqrt(-2 log u1); the value is fma(b, z, a), all in double
     (rounded to float for f32).

   Why our own log, sin and cos: libm (glibc) and CUDA's libdevice round these differently in the last place, so
   a fill through them differs between CPU and GPU. The versions below use only IEEE operations that every
   target rounds the same way (+, -, *, /, sqrt, rint, explicit fma and bit moves), with every multiply-add written
   as fma so that no compiler can contract (or not contract) an expression differently. They are accurate to a
   few ulp in double, far inside what a random fill needs. */
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define SOMA_RV_FN __host__ __device__ __forceinline__
#else
#define SOMA_RV_FN inline
#endif

namespace soma_rv {

SOMA_RV_FN void philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1,
                              uint32_t out[4]) {
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = (uint64_t)0xD2511F53u * c0;
    const uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
    const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    c1 = (uint32_t)p1;
    c3 = (uint32_t)p0;
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

/* The four words of block b of (seed, stream). */
SOMA_RV_FN void block_at(uint64_t b, uint64_t seed, uint64_t stream, uint32_t w[4]) {
  philox4x32_10((uint32_t)b, (uint32_t)(b >> 32), (uint32_t)stream, (uint32_t)(stream >> 32), (uint32_t)seed,
                (uint32_t)(seed >> 32), w);
}

SOMA_RV_FN double fma_(double x, double y, double z) { return ::fma(x, y, z); }

SOMA_RV_FN uint64_t bits_of(double x) {
#if defined(__CUDA_ARCH__)
  return (uint64_t)__double_as_longlong(x);
#else
  uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
#endif
}

SOMA_RV_FN double double_of(uint64_t u) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double((long long)u);
#else
  double x;
  std::memcpy(&x, &u, sizeof x);
  return x;
#endif
}

/* log(x) for normal x > 0 (what Box-Muller passes: 1 - u >= 2^-53): x = f 2^e with f in [sqrt(1/2), sqrt(2)), log f = 2 atanh(s), s = (f - 1) / (f + 1),
   |s| <= 0.1716, as its series to s^23 (the next term is below 2^-60 relative). */
SOMA_RV_FN double log_(double x) {
  const uint64_t bits = bits_of(x);
  int e = (int)((bits >> 52) & 0x7ff) - 1022;
  double f = double_of((bits & 0x800fffffffffffffull) | 0x3fe0000000000000ull);  // f in [0.5, 1), x = f 2^e
  if (f < 0.70710678118654757) {
    f = f * 2.0;
    e -= 1;
  }
  const double s = (f - 1.0) / (f + 1.0);
  const double s2 = s * s;
  double q = 0.086956521739130432;
  q = fma_(q, s2, 0.095238095238095233);
  q = fma_(q, s2, 0.10526315789473684);
  q = fma_(q, s2, 0.11764705882352941);
  q = fma_(q, s2, 0.13333333333333333);
  q = fma_(q, s2, 0.15384615384615385);
  q = fma_(q, s2, 0.18181818181818182);
  q = fma_(q, s2, 0.22222222222222221);
  q = fma_(q, s2, 0.2857142857142857);
  q = fma_(q, s2, 0.40000000000000002);
  q = fma_(q, s2, 0.66666666666666663);
  const double two_s = s + s;
  const double lf = fma_(s * s2, q, two_s);
  const double k = (double)e;
  return fma_(k, 0.69314718036912382, fma_(k, 1.9082149292705877e-10, lf));  // ln 2 = hi + lo
}

/* sin and cos of t in [0, 2 pi] (what Box-Muller needs): t = q pi/2 + r with |r| <= pi/4, then the Taylor
   series of sin r to r^17 and cos r to r^18. */
SOMA_RV_FN void sincos_(double t, double* sin_out, double* cos_out) {
  const double q = ::rint(t * 0.63661977236758138);
  double r = fma_(-q, 1.5707963267948966, t);
  r = fma_(-q, 6.123233995736766e-17, r);
  const double r2 = r * r;
  double sp = 2.8114572543455206e-15;
  sp = fma_(sp, r2, -7.6471637318198164e-13);
  sp = fma_(sp, r2, 1.6059043836821613e-10);
  sp = fma_(sp, r2, -2.505210838544172e-08);
  sp = fma_(sp, r2, 2.7557319223985893e-06);
  sp = fma_(sp, r2, -0.00019841269841269841);
  sp = fma_(sp, r2, 0.0083333333333333332);
  sp = fma_(sp, r2, -0.16666666666666666);
  const double s = fma_(r * r2, sp, r);
  double cp = -1.5619206968586225e-16;
  cp = fma_(cp, r2, 4.7794773323873853e-14);
  cp = fma_(cp, r2, -1.1470745597729725e-11);
  cp = fma_(cp, r2, 2.08767569878681e-09);
  cp = fma_(cp, r2, -2.7557319223985888e-07);
  cp = fma_(cp, r2, 2.4801587301587302e-05);
  cp = fma_(cp, r2, -0.0013888888888888889);
  cp = fma_(cp, r2, 0.041666666666666664);
  cp = fma_(cp, r2, -0.5);
  const double c = fma_(r2, cp, 1.0);
  switch ((int)q & 3) {
    case 0: *sin_out = s; *cos_out = c; break;
    case 1: *sin_out = c; *cos_out = -s; break;
    case 2: *sin_out = -s; *cos_out = -c; break;
    default: *sin_out = -c; *cos_out = s; break;
  }
}

constexpr double kTwoPi = 6.283185307179586476925286766559;

/* A Box-Muller pair from two uniforms in [0, 1): r cos(2 pi u2), r sin(2 pi u2), r = sqrt(-2 log(1 - u1)). */
SOMA_RV_FN void box_muller(double u1, double u2, double* z0, double* z1) {
  const double r = ::sqrt(-2.0 * log_(1.0 - u1));
  double s, c;
  sincos_(kTwoPi * u2, &s, &c);
  *z0 = r * c;
  *z1 = r * s;
}

/* The four f32 values of one block (dist: 0 uniform, 1 normal, as soma_random_dist). */
SOMA_RV_FN void values_f32(const uint32_t w[4], int dist, double a, double b, float out[4]) {
  double u[4];
  for (int j = 0; j < 4; ++j) u[j] = (double)((float)(w[j] >> 8) * 0x1.0p-24f);
  if (dist == 0) {
    const double span = b - a;
    for (int j = 0; j < 4; ++j) out[j] = (float)fma_(span, u[j], a);
    return;
  }
  for (int j = 0; j < 4; j += 2) {
    double z0, z1;
    box_muller(u[j], u[j + 1], &z0, &z1);
    out[j] = (float)fma_(b, z0, a);
    out[j + 1] = (float)fma_(b, z1, a);
  }
}

/* The two f64 values of one block. */
SOMA_RV_FN void values_f64(const uint32_t w[4], int dist, double a, double b, double out[2]) {
  double u[2];
  for (int j = 0; j < 2; ++j) {
    const uint64_t v = ((uint64_t)w[2 * j + 1] << 32) | w[2 * j];
    u[j] = (double)(v >> 11) * 0x1.0p-53;
  }
  if (dist == 0) {
    const double span = b - a;
    out[0] = fma_(span, u[0], a);
    out[1] = fma_(span, u[1], a);
    return;
  }
  double z0, z1;
  box_muller(u[0], u[1], &z0, &z1);
  out[0] = fma_(b, z0, a);
  out[1] = fma_(b, z1, a);
}

}  // namespace soma_rv
