// Square kernels without transforms of their own (4x4, 6x6 and larger) run as 5x5 pieces (winograd_conv.cpp).
// The k x k kernel is cut into s x s pieces of 5 x 5 taps, piece (i, j) starting at tap (i step, j step), and the
// convolution is the sum of the pieces' convolutions; piece (i, j)'s reads are the input's shifted by (i step, j step),
// that is with padding pt - i step and pl - j step. Each tap of the kernel belongs to one piece (the taps a piece
// has past the kernel's edge or in its neighbour's first column are zero).
//  - 4x4: one piece (step 5), run as a 5x5 convolution with a zero last row and column (4 multiplications per output
//    and channel pair against 16).
//  - 6x6 and up: step 4, the output tile side of F(4x4, 5x5), so that piece (i, j)'s input tile for output tile
//    (ty, tx) is the unshifted convolution's tile (ty + i, tx + j): each input tile is transformed once and the
//    pieces are summed in the transform domain, M = sum over pieces of U_piece V_(tile + piece), one product per
//    point with s^2 C terms, and one output transform per tile (winograd_fused.inc). Multiplications per output and
//    channel pair 4 s^2: 9x9 16 (direct: 81), 11x11 36 (121).
#pragma once
#include "winograd_transforms.h"

namespace soma::winograd {

constexpr int64_t kPiece = 5;
constexpr int64_t kMinChunkTiles = 128;
// The fused forward's products run in blocks of this many of their s^2 C terms, so that the block of U that the row
// tiles sweep stays in L1 (11x11 at 32 -> 64 channels: forward 6.0 -> 5.1 ms on 14 x 14 images, batch 32).
constexpr int64_t kFusedKBlock = 96;

struct Pieces {
  int64_t k = 0, r = 0, s = 0, step = 0;  // r == 0: no Winograd pass for this kernel (k < 3)
  bool fused = false;                     // pieces summed in the transform domain (winograd_fused.inc)

  explicit Pieces(int64_t kernel) : k(kernel) {
    if (has_transforms(k)) {
      r = step = k;
      s = 1;
    } else if (k == 4) {
      r = step = kPiece;
      s = 1;
    } else if (k >= 6) {
      r = kPiece;
      step = tile_size(kPiece);
      s = (k - 1 + step - 1) / step;
      fused = true;
    }
  }

  bool whole() const { return s == 1 && r == k; }

  // The geometry with the pieces' kernel size (a fused piece (i, j) reads the unshifted geometry's input tile
  // (ty + i, tx + j) for output tile (ty, tx), so no piece needs padding of its own).
  Geom geom(const Geom& g) const {
    Geom p = g;
    p.kh = p.kw = r;
    return p;
  }

  // Whether piece i's tap a (along one side) is a tap of the kernel that this piece owns: inside the kernel, and not
  // the first tap of the next piece.
  bool owns(int64_t i, int64_t a) const { return i * step + a < k && (a < step || i == s - 1); }

  // Workspace ahead of the passes' own: a piece's kernel and its gradient (none for a whole kernel).
  int64_t kernel_floats(const Geom& g) const { return whole() ? 0 : Plan::round_up(r * r * g.c * g.oc); }
  int64_t fixed_floats(const Geom& g) const { return 2 * kernel_floats(g); }
};

// wp = piece (i, j) of the k x k HWIO kernel w: tap (a, b) is w's tap (i step + a, j step + b) where the piece owns
// it, else zero.
inline void piece_kernel(const Geom& g, const Pieces& pc, int64_t i, int64_t j, const float* w, float* wp) {
  const int64_t co = g.c * g.oc;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < pc.r * pc.r; ++t) {
    const int64_t a = t / pc.r, b = t % pc.r;
    if (pc.owns(i, a) && pc.owns(j, b))
      std::memcpy(wp + t * co, w + ((i * pc.step + a) * pc.k + j * pc.step + b) * co, sizeof(float) * co);
    else fill_zero(wp + t * co, co);
  }
}

// The taps of piece (i, j)'s kernel gradient gwp that it owns, into the k x k gradient gw.
inline void piece_kernel_gradient(const Geom& g, const Pieces& pc, int64_t i, int64_t j, const float* gwp,
                                  float* gw) {
  const int64_t co = g.c * g.oc;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < pc.r * pc.r; ++t) {
    const int64_t a = t / pc.r, b = t % pc.r;
    if (pc.owns(i, a) && pc.owns(j, b))
      std::memcpy(gw + ((i * pc.step + a) * pc.k + j * pc.step + b) * co, gwp + t * co, sizeof(float) * co);
  }
}

// The fused pieces' layout (winograd_fused.inc). The tiles are taken in chunks: whole images (as many as fit the
// scratch), or, for an image too large, bands of tile rows. A chunk's input tiles cover its output tiles and s - 1
// more rows and columns ("extended" tiles): its transformed inputs V [point][extended tile][cp], its transformed
// outputs M [point][tile][ocp], and per point the gathered product operand [tile][piece][cp] (s^2 cp = kcp terms).
// Workspace: [the piece kernel and its gradient (Pieces)] [U stacked over pieces [a2][kcp][ocp], and for the data
// passes U^T [a2][ocp][kcp]] [the weights passes' partial sums, one per group] [per-thread scratch].
struct FusedPlan {
  struct Chunk {
    int64_t n0, n1, r0, r1;  // images [n0, n1), tile rows [r0, r1)
  };

  Plan pl;      // the 5x5 pieces' tile grid and channel padding (its block fields unused)
  Plan ext_pl;  // the same with the extended tile columns (scatter_tile's row ends)
  int64_t n, s, s2, kcp, th, tw, eth, etw;
  int64_t images;         // whole images per chunk; 0: bands of one image
  int64_t band, bands;    // tile rows per chunk, chunks per image
  int64_t chunks, items;  // items: what a data pass's thread owns (whole images: a chunk; else an image's bands)
  int64_t max_tiles, max_ext, v_ld, mm_ld;
  int64_t uf_floats, acc_floats, groups;
  int64_t v_floats, dv_floats, mm_floats, a_floats, zero_floats, sum_floats, per_thread;

  FusedPlan(const Geom& g, const Pieces& pc, int pass, int64_t lanes)
      : pl(pc.geom(g), pass, lanes), ext_pl(pl) {
    const bool data = pass == 1 || pass == 3, weights = pass == 2 || pass == 3, inputs = pass != 1;
    const int64_t a2 = pl.a2;
    n = g.n;
    s = pc.s;
    s2 = s * s;
    kcp = s2 * pl.cp;
    th = pl.th;
    tw = pl.tw;
    eth = th + s - 1;
    etw = tw + s - 1;
    ext_pl.tw = etw;
    // Scratch per chunk: half the core's L2, 256 KiB to 2 MiB (the products' operands and results stay in cache).
    const int64_t budget = std::max<int64_t>(256 << 10, std::min<int64_t>(2 << 20, soma::l2_bytes() / 2)) / 4;
    const int64_t ext_row = a2 * etw * pl.cp * ((inputs ? 1 : 0) + (data ? 1 : 0));
    const int64_t out_row = a2 * tw * pl.ocp + tw * kcp;
    const int64_t image = eth * ext_row + th * out_row;
    // At least kMinChunkTiles tiles per chunk where the images allow, past the budget if need be (up to 8 MiB of
    // scratch per thread): each point's product reads its stacked U (s^2 C OC floats; 4.7 MB over all points for
    // 11x11 at 32 -> 64 channels, more than the L2) once per chunk, and with one 14 x 14 image's 16 tiles per chunk
    // that stream bound the products.
    const int64_t cap = std::max<int64_t>(budget, (8 << 20) / 4);
    const int64_t min_images = std::min((kMinChunkTiles + th * tw - 1) / (th * tw), cap / image);
    if (image <= budget || th * tw < kMinChunkTiles) {
      images = std::max<int64_t>(1, std::min(g.n, std::max(budget / image, min_images)));
      band = th;
      bands = 1;
      chunks = (g.n + images - 1) / images;
      items = chunks;
      max_tiles = images * th * tw;
      max_ext = images * eth * etw;
    } else {
      images = 0;
      const int64_t min_band = std::min((kMinChunkTiles + tw - 1) / tw, (cap - (s - 1) * ext_row) / (ext_row + out_row));
      band = std::min(th, std::max({int64_t{1}, (budget - (s - 1) * ext_row) / (ext_row + out_row), min_band}));
      bands = (th + band - 1) / band;
      chunks = g.n * bands;
      items = g.n;
      max_tiles = band * tw;
      max_ext = (band + s - 1) * etw;
    }
    v_ld = Plan::odd_lines(Plan::round_up(max_ext * pl.cp));
    mm_ld = Plan::odd_lines(Plan::round_up(max_tiles * pl.ocp));
    v_floats = inputs ? a2 * v_ld : 0;
    dv_floats = data ? a2 * v_ld : 0;
    mm_floats = a2 * mm_ld;
    a_floats = Plan::round_up(max_tiles * kcp);
    zero_floats = Plan::round_up(std::max(pl.cp, pl.ocp));
    sum_floats = data ? Plan::round_up(a2 * pl.cp) : 0;
    uf_floats = pass == 2 ? 0 : Plan::round_up(a2 * kcp * pl.ocp) * (data ? 2 : 1);
    acc_floats = weights ? Plan::round_up(a2 * kcp * pl.ocp) : 0;
    // As Plan's groups: at most 8, fixed by the geometry; runs of chunks (both passes: of items, whose images a
    // thread owns), within 32 MiB of partial sums.
    const int64_t units = pass == 3 ? items : chunks;
    groups = weights ? std::max<int64_t>(1, std::min({int64_t{8}, units, (int64_t{8} << 20) / acc_floats})) : 0;
    per_thread = v_floats + dv_floats + mm_floats + a_floats + zero_floats + sum_floats;
  }

  Chunk chunk(int64_t c) const {
    if (images > 0) return {c * images, std::min(n, c * images + images), 0, th};
    const int64_t r0 = c % bands * band;
    return {c / bands, c / bands + 1, r0, std::min(th, r0 + band)};
  }
  int64_t first_chunk(int64_t item) const { return images > 0 ? item : item * bands; }
  int64_t last_chunk(int64_t item) const { return images > 0 ? item + 1 : (item + 1) * bands; }

  int64_t tiles(const Chunk& ch) const { return (ch.n1 - ch.n0) * (ch.r1 - ch.r0) * tw; }
  int64_t ext_rows(const Chunk& ch) const { return ch.r1 - ch.r0 + s - 1; }
  int64_t ext_tiles(const Chunk& ch) const { return (ch.n1 - ch.n0) * ext_rows(ch) * etw; }
  // The chunk's extended tile at its image `img`, extended row `ey` (from r0) and column `ex`.
  int64_t ext_index(const Chunk& ch, int64_t img, int64_t ey, int64_t ex) const {
    return (img * ext_rows(ch) + ey) * etw + ex;
  }

  int64_t fixed_floats() const { return uf_floats + groups * acc_floats; }
  int64_t workspace_floats(int slots) const { return fixed_floats() + slots * per_thread; }
  int slots_for(int64_t floats) const { return (int)((floats - fixed_floats()) / per_thread); }
  float* partial_sums(float* ws, int64_t group) const { return ws + uf_floats + group * acc_floats; }

};

// One thread's regions of a fused pass's workspace.
struct FusedScratch {
  float *v, *dv, *mm, *a, *zero, *sums;
  FusedScratch(const FusedPlan& fp, float* ws, int thread) {
    v = ws + fp.fixed_floats() + thread * fp.per_thread;
    dv = v + fp.v_floats;
    mm = dv + fp.dv_floats;
    a = mm + fp.mm_floats;
    zero = a + fp.a_floats;
    sums = zero + fp.zero_floats;
    std::memset(zero, 0, sizeof(float) * fp.zero_floats);
  }
};

}  // namespace soma::winograd
