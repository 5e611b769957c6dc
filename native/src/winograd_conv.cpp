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
// Square kernels without transforms of their own run as 5x5 pieces (winograd_pieces.h): 4x4 as one, 6x6 and up
// summed in the transform domain (winograd_fused.inc).
#include "soma.h"
#include "attention_gemm.h"
#include "cpu_features.h"
#include "winograd_transforms.h"
#include "winograd_pieces.h"
#include "flush_denormals.h"

#include <omp.h>

namespace soma::winograd {
namespace avx2 {
constexpr int64_t kLanes = 8;
#include "winograd_kernels.inc"
#include "winograd_fused.inc"
}  // namespace avx2

#pragma GCC push_options
#pragma GCC target("avx512f")
namespace avx512 {
constexpr int64_t kLanes = 16;
#include "winograd_kernels.inc"
#include "winograd_fused.inc"
}  // namespace avx512
#pragma GCC pop_options

namespace {
int64_t lanes() {
  static const int64_t n = soma::use_avx512() ? avx512::kLanes : avx2::kLanes;
  return n;
}

int slots(const Plan& pl, int64_t workspace_bytes) {
  return std::max(1, std::min(omp_get_max_threads(), pl.slots_for(workspace_bytes)));
}

// Runs run(transforms as decltype(k), geometry with the piece's kernel size, its plan, kernel, kernel gradient, the
// plan's workspace, its slots) for a geometry of one piece (winograd_pieces.h): a whole kernel, its own kernel and
// gradient; or a 4x4 kernel as one 5x5 piece, its kernel copied out of w first and its gradient (where gw is given)
// copied into gw's taps after.
template <typename Pass>
void one_piece_pass(const Geom& g, int pass, const float* w, float* gw, void* workspace, int64_t workspace_bytes,
                    Pass&& run) {
  const Pieces pc(g.kh);
  const Geom gp = pc.geom(g);
  const Plan pl(gp, pass, lanes());
  float* wp = (float*)workspace;
  float* gwp = wp + pc.kernel_floats(g);
  const int threads = slots(pl, workspace_bytes - 4 * pc.fixed_floats(g));
  with_transforms(pc.r, [&](auto k) {
    if (w && !pc.whole()) piece_kernel(g, pc, 0, 0, w, wp);
    run(k, gp, pl, pc.whole() ? w : wp, pc.whole() ? gw : gwp, wp + pc.fixed_floats(g), threads);
    if (gw && !pc.whole()) piece_kernel_gradient(g, pc, 0, 0, gwp, gw);
  });
}

// Runs run(pieces, plan, piece kernel scratch, piece gradient scratch, the plan's workspace, its slots) for a
// geometry whose pieces are fused.
template <typename Run>
void fused_pass(const Geom& g, int pass, void* workspace, int64_t workspace_bytes, Run&& run) {
  const Pieces pc(g.kh);
  const FusedPlan fp(g, pc, pass, lanes());
  float* wp = (float*)workspace;
  const int threads = std::max(1, std::min(omp_get_max_threads(),
                                           fp.slots_for(workspace_bytes / 4 - pc.fixed_floats(g))));
  run(pc, fp, wp, wp + pc.kernel_floats(g), wp + pc.fixed_floats(g), threads);
}

bool fused(const Geom& g) { return Pieces(g.kh).fused; }

// The fused passes' U stacked over the pieces (and, given uft, its transpose), on this CPU's vector width.
void stacked_filters(const Geom& g, const Pieces& pc, const FusedPlan& fp, const void* w, float* wp, float* uf,
                     float* uft) {
  if (lanes() == avx512::kLanes) avx512::fused_filters<kF5>(g, pc, fp, (const float*)w, wp, uf, uft);
  else avx2::fused_filters<kF5>(g, pc, fp, (const float*)w, wp, uf, uft);
}
}  // namespace
}  // namespace soma::winograd

using namespace soma::winograd;

extern "C" {

int soma_cpu_winograd_supported(const int64_t* geom) {
  const Geom g(geom);
  const Pieces pc(g.kh);
  if (!(g.kh == g.kw && pc.r > 0 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1)) return 0;
  // The transformed kernel (a^2 C OC floats, twice for the data pass) must stay a workspace, not a second model:
  // at most 64 MiB (5x5 and 7x7: 512 x 512 channels; 3x3: about 680 x 680; pieces as their size).
  const int64_t a = tile_size((int)pc.r) + pc.r - 1;
  return g.c * pc.s * pc.s <= (int64_t{16} << 20) / (a * a) / std::max<int64_t>(1, g.oc) ? 1 : 0;
}

int soma_cpu_winograd_lanes(void) { return (int)lanes(); }

int soma_cpu_winograd_piece(int k) { return (int)Pieces(k).r; }

int soma_cpu_winograd_pieces_per_side(int k) { return (int)Pieces(k).s; }

int soma_cpu_winograd_tile(int k) {
  const Pieces pc(k);
  return pc.r > 0 ? tile_size((int)pc.r) : 0;
}

int64_t soma_cpu_winograd_workspace_bytes(const int64_t* geom, int pass) {
  const Geom g(geom);
  const Pieces pc(g.kh);
  const int64_t inner = pc.fused ? FusedPlan(g, pc, pass, lanes()).workspace_floats(omp_get_max_threads())
                                 : Plan(pc.geom(g), pass, lanes()).workspace_floats(omp_get_max_threads());
  return 4 * (pc.fixed_floats(g) + inner);
}

// Each pass picks its kernels by this CPU's vector width and the piece size (3, 5 or 7).
void soma_cpu_winograd_conv2d(const int64_t* geom, const void* x, const void* w, const void* bias, void* out,
                              void* workspace, int64_t workspace_bytes) {
  const bool wide = lanes() == avx512::kLanes;
  if (fused(Geom(geom))) {
    fused_pass(Geom(geom), 0, workspace, workspace_bytes, [&](const Pieces& pc, const FusedPlan& fp, float* wp, float*,
                                                              float* ws, int threads) {
      const Geom g(geom);
      stacked_filters(g, pc, fp, w, wp, ws, nullptr);
      (wide ? avx512::fused_forward<kF5> : avx2::fused_forward<kF5>)(g, fp, (const float*)x, ws, (const float*)bias,
                                                                    (float*)out, ws, threads);
    });
    return;
  }
  one_piece_pass(Geom(geom), 0, (const float*)w, nullptr, workspace, workspace_bytes,
                 [&](auto k, const Geom& g, const Plan& pl, const float* wp, float*, float* ws, int threads) {
                   constexpr const Transforms& T = decltype(k)::transforms;
                   const auto run = wide ? avx512::forward<T> : avx2::forward<T>;
                   run(g, pl, (const float*)x, wp, (const float*)bias, (float*)out, ws, threads);
                 });
}

void soma_cpu_winograd_conv2d_backward_data(const int64_t* geom, const void* grad_out, const void* w, void* grad_x,
                                            void* workspace, int64_t workspace_bytes) {
  const bool wide = lanes() == avx512::kLanes;
  if (fused(Geom(geom))) {
    fused_pass(Geom(geom), 1, workspace, workspace_bytes, [&](const Pieces& pc, const FusedPlan& fp, float* wp, float*,
                                                              float* ws, int threads) {
      const Geom g(geom);
      float* uft = ws + fp.uf_floats / 2;
      stacked_filters(g, pc, fp, w, wp, ws, uft);
      (wide ? avx512::fused_backward_data<kF5> : avx2::fused_backward_data<kF5>)(g, fp, (const float*)grad_out, uft,
                                                                                (float*)grad_x, ws, threads);
    });
    return;
  }
  one_piece_pass(Geom(geom), 1, (const float*)w, nullptr, workspace, workspace_bytes,
                 [&](auto k, const Geom& g, const Plan& pl, const float* wp, float*, float* ws, int threads) {
                   constexpr const Transforms& T = decltype(k)::transforms;
                   const auto run = wide ? avx512::backward_data<T> : avx2::backward_data<T>;
                   run(g, pl, (const float*)grad_out, wp, (float*)grad_x, ws, threads);
                 });
}

void soma_cpu_winograd_conv2d_backward_weights(const int64_t* geom, const void* x, const void* grad_out,
                                               void* grad_w, void* workspace, int64_t workspace_bytes) {
  const bool wide = lanes() == avx512::kLanes;
  if (fused(Geom(geom))) {
    fused_pass(Geom(geom), 2, workspace, workspace_bytes, [&](const Pieces& pc, const FusedPlan& fp, float*,
                                                              float* gwp, float* ws, int threads) {
      (wide ? avx512::fused_backward_weights<kF5> : avx2::fused_backward_weights<kF5>)(
          Geom(geom), pc, fp, (const float*)x, (const float*)grad_out, gwp, (float*)grad_w, ws, threads);
    });
    return;
  }
  one_piece_pass(Geom(geom), 2, nullptr, (float*)grad_w, workspace, workspace_bytes,
                 [&](auto k, const Geom& g, const Plan& pl, const float*, float* gwp, float* ws, int threads) {
                   constexpr const Transforms& T = decltype(k)::transforms;
                   const auto run = wide ? avx512::backward_weights<T> : avx2::backward_weights<T>;
                   run(g, pl, (const float*)x, (const float*)grad_out, gwp, ws, threads);
                 });
}

void soma_cpu_winograd_conv2d_backward(const int64_t* geom, const void* x, const void* grad_out, const void* w,
                                       void* grad_x, void* grad_w, void* workspace, int64_t workspace_bytes) {
  const bool wide = lanes() == avx512::kLanes;
  if (fused(Geom(geom))) {
    fused_pass(Geom(geom), 3, workspace, workspace_bytes, [&](const Pieces& pc, const FusedPlan& fp, float* wp,
                                                              float* gwp, float* ws, int threads) {
      const Geom g(geom);
      float* uft = ws + fp.uf_floats / 2;
      stacked_filters(g, pc, fp, w, wp, ws, uft);
      (wide ? avx512::fused_backward<kF5> : avx2::fused_backward<kF5>)(g, pc, fp, (const float*)x,
                                                                      (const float*)grad_out, uft, (float*)grad_x,
                                                                      gwp, (float*)grad_w, ws, threads);
    });
    return;
  }
  one_piece_pass(Geom(geom), 3, (const float*)w, (float*)grad_w, workspace, workspace_bytes,
                 [&](auto k, const Geom& g, const Plan& pl, const float* wp, float* gwp, float* ws, int threads) {
                   constexpr const Transforms& T = decltype(k)::transforms;
                   const auto run = wide ? avx512::backward<T> : avx2::backward<T>;
                   run(g, pl, (const float*)x, (const float*)grad_out, wp, (float*)grad_x, gwp, ws, threads);
                 });
}

}  // extern "C"
