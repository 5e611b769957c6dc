// Winograd convolution F(m x m, r x r) for float32, stride 1 and no dilation, over NHWC data and HWIO kernels
// (the layouts of conv.cpp). Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (2015):
//   Y = AT [ (G g G^T) . (BT d BT^T) ] AT^T   per m x m output tile, d its (m + r - 1)^2 input tile.
// With alpha = m + r - 1, the products run as alpha^2 independent GEMMs over channels, m^2 r^2 / alpha^2 times
// fewer multiplications than direct convolution (6.25x for F(4x4, 5x5)); a 5x5 convolution that oneDNN already
// runs at the f32 FMA peak can only get faster this way (docs/cpu-performance.md).
//
// Both backward passes are the exact transposes of the forward's linear maps, so gradients are those of the
// computed forward:
//   data:    dM = AT^T dY AT,  dV = U^T dM (per point, over output channels),  dd = BT^T dV BT (scatter-added)
//   weights: dU = sum over tiles of V dM^T (per point),  dg = G^T dU G
// Tiles are processed in blocks small enough for the transformed block to stay in the core's L2 cache; each
// thread owns its blocks' scratch (in the workspace Java allocates, see soma.h), the GEMMs are the register-tiled
// kernels of attention_gemm.cpp (AVX-512 where the CPU has it, AVX2 otherwise).
#include "soma.h"
#include "attention_gemm.h"
#include "conv_geom.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

namespace {

using Geom = soma::ConvGeom;
constexpr int kMaxAlpha = 8;
constexpr int64_t kLanes = 8;   // the transforms' vector width (the baseline AVX2); channels are padded to it
constexpr int64_t kAlign = 16;  // floats: each scratch region starts on a 64-byte line

// The transform matrices of F(m x m, r x r), from the interpolation points 0, 1, -1, 2, -2, 1/2, -1/2 and
// infinity (small integers first: they keep the float32 error near that of direct convolution).
struct Transforms {
  int m = 0, r = 0, a = 0;
  float at[kMaxAlpha][kMaxAlpha] = {};  // m x a: output transform
  float g[kMaxAlpha][kMaxAlpha] = {};   // a x r: filter transform
  float bt[kMaxAlpha][kMaxAlpha] = {};  // a x a: input transform
};

constexpr double power(double x, int e) {
  double v = 1;
  for (int i = 0; i < e; ++i) v *= x;
  return v;
}

constexpr double magnitude(double x) { return x < 0 ? -x : x; }

// Cook-Toom construction, evaluated by the compiler: with finite points p_j (j < a - 1) and one at infinity,
//   AT[i][j] = p_j^i,  G[j][k] = p_j^k / f_j (f_j the Lagrange denominator), the infinity column and row pick
//   the highest coefficient. A correlation needs sum_j AT[i][j] G[j][k] BT[j][l] = [l == i + k]; the left factor
//   depends on i + k = s only, E[s][j], so BT is the inverse of E (a scaled Vandermonde matrix plus one unit
//   column), found by Gauss-Jordan elimination in double. Being constant, the kernels below drop the zeros.
constexpr Transforms build_transforms(int m, int r) {
  constexpr double points[kMaxAlpha - 1] = {0, 1, -1, 2, -2, 0.5, -0.5};
  Transforms t;
  t.m = m;
  t.r = r;
  t.a = m + r - 1;
  const int a = t.a;
  double f[kMaxAlpha] = {}, e[kMaxAlpha][2 * kMaxAlpha] = {};
  for (int j = 0; j < a - 1; ++j) {
    f[j] = 1;
    for (int l = 0; l < a - 1; ++l)
      if (l != j) f[j] *= points[j] - points[l];
  }
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < a - 1; ++j) t.at[i][j] = (float)power(points[j], i);
    t.at[i][a - 1] = i == m - 1 ? 1.0f : 0.0f;
  }
  for (int k = 0; k < r; ++k) {
    for (int j = 0; j < a - 1; ++j) t.g[j][k] = (float)(power(points[j], k) / f[j]);
    t.g[a - 1][k] = k == r - 1 ? 1.0f : 0.0f;
  }
  for (int s = 0; s < a; ++s) {
    for (int j = 0; j < a - 1; ++j) e[s][j] = power(points[j], s) / f[j];
    e[s][a - 1] = s == a - 1 ? 1 : 0;
    e[s][a + s] = 1;
  }
  for (int col = 0; col < a; ++col) {
    int piv = col;
    for (int s = col + 1; s < a; ++s)
      if (magnitude(e[s][col]) > magnitude(e[piv][col])) piv = s;
    for (int q = 0; q < 2 * a; ++q) {
      const double swap = e[col][q];
      e[col][q] = e[piv][q];
      e[piv][q] = swap;
    }
    const double d = e[col][col];
    for (int q = 0; q < 2 * a; ++q) e[col][q] /= d;
    for (int s = 0; s < a; ++s) {
      if (s == col || e[s][col] == 0) continue;
      const double factor = e[s][col];
      for (int q = 0; q < 2 * a; ++q) e[s][q] -= factor * e[col][q];
    }
  }
  for (int j = 0; j < a; ++j)
    for (int l = 0; l < a; ++l) {
      const double v = e[j][a + l];
      t.bt[j][l] = (float)(magnitude(v) < 1e-12 ? 0.0 : v);
    }
  return t;
}

// 4 x 4 output tiles: F(4x4, 3x3) reads 6 x 6 input tiles (4x fewer multiplications than direct convolution),
// F(4x4, 5x5) 8 x 8 ones (6.25x fewer). Larger tiles would need points whose powers amplify float32 rounding;
// these stay within about 3e-6 of float64 (normwise) where direct convolution is within about 5e-7.
constexpr Transforms kF3 = build_transforms(4, 3);
constexpr Transforms kF5 = build_transforms(4, 5);
constexpr int tile_size(int r) { return r == 3 ? kF3.m : kF5.m; }

typedef float vec __attribute__((vector_size(4 * kLanes)));

inline vec load(const float* p) {
  vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, vec v) { std::memcpy(p, &v, sizeof v); }

int64_t padded(int64_t channels) { return (channels + kLanes - 1) / kLanes * kLanes; }

// How the tiles of one geometry are cut and where each thread's scratch lies in the workspace (pass 0 forward,
// 1 backward data, 2 backward weights). Channel counts are padded to whole vectors (cp, ocp); padding is zero.
struct Plan {
  int m, r, a, a2;
  int64_t cp, ocp;
  int64_t th, tw, tiles_per_image, tiles;
  int64_t block;       // tiles per block
  int64_t u_floats;    // transformed filters U [a2][cp][ocp] (and for the data pass U^T [a2][ocp][cp])
  int64_t v_floats;    // per thread: transformed inputs of a block [a2][block][cp]
  int64_t mm_floats;   // per thread: transformed outputs (or output gradients) of a block [a2][block][ocp]
  int64_t zero_floats; // per thread: a row of zeros read for taps outside the image
  int64_t acc_floats;  // per thread (weights pass): dU [a2][cp][ocp]
  int64_t per_thread;

  static int64_t round_up(int64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

  Plan(const Geom& g, int pass) {
    r = (int)g.kh;
    m = tile_size(r);
    a = m + r - 1;
    a2 = a * a;
    cp = padded(g.c);
    ocp = padded(g.oc);
    th = (g.oh + m - 1) / m;
    tw = (g.ow + m - 1) / m;
    tiles_per_image = th * tw;
    tiles = g.n * tiles_per_image;
    // About 512 KiB of block scratch per thread (L2 is 1-2 MiB per core on current x86 servers), a multiple of
    // the GEMM's 6 rows.
    const int64_t per_tile_bytes = 4 * a2 * (cp + ocp);
    block = std::max<int64_t>(6, std::min<int64_t>(240, (512 * 1024 / per_tile_bytes) / 6 * 6));
    u_floats = pass == 2 ? 0 : round_up(a2 * cp * ocp) * (pass == 1 ? 2 : 1);
    v_floats = round_up(a2 * block * cp);
    mm_floats = round_up(a2 * block * ocp);
    zero_floats = round_up(std::max(cp, ocp));
    acc_floats = pass == 2 ? round_up(a2 * cp * ocp) : 0;
    per_thread = v_floats + mm_floats + zero_floats + acc_floats;
  }

  int64_t workspace_floats(int slots) const { return u_floats + slots * per_thread; }
  int slots_for(int64_t bytes) const { return (int)((bytes / 4 - u_floats) / per_thread); }
};

// One thread's regions of the workspace.
struct Scratch {
  float *v, *mm, *zero, *acc;
  Scratch(const Plan& pl, float* ws, int thread) {
    v = ws + pl.u_floats + thread * pl.per_thread;
    mm = v + pl.v_floats;
    zero = mm + pl.mm_floats;
    acc = zero + pl.zero_floats;
  }
  void clear_zeros(const Plan& pl) const { std::memset(zero, 0, sizeof(float) * pl.zero_floats); }
};

struct TilePos {
  int64_t n, y0, x0;  // image, first output row and column of the tile
};

inline TilePos tile_pos(const Plan& pl, int64_t t) {
  const int64_t n = t / pl.tiles_per_image, rest = t % pl.tiles_per_image;
  return {n, rest / pl.tw * pl.m, rest % pl.tw * pl.m};
}

// U[pq][c][o] = sum_ij G[p][i] G[q][j] w[i][j][c][o], zero in the padding; ut (may be null) gets U^T [pq][o][c].
template <const Transforms& T>
void transform_filters(const Geom& g, const Plan& pl, const float* w, float* u, float* ut) {
  constexpr int a = T.a, r = T.r;
  std::memset(u, 0, sizeof(float) * T.a * T.a * pl.cp * pl.ocp);
#pragma omp parallel for schedule(static)
  for (int64_t ci = 0; ci < g.c; ++ci) {
    for (int64_t o = 0; o < g.oc; ++o) {
      float wk[r][r], half[a][r];
      for (int i = 0; i < r; ++i)
        for (int j = 0; j < r; ++j) wk[i][j] = w[((i * r + j) * g.c + ci) * g.oc + o];
      for (int p = 0; p < a; ++p)
        for (int j = 0; j < r; ++j) {
          float s = 0;
          for (int i = 0; i < r; ++i) s += T.g[p][i] * wk[i][j];
          half[p][j] = s;
        }
      for (int p = 0; p < a; ++p)
        for (int q = 0; q < a; ++q) {
          float s = 0;
          for (int j = 0; j < r; ++j) s += T.g[q][j] * half[p][j];
          u[((p * a + q) * pl.cp + ci) * pl.ocp + o] = s;
        }
    }
  }
  if (ut) {
    std::memset(ut, 0, sizeof(float) * T.a * T.a * pl.cp * pl.ocp);
#pragma omp parallel for schedule(static)
    for (int pq = 0; pq < a * a; ++pq)
      for (int64_t ci = 0; ci < g.c; ++ci)
        for (int64_t o = 0; o < g.oc; ++o)
          ut[(pq * pl.ocp + o) * pl.cp + ci] = u[(pq * pl.cp + ci) * pl.ocp + o];
  }
}

// V[pq] (row stride ld between points) = BT d BT^T for the input tile whose outputs start at (y0, x0); taps
// outside the image read zeros. Vectorised over channels, eight at a time.
template <const Transforms& T>
void input_tile(const Geom& g, const Plan& pl, const float* x, const float* zero, TilePos pos, float* v,
                int64_t ld) {
  constexpr int a = T.a;
  const float* src[a][a];
  const float* img = x + pos.n * g.h * g.w * g.c;
  for (int l = 0; l < a; ++l) {
    const int64_t iy = pos.y0 - g.pt + l;
    for (int l2 = 0; l2 < a; ++l2) {
      const int64_t ix = pos.x0 - g.pl + l2;
      src[l][l2] = iy < 0 || iy >= g.h || ix < 0 || ix >= g.w ? zero : img + (iy * g.w + ix) * g.c;
    }
  }
  for (int64_t c = 0; c < pl.cp; c += kLanes) {
    vec half[a][a];
    const bool tail = c + kLanes > g.c;  // the last vector of a channel count that is not a multiple of 8
    for (int l2 = 0; l2 < a; ++l2) {
      vec col[a];
      for (int l = 0; l < a; ++l) {
        if (!tail) {
          col[l] = load(src[l][l2] + c);
        } else {
          float lanes[kLanes] = {};
          if (src[l][l2] != zero) std::memcpy(lanes, src[l][l2] + c, sizeof(float) * (g.c - c));
          col[l] = load(lanes);
        }
      }
      for (int p = 0; p < a; ++p) {
        vec s = {};
        for (int l = 0; l < a; ++l)
          if (T.bt[p][l] != 0) s += T.bt[p][l] * col[l];
        half[p][l2] = s;
      }
    }
    for (int p = 0; p < a; ++p)
      for (int q = 0; q < a; ++q) {
        vec s = {};
        for (int l2 = 0; l2 < a; ++l2)
          if (T.bt[q][l2] != 0) s += T.bt[q][l2] * half[p][l2];
        store(v + (p * a + q) * ld + c, s);
      }
  }
}

// dM[pq] = sum_ij AT[i][p] AT[j][q] dY[y0 + i][x0 + j] over the tile's outputs inside the image.
template <const Transforms& T>
void output_grad_tile(const Geom& g, const Plan& pl, const float* go, const float* zero, TilePos pos, float* dm,
                      int64_t ld) {
  constexpr int a = T.a, m = T.m;
  const float* src[m][m];
  const float* img = go + pos.n * g.oh * g.ow * g.oc;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < m; ++j)
      src[i][j] = pos.y0 + i >= g.oh || pos.x0 + j >= g.ow ? zero : img + ((pos.y0 + i) * g.ow + pos.x0 + j) * g.oc;
  for (int64_t o = 0; o < pl.ocp; o += kLanes) {
    const bool tail = o + kLanes > g.oc;
    vec dy[m][m], half[a][m];
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < m; ++j) {
        if (!tail) {
          dy[i][j] = load(src[i][j] + o);
        } else {
          float lanes[kLanes] = {};
          if (src[i][j] != zero) std::memcpy(lanes, src[i][j] + o, sizeof(float) * (g.oc - o));
          dy[i][j] = load(lanes);
        }
      }
    for (int p = 0; p < a; ++p)
      for (int j = 0; j < m; ++j) {
        vec s = {};
        for (int i = 0; i < m; ++i)
          if (T.at[i][p] != 0) s += T.at[i][p] * dy[i][j];
        half[p][j] = s;
      }
    for (int p = 0; p < a; ++p)
      for (int q = 0; q < a; ++q) {
        vec s = {};
        for (int j = 0; j < m; ++j)
          if (T.at[j][q] != 0) s += T.at[j][q] * half[p][j];
        store(dm + (p * a + q) * ld + o, s);
      }
  }
}

// out[y0 + i][x0 + j] = bias + sum_pq AT[i][p] AT[j][q] M[pq] for the tile's outputs inside the image.
template <const Transforms& T>
void output_tile(const Geom& g, const Plan& pl, const float* mm, int64_t ld, const float* bias, TilePos pos,
                 float* out) {
  constexpr int a = T.a, m = T.m;
  for (int64_t o = 0; o < pl.ocp; o += kLanes) {
    vec half[m][a];
    for (int q = 0; q < a; ++q) {
      vec col[a];
      for (int p = 0; p < a; ++p) col[p] = load(mm + (p * a + q) * ld + o);
      for (int i = 0; i < m; ++i) {
        vec s = {};
        for (int p = 0; p < a; ++p)
          if (T.at[i][p] != 0) s += T.at[i][p] * col[p];
        half[i][q] = s;
      }
    }
    const int64_t lanes = std::min<int64_t>(kLanes, g.oc - o);
    vec b = {};
    if (bias) {
      float tmp[kLanes] = {};
      std::memcpy(tmp, bias + o, sizeof(float) * lanes);
      b = load(tmp);
    }
    for (int i = 0; i < m; ++i) {
      if (pos.y0 + i >= g.oh) break;
      for (int j = 0; j < m; ++j) {
        if (pos.x0 + j >= g.ow) break;
        vec s = b;
        for (int q = 0; q < a; ++q)
          if (T.at[j][q] != 0) s += T.at[j][q] * half[i][q];
        float* dst = out + ((pos.n * g.oh + pos.y0 + i) * g.ow + pos.x0 + j) * g.oc + o;
        if (lanes == kLanes) store(dst, s);
        else std::memcpy(dst, &s, sizeof(float) * lanes);
      }
    }
  }
}

// grad_x[tile's input window] += BT^T dV BT, the window clipped to the image.
template <const Transforms& T>
void scatter_tile(const Geom& g, const Plan& pl, const float* dv, int64_t ld, TilePos pos, float* img) {
  constexpr int a = T.a;
  for (int64_t c = 0; c < pl.cp; c += kLanes) {
    vec half[a][a];  // [l][q]
    for (int q = 0; q < a; ++q) {
      vec col[a];
      for (int p = 0; p < a; ++p) col[p] = load(dv + (p * a + q) * ld + c);
      for (int l = 0; l < a; ++l) {
        vec s = {};
        for (int p = 0; p < a; ++p)
          if (T.bt[p][l] != 0) s += T.bt[p][l] * col[p];
        half[l][q] = s;
      }
    }
    const int64_t lanes = std::min<int64_t>(kLanes, g.c - c);
    for (int l = 0; l < a; ++l) {
      const int64_t iy = pos.y0 - g.pt + l;
      if (iy < 0 || iy >= g.h) continue;
      for (int l2 = 0; l2 < a; ++l2) {
        const int64_t ix = pos.x0 - g.pl + l2;
        if (ix < 0 || ix >= g.w) continue;
        vec s = {};
        for (int q = 0; q < a; ++q)
          if (T.bt[q][l2] != 0) s += T.bt[q][l2] * half[l][q];
        float* dst = img + (iy * g.w + ix) * g.c + c;
        if (lanes == kLanes) {
          store(dst, load(dst) + s);
        } else {
          for (int64_t e = 0; e < lanes; ++e) dst[e] += s[e];
        }
      }
    }
  }
}

void fill_zero(float* p, int64_t n) { std::memset(p, 0, sizeof(float) * n); }

template <const Transforms& T>
void forward(const Geom& g, const Plan& pl, const float* x, const float* w, const float* bias, float* out,
             float* ws, int slots) {
  constexpr int a2 = T.a * T.a;
  float* u = ws;
  transform_filters<T>(g, pl, w, u, nullptr);
  const int64_t blocks = (pl.tiles + pl.block - 1) / pl.block;
#pragma omp parallel num_threads(slots)
  {
    const Scratch sc(pl, ws, omp_get_thread_num());
    sc.clear_zeros(pl);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t t0 = b * pl.block, nt = std::min(pl.block, pl.tiles - t0);
      for (int64_t s = 0; s < nt; ++s)
        input_tile<T>(g, pl, x, sc.zero, tile_pos(pl, t0 + s), sc.v + s * pl.cp, pl.block * pl.cp);
      for (int pq = 0; pq < a2; ++pq) {
        float* mq = sc.mm + pq * pl.block * pl.ocp;
        fill_zero(mq, nt * pl.ocp);
        soma::attention_gemm_f32(nt, pl.ocp, pl.cp, sc.v + pq * pl.block * pl.cp, pl.cp, u + pq * pl.cp * pl.ocp,
                                 pl.ocp, mq, pl.ocp);
      }
      for (int64_t s = 0; s < nt; ++s)
        output_tile<T>(g, pl, sc.mm + s * pl.ocp, pl.block * pl.ocp, bias, tile_pos(pl, t0 + s), out);
    }
  }
}

template <const Transforms& T>
void backward_data(const Geom& g, const Plan& pl, const float* go, const float* w, float* gx, float* ws,
                   int slots) {
  constexpr int a2 = T.a * T.a;
  float* u = ws;
  float* ut = ws + pl.u_floats / 2;
  transform_filters<T>(g, pl, w, u, ut);
  // Tiles overlap in the input, so each thread owns whole images of grad_x (no atomics).
#pragma omp parallel num_threads((int)std::min<int64_t>(slots, g.n))
  {
    const Scratch sc(pl, ws, omp_get_thread_num());
    sc.clear_zeros(pl);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g.n; ++n) {
      float* img = gx + n * g.h * g.w * g.c;
      fill_zero(img, g.h * g.w * g.c);
      for (int64_t t0 = n * pl.tiles_per_image; t0 < (n + 1) * pl.tiles_per_image; t0 += pl.block) {
        const int64_t nt = std::min(pl.block, (n + 1) * pl.tiles_per_image - t0);
        for (int64_t s = 0; s < nt; ++s)
          output_grad_tile<T>(g, pl, go, sc.zero, tile_pos(pl, t0 + s), sc.mm + s * pl.ocp, pl.block * pl.ocp);
        for (int pq = 0; pq < a2; ++pq) {
          float* vq = sc.v + pq * pl.block * pl.cp;
          fill_zero(vq, nt * pl.cp);
          soma::attention_gemm_f32(nt, pl.cp, pl.ocp, sc.mm + pq * pl.block * pl.ocp, pl.ocp,
                                   ut + pq * pl.cp * pl.ocp, pl.cp, vq, pl.cp);
        }
        for (int64_t s = 0; s < nt; ++s)
          scatter_tile<T>(g, pl, sc.v + s * pl.cp, pl.block * pl.cp, tile_pos(pl, t0 + s), img);
      }
    }
  }
}

template <const Transforms& T>
void backward_weights(const Geom& g, const Plan& pl, const float* x, const float* go, float* gw, float* ws,
                      int slots) {
  constexpr int a = T.a, r = T.r, a2 = a * a;
  const int64_t blocks = (pl.tiles + pl.block - 1) / pl.block;
  const int64_t uf = pl.cp * pl.ocp;
  const int teams = (int)std::max<int64_t>(1, std::min<int64_t>(slots, blocks));
#pragma omp parallel num_threads(teams)
  {
    const Scratch sc(pl, ws, omp_get_thread_num());
    sc.clear_zeros(pl);
    fill_zero(sc.acc, a2 * uf);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t t0 = b * pl.block, nt = std::min(pl.block, pl.tiles - t0);
      for (int64_t s = 0; s < nt; ++s) {
        const TilePos pos = tile_pos(pl, t0 + s);
        input_tile<T>(g, pl, x, sc.zero, pos, sc.v + s * pl.cp, pl.block * pl.cp);
        output_grad_tile<T>(g, pl, go, sc.zero, pos, sc.mm + s * pl.ocp, pl.block * pl.ocp);
      }
      for (int pq = 0; pq < a2; ++pq)
        soma::attention_gemm_f32_at(pl.cp, pl.ocp, nt, sc.v + pq * pl.block * pl.cp, pl.cp,
                                    sc.mm + pq * pl.block * pl.ocp, pl.ocp, sc.acc + pq * uf, pl.ocp);
    }
  }
  // Sum the teams' accumulators in team order, then gw[i][j][c][o] = sum_pq G[p][i] G[q][j] dU[pq][c][o].
  float* du = Scratch(pl, ws, 0).acc;
  const int64_t total = a2 * uf;
#pragma omp parallel for schedule(static)
  for (int64_t e0 = 0; e0 < total; e0 += 1024) {
    const int64_t e1 = std::min(total, e0 + 1024);
    for (int k = 1; k < teams; ++k) {
      const float* other = Scratch(pl, ws, k).acc;
#pragma omp simd
      for (int64_t e = e0; e < e1; ++e) du[e] += other[e];
    }
  }
#pragma omp parallel for schedule(static)
  for (int64_t ci = 0; ci < g.c; ++ci)
    for (int i = 0; i < r; ++i)
      for (int j = 0; j < r; ++j) {
        float* dst = gw + ((i * r + j) * g.c + ci) * g.oc;
        fill_zero(dst, g.oc);
        for (int p = 0; p < a; ++p)
          for (int q = 0; q < a; ++q) {
            const float c = T.g[p][i] * T.g[q][j];
            if (c == 0) continue;
            const float* src = du + (p * a + q) * uf + ci * pl.ocp;
#pragma omp simd
            for (int64_t o = 0; o < g.oc; ++o) dst[o] += c * src[o];
          }
      }
}

}  // namespace

extern "C" {

int soma_cpu_winograd_supported(const int64_t* geom) {
  const Geom g(geom);
  const bool kernel = g.kh == g.kw && (g.kh == 3 || g.kh == 5);
  return kernel && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.c <= 4096 && g.oc <= 4096 ? 1 : 0;
}

int64_t soma_cpu_winograd_workspace_bytes(const int64_t* geom, int pass) {
  const Plan pl(Geom(geom), pass);
  return 4 * pl.workspace_floats(omp_get_max_threads());
}

void soma_cpu_winograd_conv2d(const int64_t* geom, const void* x, const void* w, const void* bias, void* out,
                              void* workspace, int64_t workspace_bytes) {
  const Geom g(geom);
  const Plan pl(g, 0);
  const int slots = std::max(1, std::min(omp_get_max_threads(), pl.slots_for(workspace_bytes)));
  if (g.kh == 3) forward<kF3>(g, pl, (const float*)x, (const float*)w, (const float*)bias, (float*)out, (float*)workspace, slots);
  else forward<kF5>(g, pl, (const float*)x, (const float*)w, (const float*)bias, (float*)out, (float*)workspace, slots);
}

void soma_cpu_winograd_conv2d_backward_data(const int64_t* geom, const void* grad_out, const void* w, void* grad_x,
                                            void* workspace, int64_t workspace_bytes) {
  const Geom g(geom);
  const Plan pl(g, 1);
  const int slots = std::max(1, std::min(omp_get_max_threads(), pl.slots_for(workspace_bytes)));
  if (g.kh == 3) backward_data<kF3>(g, pl, (const float*)grad_out, (const float*)w, (float*)grad_x, (float*)workspace, slots);
  else backward_data<kF5>(g, pl, (const float*)grad_out, (const float*)w, (float*)grad_x, (float*)workspace, slots);
}

void soma_cpu_winograd_conv2d_backward_weights(const int64_t* geom, const void* x, const void* grad_out,
                                               void* grad_w, void* workspace, int64_t workspace_bytes) {
  const Geom g(geom);
  const Plan pl(g, 2);
  const int slots = std::max(1, std::min(omp_get_max_threads(), pl.slots_for(workspace_bytes)));
  if (g.kh == 3) backward_weights<kF3>(g, pl, (const float*)x, (const float*)grad_out, (float*)grad_w, (float*)workspace, slots);
  else backward_weights<kF5>(g, pl, (const float*)x, (const float*)grad_out, (float*)grad_w, (float*)workspace, slots);
}

}  // extern "C"
