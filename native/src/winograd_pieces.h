// Square kernels without transforms of their own (4x4, 6x6, 8x8 and larger) run as pieces (winograd_conv.cpp):
// the k x k kernel is cut into s x s pieces of r x r taps (r = 3 or 5; the pieces past the kernel's edge padded with
// zero taps), and the convolution is the sum of the pieces' convolutions, piece (i, j) reading the input shifted by
// (i r, j r) rows and columns, that is with padding pt - i r and pl - j r (negative padding reads no zeros on that
// side: the tile kernels clip every read and write to the image). Each piece runs the Winograd passes of its size;
// the pieces after the first add into the output and the input gradient, and each tap of the kernel gradient
// belongs to one piece. Multiplications per output and channel pair, s^2 a^2 / m^2: 9x9 as four 5x5 pieces 16
// (direct: 81), 11x11 as nine 36 (121), 6x6 as four 3x3 pieces 9 (36), 4x4 as one 5x5 piece 4 (16).
#pragma once
#include "winograd_transforms.h"

namespace soma::winograd {

struct Pieces {
  int64_t k = 0, r = 0, s = 0;  // r == 0: no Winograd pass for this kernel (k < 3)

  // 3x3, 5x5 and 7x7 whole; others the piece size with the fewest multiplications per output (s^2 a^2 / m^2),
  // and of two that tie the one with fewer pieces (each piece transforms the input and output once more).
  explicit Pieces(int64_t kernel) : k(kernel) {
    if (has_transforms(k)) {
      r = k;
      s = 1;
      return;
    }
    if (k < 3) return;
    int64_t best_cost = 0;
    for (int64_t size : {int64_t{5}, int64_t{3}}) {
      const int64_t m = tile_size((int)size), a = m + size - 1, n = (k + size - 1) / size;
      const int64_t cost = n * n * a * a * 16 / (m * m);  // * 16: whole numbers for m = 2 and 4
      if (best_cost == 0 || cost < best_cost) {
        best_cost = cost;
        r = size;
        s = n;
      }
    }
  }

  bool whole() const { return s == 1 && r == k; }

  // Piece (i, j)'s geometry: its kernel size and the padding that shifts its reads.
  Geom geom(const Geom& g, int64_t i, int64_t j) const {
    Geom p = g;
    p.kh = p.kw = r;
    p.pt = g.pt - i * r;
    p.pl = g.pl - j * r;
    return p;
  }

  // Workspace ahead of the passes' own: a piece's kernel and its gradient (none for a whole kernel).
  int64_t kernel_floats(const Geom& g) const { return whole() ? 0 : Plan::round_up(r * r * g.c * g.oc); }
  int64_t fixed_floats(const Geom& g) const { return 2 * kernel_floats(g); }
};

// wp = piece (i, j) of the k x k HWIO kernel w: tap (a, b) is w's tap (i r + a, j r + b), zero past w's edge.
inline void piece_kernel(const Geom& g, const Pieces& pc, int64_t i, int64_t j, const float* w, float* wp) {
  const int64_t co = g.c * g.oc;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < pc.r * pc.r; ++t) {
    const int64_t ky = i * pc.r + t / pc.r, kx = j * pc.r + t % pc.r;
    if (ky < pc.k && kx < pc.k) std::memcpy(wp + t * co, w + (ky * pc.k + kx) * co, sizeof(float) * co);
    else fill_zero(wp + t * co, co);
  }
}

// The taps of piece (i, j)'s kernel gradient gwp that lie inside the kernel, into the k x k gradient gw.
inline void piece_kernel_gradient(const Geom& g, const Pieces& pc, int64_t i, int64_t j, const float* gwp,
                                  float* gw) {
  const int64_t co = g.c * g.oc;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < pc.r * pc.r; ++t) {
    const int64_t ky = i * pc.r + t / pc.r, kx = j * pc.r + t % pc.r;
    if (ky < pc.k && kx < pc.k) std::memcpy(gw + (ky * pc.k + kx) * co, gwp + t * co, sizeof(float) * co);
  }
}

}  // namespace soma::winograd
