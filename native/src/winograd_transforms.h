// The ISA-neutral half of the Winograd convolution (winograd_conv.cpp): the transform matrices, built by the
// compiler, how their rows and columns pair up, and how a geometry's tiles and scratch are laid out. The kernels
// that use them are in winograd_kernels.inc, compiled once per vector width.
#pragma once
#include "conv_geom.h"
#include "cpu_features.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace soma::winograd {

using Geom = soma::ConvGeom;
constexpr int kMaxAlpha = 8;
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

// F(4x4, 3x3) reads 6 x 6 input tiles (4x fewer multiplications than direct convolution), F(4x4, 5x5) 8 x 8 ones
// (6.25x fewer), and F(2x2, 7x7) 8 x 8 ones too (3.06x fewer), from the same eight points. Larger tiles would need
// points whose powers amplify float32 rounding; these stay within about 1e-5 of float64 (normwise) where direct
// convolution is within about 5e-7.
constexpr Transforms kF3 = build_transforms(4, 3);
constexpr Transforms kF5 = build_transforms(4, 5);
constexpr Transforms kF7 = build_transforms(2, 7);
constexpr bool has_transforms(int64_t r) { return r == 3 || r == 5 || r == 7; }
constexpr int tile_size(int r) { return r == 3 ? kF3.m : r == 5 ? kF5.m : kF7.m; }

// Calls f(Kernel<kFr>{}) for the transforms of an r x r kernel (r checked by has_transforms), so each pass names its
// kernels once, with decltype(k)::transforms as their template argument.
template <const Transforms& T>
struct Kernel {
  static constexpr const Transforms& transforms = T;
};
template <typename F>
void with_transforms(int64_t r, F&& f) {
  if (r == 3) f(Kernel<kF3>{});
  else if (r == 5) f(Kernel<kF5>{});
  else f(Kernel<kF7>{});
}

// ------------------------------------------------------------------ one-dimensional transforms

// A transform matrix as a constant the kernels are instantiated with.
struct Matrix {
  int rows = 0, cols = 0;
  float v[kMaxAlpha][kMaxAlpha] = {};
};

constexpr Matrix matrix(const float (&src)[kMaxAlpha][kMaxAlpha], int rows, int cols, bool transposed) {
  Matrix x;
  x.rows = rows;
  x.cols = cols;
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) x.v[i][j] = transposed ? src[j][i] : src[i][j];
  return x;
}

// The points come in pairs +x, -x, so the matrices' rows (or columns) that belong to a pair agree up to the sign
// of odd powers: row q = s (-1)^l row p. Applying such a pair costs one set of products instead of two:
//   E = sum over even l, O = sum over odd l of row p;  out[p] = E + O, out[q] = s (E - O);
// a column pair (j, k) likewise shares in[j] + s in[k] (even rows) and in[j] - s in[k] (odd rows).
// Found by the compiler from the matrix itself; a row or column without a partner is applied as it is.
struct Pairs {
  int partner[kMaxAlpha] = {};  // -1: none
  float sign[kMaxAlpha] = {};
  int count = 0;
};

struct Pairing {
  Pairs rows, cols;
  bool by_rows = false;  // apply by row pairs (then the column pairs are not used)
};

constexpr bool rows_pair(const Matrix& x, int p, int q, float s) {
  bool any = false;
  for (int l = 0; l < x.cols; ++l) {
    if (x.v[q][l] != s * (l % 2 ? -1.0f : 1.0f) * x.v[p][l]) return false;
    any = any || x.v[p][l] != 0;
  }
  return any;
}

constexpr Pairs row_pairs(const Matrix& x) {
  Pairs pr;
  for (int i = 0; i < kMaxAlpha; ++i) pr.partner[i] = -1;
  for (int p = 0; p < x.rows; ++p)
    for (int q = p + 1; q < x.rows && pr.partner[p] < 0; ++q)
      for (float s : {1.0f, -1.0f})
        if (pr.partner[p] < 0 && pr.partner[q] < 0 && rows_pair(x, p, q, s)) {
          pr.partner[p] = q;
          pr.partner[q] = p;
          pr.sign[p] = pr.sign[q] = s;
          ++pr.count;
        }
  return pr;
}

constexpr Matrix transpose(const Matrix& x) { return matrix(x.v, x.cols, x.rows, true); }

constexpr Pairing pairing(const Matrix& x) {
  Pairing pr;
  pr.rows = row_pairs(x);
  pr.cols = row_pairs(transpose(x));
  pr.by_rows = pr.rows.count >= pr.cols.count;
  return pr;
}

// The one-dimensional maps of a tile: the input transform BT (a x a), the output transform AT (m x a), their
// transposes for the backward passes, and the filter transform G (a x r).
template <const Transforms& T>
struct Maps {
  static constexpr Matrix bt = matrix(T.bt, T.a, T.a, false);
  static constexpr Matrix btt = matrix(T.bt, T.a, T.a, true);
  static constexpr Matrix at = matrix(T.at, T.m, T.a, false);
  static constexpr Matrix att = matrix(T.at, T.a, T.m, true);
  static constexpr Matrix g = matrix(T.g, T.a, T.r, false);
};

// How the tiles of one geometry are cut and where each thread's scratch lies in the workspace (pass 0 forward,
// 1 backward data, 2 backward weights, 3 both backward passes in one). Channel counts are padded to whole vectors of `lanes` floats (cp, ocp);
// padding is zero. Workspace: [U (and U^T)] [the weights pass's partial sums, one per group] [per-thread scratch].
struct Plan {
  int m, r, a, a2;
  int64_t cp, ocp;
  int64_t th, tw, tiles_per_image, tiles;
  int64_t block;       // tiles per block
  int64_t v_ld, mm_ld; // floats between one point's block and the next's in v and mm
  int64_t u_floats;    // transformed filters U [a2][cp][ocp] (and for the data pass U^T [a2][ocp][cp])
  int64_t v_floats;    // per thread: transformed inputs of a block [a2][v_ld >= block * cp]
  int64_t mm_floats;   // per thread: transformed outputs (or output gradients) of a block [a2][mm_ld >= block * ocp]
  int64_t zero_floats; // per thread: a row of zeros read for taps outside the image
  int64_t sum_floats;  // per thread, data passes: the column sums (scatter_tile) [cp / lanes][a][a][lanes]
  int64_t acc_floats;  // per group (weights pass): dU [a2][cp][ocp]
  int64_t groups;      // weights pass: the tiles' blocks (both passes: the images) are summed in this many fixed
                       // groups (see backward_weights and backward)
  int64_t per_thread;

  static int64_t round_up(int64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }
  // An odd number of 64-byte lines between one point's block and the next's, so that the tile kernels' a^2 loads
  // and stores, one per point, fall into different L1 sets (an even stride maps them onto half the sets or fewer;
  // measured 2-4 % on the 7x7 forward and weights passes).
  static int64_t odd_lines(int64_t v) { return v / kAlign % 2 == 0 ? v + kAlign : v; }

  Plan(const Geom& g, int pass, int64_t lanes) {
    r = (int)g.kh;
    m = tile_size(r);
    a = m + r - 1;
    a2 = a * a;
    cp = (g.c + lanes - 1) / lanes * lanes;
    ocp = (g.oc + lanes - 1) / lanes * lanes;
    th = (g.oh + m - 1) / m;
    tw = (g.ow + m - 1) / m;
    tiles_per_image = th * tw;
    tiles = g.n * tiles_per_image;
    // A quarter of the core's L2 of block scratch per thread (512 KiB of a 2 MiB L2 measured best among 128 KiB
    // to 1 MiB on a Xeon; a 1 MiB L2 gets 256 KiB), 128 KiB to 1 MiB, a multiple of the GEMM's 6 rows.
    const int64_t per_tile_bytes = 4 * a2 * (cp + ocp);
    const int64_t scratch = std::max<int64_t>(128 << 10, std::min<int64_t>(1 << 20, soma::l2_bytes() / 4));
    block = std::max<int64_t>(6, std::min<int64_t>(240, (scratch / per_tile_bytes) / 6 * 6));
    const bool data = pass == 1 || pass == 3, weights = pass == 2 || pass == 3;
    u_floats = pass == 2 ? 0 : round_up(a2 * cp * ocp) * (data ? 2 : 1);
    v_ld = odd_lines(round_up(block * cp));
    mm_ld = odd_lines(round_up(block * ocp));
    v_floats = a2 * v_ld;
    mm_floats = a2 * mm_ld;
    zero_floats = round_up(std::max(cp, ocp));
    sum_floats = data ? round_up(a2 * cp) : 0;
    acc_floats = weights ? round_up(a2 * cp * ocp) : 0;
    // Up to 8 groups (so that a thread the OS holds back leaves at most an eighth to the others), within 32 MiB
    // of partial sums, at most one per block (both passes: per image). A function of the geometry only, never of
    // the thread count.
    const int64_t units = pass == 3 ? g.n : (tiles + block - 1) / block;
    groups = weights ? std::max<int64_t>(1, std::min({int64_t{8}, units, (int64_t{8} << 20) / acc_floats})) : 0;
    per_thread = v_floats + mm_floats + zero_floats + sum_floats;
  }

  int64_t fixed_floats() const { return u_floats + groups * acc_floats; }
  int64_t workspace_floats(int slots) const { return fixed_floats() + slots * per_thread; }
  int slots_for(int64_t bytes) const { return (int)((bytes / 4 - fixed_floats()) / per_thread); }
  float* partial_sums(float* ws, int64_t group) const { return ws + u_floats + group * acc_floats; }
};

// One thread's regions of the workspace.
struct Scratch {
  float *v, *mm, *zero, *sums;
  Scratch(const Plan& pl, float* ws, int thread) {
    v = ws + pl.fixed_floats() + thread * pl.per_thread;
    mm = v + pl.v_floats;
    zero = mm + pl.mm_floats;
    sums = zero + pl.zero_floats;
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

inline void fill_zero(float* p, int64_t n) { std::memset(p, 0, sizeof(float) * n); }

}  // namespace soma::winograd
