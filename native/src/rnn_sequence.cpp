// A float32 recurrent layer's whole sequence in one parallel region: a thread takes a block of the batch's rows
// and runs every step for them, its own recurrent product (h_{t-1} U for its rows) and then the cell's arithmetic
// (rnn_cells.h), then takes the next block. Rows never read each other, so the threads never wait for one another
// until the end: one join per pass instead of two parallel regions per step, each of which waited for its slowest
// thread, and a thread that another process slows down takes fewer blocks. Each row is computed the same way on
// any thread, so the results have the same bits for any thread count.
// U is packed once per pass into panels of 64 columns that are contiguous over k, which the small GEMM streams.
#include "soma.h"
#include "attention_gemm.h"
#include "rnn_cells.h"
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <omp.h>

namespace {

using soma::rnn::Step;

constexpr int64_t kPanel = 64;

// out = B (k x n) in panels of kPanel columns, each k x w contiguous at out + e * k; B[p][j] = src[p * sk + j * sn].
void pack_panels(int64_t k, int64_t n, const float* src, int64_t sk, int64_t sn, float* out) {
  const int64_t panels = (n + kPanel - 1) / kPanel;
#pragma omp for schedule(static)
  for (int64_t b = 0; b < panels; ++b) {
    const int64_t e = b * kPanel, w = std::min(kPanel, n - e);
    float* dst = out + e * k;
    for (int64_t p = 0; p < k; ++p)
      for (int64_t j = 0; j < w; ++j) dst[p * w + j] = src[p * sk + (e + j) * sn];
  }
}

// C (m x n, row stride ldc) = A (m x k, lda) B, B packed by pack_panels.
void panel_gemm(int64_t m, int64_t n, int64_t k, const float* A, int64_t lda, const float* packed, float* C,
                int64_t ldc) {
  for (int64_t r = 0; r < m; ++r) std::memset(C + r * ldc, 0, sizeof(float) * n);
  for (int64_t e = 0; e < n; e += kPanel) {
    const int64_t w = std::min(kPanel, n - e);
    soma::attention_gemm_f32(m, w, k, A, lda, packed + e * k, w, C + e, ldc);
  }
}

// The sequence's geometry and buffers (soma.h, soma_rnn_seq_arg), plus the step arguments' base Step.
struct Sequence {
  Step base;
  int64_t steps, g, saved, h, n;
  bool go_backwards, from_state, want_dh0, before;
  const float* u;
  float* workspace;

  Sequence(const int64_t* step_args, const int64_t* seq_args)
      : base(step_args), steps(seq_args[SOMA_RNN_SEQ_STEPS]), g(soma::rnn::gate_blocks(base.cell)),
        saved(soma::rnn::saved_blocks(base.cell)), h(base.hidden), n(base.n),
        go_backwards(seq_args[SOMA_RNN_SEQ_GO_BACKWARDS] != 0), from_state(seq_args[SOMA_RNN_SEQ_FROM_STATE] != 0),
        want_dh0(seq_args[SOMA_RNN_SEQ_WANT_DH0] != 0), before(base.cell == SOMA_RNN_GRU_RESET_BEFORE),
        u((const float*)(intptr_t)seq_args[SOMA_RNN_SEQ_U]),
        workspace((float*)(intptr_t)seq_args[SOMA_RNN_SEQ_WORKSPACE]) {}

  // Workspace: the packed recurrent kernel (g h h floats), then n g h floats of per-step products, then n h more.
  float* packed() const { return workspace; }
  float* products() const { return workspace + g * h * h; }
  float* more_products() const { return products() + n * g * h; }

  // Width of the product that multiplies U (reset_before: U[:, :2h] first, U[:, 2h:] after the reset).
  int64_t first_width() const { return before ? 2 * h : g * h; }

  // Threads: the caller's OpenMP limit (Java sets it from the pass's work), at most one per row.
  int threads() const { return (int)std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), n)); }

  // The step arguments of processing step k, as far as both passes share them: the states before and after it,
  // its mask column and its saved gates.
  Step at(int64_t k) const {
    Step s = base;
    const float* hs = (const float*)base.h_prev;
    const float* cs = (const float*)base.c_prev;
    s.h_prev = hs + k * n * h;
    if (cs) {
      s.c_prev = cs + k * n * h;
      s.c_out = (void*)(cs + (k + 1) * n * h);
    }
    if (base.mask) s.mask = (const float*)base.mask + (go_backwards ? steps - 1 - k : k);
    s.gates = (float*)base.gates + k * n * saved * h;
    return s;
  }

  // Runs f(r0, r1) for blocks of rows, taken by the team's threads as they finish the last (called in the parallel
  // region). A thread that another process slows down takes fewer; at least 4 rows a block, for the products'
  // sake, and about two blocks per thread.
  template <typename F>
  void for_each_block(F&& f) const {
    const int team = omp_get_num_threads();
    const int64_t chunk = std::max<int64_t>(4, (n + 2 * team - 1) / (2 * team)), blocks = (n + chunk - 1) / chunk;
#pragma omp for schedule(dynamic, 1) nowait
    for (int64_t c = 0; c < blocks; ++c) f(c * chunk, std::min(n, (c + 1) * chunk));
  }
};

template <int act, int ract>
void forward(const Sequence& q) {
  const Step& b = q.base;
  const int64_t n = q.n, h = q.h, gh = q.g * h, first = q.first_width();
  const float* xp = (const float*)b.xp;
  const float* drop = (const float*)b.drop;
  float* hm = (float*)b.h_mm;
  float* y = (float*)b.y;
  float* hu = q.products();
  float* hu_cand = q.more_products();
  float* packed_first = q.packed();
  float* packed_cand = q.packed() + h * first;
#pragma omp parallel num_threads(q.threads())
  {
    pack_panels(h, first, q.u, gh, 1, packed_first);
    if (q.before) pack_panels(h, h, q.u + 2 * h, gh, 1, packed_cand);
    // (the packing's implicit barrier: every thread reads all panels)
    q.for_each_block([&](int64_t r0, int64_t r1) {
      const int64_t m = r1 - r0;
      for (int64_t k = 0; k < q.steps; ++k) {
        const bool recurrent = k > 0 || q.from_state;
        Step s = q.at(k);
        const float* hk = (const float*)s.h_prev;
        const float* operand = hk;  // what multiplies U: h_{t-1}, or h_{t-1} * drop
        if (drop) {
          float* hmk = hm + k * n * h;
          for (int64_t i = r0 * h; i < r1 * h; ++i) hmk[i] = hk[i] * drop[i];
          operand = hmk;
        }
        if (recurrent) panel_gemm(m, first, h, operand + r0 * h, h, packed_first, hu + r0 * first, first);
        s.xp = xp + k * n * gh;
        s.hu = recurrent ? hu : nullptr;
        s.h_out = (float*)hk + n * h;
        s.y = y ? y + k * h : nullptr;
        s.h_mm = operand;
        s.phase = 0;
        for (int64_t r = r0; r < r1; ++r) soma::rnn::forward_row<float, act, ract>(&s, r);
        if (q.before) {
          // the candidate's product: (r * h_mm), saved as gate block 3, times U[:, 2h:]
          const float* rh = (const float*)s.gates + 3 * h;
          if (recurrent) panel_gemm(m, h, h, rh + r0 * 4 * h, 4 * h, packed_cand, hu_cand + r0 * h, h);
          s.hu = recurrent ? hu_cand : nullptr;
          s.phase = 1;
          for (int64_t r = r0; r < r1; ++r) soma::rnn::forward_row<float, act, ract>(&s, r);
        }
      }
    });
  }
}

template <int act, int ract>
void backward(const Sequence& q) {
  const Step& b = q.base;
  const int64_t n = q.n, h = q.h, gh = q.g * h, first = q.first_width();
  const bool gru = b.cell == SOMA_RNN_GRU;
  const float* hm = (const float*)b.h_mm;
  const float* dy = (const float*)b.y;
  float* dz = (float*)b.dz;
  float* dz_rec = (float*)b.dz_recurrent;
  float* dh_mm = (float*)b.hu;  // [n, h]: dz_{t+1} U^T for the next step down
  float* d_rh = q.more_products();
  float* packed_first = q.packed();
  float* packed_cand = q.packed() + h * first;
#pragma omp parallel num_threads(q.threads())
  {
    // U^T: (the first columns of) U transposed, and the candidate's block of reset_before
    pack_panels(first, h, q.u, 1, gh, packed_first);
    if (q.before) pack_panels(h, h, q.u + 2 * h, 1, gh, packed_cand);
    q.for_each_block([&](int64_t r0, int64_t r1) {
      const int64_t m = r1 - r0;
      for (int64_t k = q.steps - 1; k >= 0; --k) {
        Step s = q.at(k);
        float* dzk = dz + k * n * gh;
        s.y = dy ? (void*)(dy + k * h) : nullptr;
        s.hu = k < q.steps - 1 ? dh_mm : nullptr;
        s.dz = dzk;
        s.dz_recurrent = gru ? dz_rec + k * n * gh : nullptr;
        s.h_mm = hm + k * n * h;
        s.phase = 0;
        for (int64_t r = r0; r < r1; ++r) soma::rnn::backward_row<float, act, ract>(&s, r);
        if (q.before) {
          panel_gemm(m, h, h, dzk + r0 * gh + 2 * h, gh, packed_cand, d_rh + r0 * h, h);
          s.hu = d_rh;
          s.phase = 1;
          for (int64_t r = r0; r < r1; ++r) soma::rnn::backward_row<float, act, ract>(&s, r);
        }
        if (k > 0 || q.want_dh0) {
          const float* a = gru ? (const float*)s.dz_recurrent : dzk;
          panel_gemm(m, h, first, a + r0 * gh, gh, packed_first, dh_mm + r0 * h, h);
        }
      }
    });
  }
}

void run(bool backward_pass, const int64_t* step_args, const int64_t* seq_args) {
  const Sequence q(step_args, seq_args);
  if (q.n <= 0 || q.h <= 0 || q.steps <= 0) return;
  soma::rnn::with_activations(q.base.activation, q.base.recurrent_activation, [&](auto a, auto r) {
    if (backward_pass) backward<decltype(a)::value, decltype(r)::value>(q);
    else forward<decltype(a)::value, decltype(r)::value>(q);
  });
}

}  // namespace

extern "C" int64_t soma_cpu_rnn_sequence_workspace_bytes(int cell, int64_t n, int64_t hidden) {
  const int64_t g = soma::rnn::gate_blocks(cell);
  return (int64_t)sizeof(float) * (g * hidden * hidden + n * g * hidden + n * hidden);
}

extern "C" void soma_cpu_rnn_sequence_forward(const int64_t* step_args, const int64_t* seq_args) {
  run(false, step_args, seq_args);
}

extern "C" void soma_cpu_rnn_sequence_backward(const int64_t* step_args, const int64_t* seq_args) {
  run(true, step_args, seq_args);
}
