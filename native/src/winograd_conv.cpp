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
#include "cpu_features.h"
#include "winograd_transforms.h"
#include "flush_denormals.h"

#include <omp.h>

namespace soma::winograd {
namespace avx2 {
constexpr int64_t kLanes = 8;
#include "winograd_kernels.inc"
}  // namespace avx2

#pragma GCC push_options
#pragma GCC target("avx512f")
namespace avx512 {
constexpr int64_t kLanes = 16;
#include "winograd_kernels.inc"
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
}  // namespace
}  // namespace soma::winograd

using namespace soma::winograd;

extern "C" {

int soma_cpu_winograd_supported(const int64_t* geom) {
  const Geom g(geom);
  const bool kernel = g.kh == g.kw && has_transforms(g.kh);
  if (!(kernel && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1)) return 0;
  // The transformed kernel (a^2 C OC floats, twice for the data pass) must stay a workspace, not a second model:
  // at most 64 MiB (5x5 and 7x7: 512 x 512 channels; 3x3: about 680 x 680).
  const int64_t a = tile_size((int)g.kh) + g.kh - 1;
  return g.c <= (int64_t{16} << 20) / (a * a) / std::max<int64_t>(1, g.oc) ? 1 : 0;
}

int soma_cpu_winograd_lanes(void) { return (int)lanes(); }

int soma_cpu_winograd_tile(int r) { return has_transforms(r) ? tile_size(r) : 0; }

int64_t soma_cpu_winograd_workspace_bytes(const int64_t* geom, int pass) {
  const Plan pl(Geom(geom), pass, lanes());
  return 4 * pl.workspace_floats(omp_get_max_threads());
}

// Each pass picks its kernels by this CPU's vector width and the geometry's kernel size (3, 5 or 7).
void soma_cpu_winograd_conv2d(const int64_t* geom, const void* x, const void* w, const void* bias, void* out,
                              void* workspace, int64_t workspace_bytes) {
  const Geom g(geom);
  const Plan pl(g, 0, lanes());
  const bool wide = lanes() == avx512::kLanes;
  with_transforms(g.kh, [&](auto k) {
    constexpr const Transforms& T = decltype(k)::transforms;
    const auto run = wide ? avx512::forward<T> : avx2::forward<T>;
    run(g, pl, (const float*)x, (const float*)w, (const float*)bias, (float*)out, (float*)workspace,
        slots(pl, workspace_bytes));
  });
}

void soma_cpu_winograd_conv2d_backward_data(const int64_t* geom, const void* grad_out, const void* w, void* grad_x,
                                            void* workspace, int64_t workspace_bytes) {
  const Geom g(geom);
  const Plan pl(g, 1, lanes());
  const bool wide = lanes() == avx512::kLanes;
  with_transforms(g.kh, [&](auto k) {
    constexpr const Transforms& T = decltype(k)::transforms;
    const auto run = wide ? avx512::backward_data<T> : avx2::backward_data<T>;
    run(g, pl, (const float*)grad_out, (const float*)w, (float*)grad_x, (float*)workspace, slots(pl, workspace_bytes));
  });
}

void soma_cpu_winograd_conv2d_backward_weights(const int64_t* geom, const void* x, const void* grad_out,
                                               void* grad_w, void* workspace, int64_t workspace_bytes) {
  const Geom g(geom);
  const Plan pl(g, 2, lanes());
  const bool wide = lanes() == avx512::kLanes;
  with_transforms(g.kh, [&](auto k) {
    constexpr const Transforms& T = decltype(k)::transforms;
    const auto run = wide ? avx512::backward_weights<T> : avx2::backward_weights<T>;
    run(g, pl, (const float*)x, (const float*)grad_out, (float*)grad_w, (float*)workspace, slots(pl, workspace_bytes));
  });
}

void soma_cpu_winograd_conv2d_backward(const int64_t* geom, const void* x, const void* grad_out, const void* w,
                                       void* grad_x, void* grad_w, void* workspace, int64_t workspace_bytes) {
  const Geom g(geom);
  const Plan pl(g, 3, lanes());
  const bool wide = lanes() == avx512::kLanes;
  with_transforms(g.kh, [&](auto k) {
    constexpr const Transforms& T = decltype(k)::transforms;
    const auto run = wide ? avx512::backward<T> : avx2::backward<T>;
    run(g, pl, (const float*)x, (const float*)grad_out, (const float*)w, (float*)grad_x, (float*)grad_w,
        (float*)workspace, slots(pl, workspace_bytes));
  });
}

}  // extern "C"
