// The recurrent cells' element-wise arithmetic, one batch row of one timestep at a time (SimpleRNN, LSTM, GRU with
// reset_after or before): rnn.cpp runs it for all rows of a step between Java's matrix products, rnn_sequence.cpp
// for a thread's rows of every step between its own. Activations are template parameters so that every gate loop
// is a straight-line loop gcc vectorises (files including this are built with -fno-trapping-math).
#pragma once
#include "soma.h"
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace soma::rnn {

// ------------------------------------------------------------------ activations

// exp for float in a form gcc vectorises (Cephes' polynomial after range reduction, ~1 ulp on [-87, 88]);
// double keeps std::exp, since float64 serves gradient checks, where exactness matters more than speed.
// NaN stays NaN, as in every other op: the clamp is written with comparisons, which are false for NaN
// (std::max(-87, NaN) returned -87, so a NaN in a recurrent layer's input or weights came out as a finite value).
inline float fast_exp(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float t = x * 1.44269504088896341f;
  const float fn = std::floor(t + 0.5f);
  const float fn_int = fn == fn ? fn : 0.0f;  // a NaN's exponent: converting NaN to int is undefined
  float r = x - fn * 0.693359375f;
  r -= fn * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = ((int32_t)fn_int + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(float));
  return p * scale;
}
inline double fast_exp(double x) { return std::exp(x); }

// Activation codes (SOMA_RNN_ACT_*): value from the pre-activation, derivative from the value. The code is a
// template parameter so every gate loop is a straight-line loop that gcc vectorises.
template <int act, typename T>
inline T activate(T x) {
  switch (act) {
    // Branch-free forms (fast_exp clamps its argument for float; double's exp saturates to 0 or inf cleanly).
    case SOMA_RNN_ACT_TANH: return T(1) - T(2) / (T(1) + fast_exp(T(2) * x));
    case SOMA_RNN_ACT_SIGMOID: return T(1) / (T(1) + fast_exp(-x));
    // ReLU and hard sigmoid pass NaN on (comparisons with NaN are false), as elementwise.cpp's ReLU does.
    case SOMA_RNN_ACT_RELU: return x < T(0) ? T(0) : x;
    case SOMA_RNN_ACT_HARD_SIGMOID: {
      const T v = x / T(6) + T(0.5);
      return v < T(0) ? T(0) : (v > T(1) ? T(1) : v);
    }
    default: return x;  // linear
  }
}

template <int act, typename T>
inline T derivative(T y) {
  switch (act) {
    case SOMA_RNN_ACT_TANH: return T(1) - y * y;
    case SOMA_RNN_ACT_SIGMOID: return y * (T(1) - y);
    case SOMA_RNN_ACT_RELU: return y > 0 ? T(1) : T(0);
    case SOMA_RNN_ACT_HARD_SIGMOID: return y > 0 && y < 1 ? T(1) / T(6) : T(0);
    default: return T(1);
  }
}

// One timestep's arguments, unpacked from the int64 array Java passes (indices: SOMA_RNN_ARG_*).
struct Step {
  int cell, activation, recurrent_activation, phase;
  int64_t n, hidden, mask_stride, y_stride;
  const void *xp, *hu, *bias, *recurrent_bias, *h_prev, *c_prev, *mask, *h_mm, *drop;
  void *gates, *h_out, *c_out, *y, *dc, *dz, *dz_recurrent;

  explicit Step(const int64_t* a)
      : cell((int)a[SOMA_RNN_ARG_CELL]), activation((int)a[SOMA_RNN_ARG_ACTIVATION]),
        recurrent_activation((int)a[SOMA_RNN_ARG_RECURRENT_ACTIVATION]), phase((int)a[SOMA_RNN_ARG_PHASE]),
        n(a[SOMA_RNN_ARG_N]),
        hidden(a[SOMA_RNN_ARG_HIDDEN]), mask_stride(a[SOMA_RNN_ARG_MASK_STRIDE]), y_stride(a[SOMA_RNN_ARG_Y_STRIDE]),
        xp(ptr(a, SOMA_RNN_ARG_XP)), hu(ptr(a, SOMA_RNN_ARG_HU)), bias(ptr(a, SOMA_RNN_ARG_BIAS)),
        recurrent_bias(ptr(a, SOMA_RNN_ARG_RECURRENT_BIAS)), h_prev(ptr(a, SOMA_RNN_ARG_H_PREV)),
        c_prev(ptr(a, SOMA_RNN_ARG_C_PREV)), mask(ptr(a, SOMA_RNN_ARG_MASK)), h_mm(ptr(a, SOMA_RNN_ARG_H_MM)),
        drop(ptr(a, SOMA_RNN_ARG_RECURRENT_DROP)), gates((void*)ptr(a, SOMA_RNN_ARG_GATES)),
        h_out((void*)ptr(a, SOMA_RNN_ARG_H_OUT)), c_out((void*)ptr(a, SOMA_RNN_ARG_C_OUT)),
        y((void*)ptr(a, SOMA_RNN_ARG_Y)), dc((void*)ptr(a, SOMA_RNN_ARG_DC)), dz((void*)ptr(a, SOMA_RNN_ARG_DZ)),
        dz_recurrent((void*)ptr(a, SOMA_RNN_ARG_DZ_RECURRENT)) {}

  static const void* ptr(const int64_t* a, int i) { return (const void*)(intptr_t)a[i]; }
};

// Calls f(integral_constant<act>, integral_constant<ract>) for the runtime activation codes.
template <typename F>
void with_activations(int act, int ract, F&& f) {
  auto inner = [&](auto a) {
    switch (ract) {
      case SOMA_RNN_ACT_TANH: f(a, std::integral_constant<int, SOMA_RNN_ACT_TANH>{}); break;
      case SOMA_RNN_ACT_SIGMOID: f(a, std::integral_constant<int, SOMA_RNN_ACT_SIGMOID>{}); break;
      case SOMA_RNN_ACT_RELU: f(a, std::integral_constant<int, SOMA_RNN_ACT_RELU>{}); break;
      case SOMA_RNN_ACT_HARD_SIGMOID: f(a, std::integral_constant<int, SOMA_RNN_ACT_HARD_SIGMOID>{}); break;
      default: f(a, std::integral_constant<int, SOMA_RNN_ACT_LINEAR>{}); break;
    }
  };
  switch (act) {
    case SOMA_RNN_ACT_TANH: inner(std::integral_constant<int, SOMA_RNN_ACT_TANH>{}); break;
    case SOMA_RNN_ACT_SIGMOID: inner(std::integral_constant<int, SOMA_RNN_ACT_SIGMOID>{}); break;
    case SOMA_RNN_ACT_RELU: inner(std::integral_constant<int, SOMA_RNN_ACT_RELU>{}); break;
    case SOMA_RNN_ACT_HARD_SIGMOID: inner(std::integral_constant<int, SOMA_RNN_ACT_HARD_SIGMOID>{}); break;
    default: inner(std::integral_constant<int, SOMA_RNN_ACT_LINEAR>{}); break;
  }
}

// ------------------------------------------------------------------ GRU reset_after=False

// One row of a reset_after=False step (Keras' original GRU): hh = act(x_h + b_h + (r * h_mm) U_h), so the
// product with U_h needs r first; phase 0 computes z, r and r * h_mm, phase 1 (after Java's product) hh and h.
// Returns whether the caller should copy h_out to y (phase 1 only).
template <typename T, int act, int ract>
bool gru_before_forward(const Step* s, int64_t r, bool keep) {
  const int64_t h = s->hidden;
  const T* x = (const T*)s->xp + r * 3 * h;
  const T* bias = (const T*)s->bias;
  T* gs = (T*)s->gates + r * 4 * h;
  if (s->phase == 0) {
    const T* u = s->hu ? (const T*)s->hu + r * 2 * h : nullptr;
    const T* hm = (const T*)s->h_mm + r * h;
#pragma omp simd
    for (int64_t j = 0; j < 2 * h; ++j) gs[j] = activate<ract>(x[j] + (bias ? bias[j] : T(0)) + (u ? u[j] : T(0)));
#pragma omp simd
    for (int64_t j = 0; j < h; ++j) gs[3 * h + j] = gs[h + j] * hm[j];
    return false;
  }
  const T* u = s->hu ? (const T*)s->hu + r * h : nullptr;
  const T* hp = (const T*)s->h_prev + r * h;
  T* ho = (T*)s->h_out + r * h;
#pragma omp simd
  for (int64_t j = 0; j < h; ++j) {
    const T hh = activate<act>(x[2 * h + j] + (bias ? bias[2 * h + j] : T(0)) + (u ? u[j] : T(0)));
    gs[2 * h + j] = hh;
    const T zv = gs[j];
    ho[j] = keep ? zv * hp[j] + (T(1) - zv) * hh : hp[j];
  }
  return true;
}

// Backward phase 1 of a kept row: hu = d(r * h_mm) = dz_h U_h^T gives dz_r, and h_{t-1}'s share through r * h_mm.
template <typename T, int ract>
void gru_before_backward_reset(const Step* s, int64_t r) {
  const int64_t h = s->hidden;
  const T* gs = (const T*)s->gates + r * 4 * h;
  const T* drh = (const T*)s->hu + r * h;
  const T* hm = (const T*)s->h_mm + r * h;
  const T* drop = s->drop ? (const T*)s->drop + r * h : nullptr;
  T* carry = (T*)s->h_out + r * h;
  T* d = (T*)s->dz + r * 3 * h;
#pragma omp simd
  for (int64_t j = 0; j < h; ++j) {
    const T rv = gs[h + j];
    d[h + j] = drh[j] * hm[j] * derivative<ract>(rv);
    carry[j] += drop ? drh[j] * rv * drop[j] : drh[j] * rv;
  }
}

// ------------------------------------------------------------------ one row of a step

// Gate blocks of h per row (LSTM 4, GRU 3, SimpleRNN 1) and blocks saved for the backward (GRU 4).
inline int64_t gate_blocks(int cell) {
  return cell == SOMA_RNN_LSTM ? 4 : cell == SOMA_RNN_GRU || cell == SOMA_RNN_GRU_RESET_BEFORE ? 3 : 1;
}
inline int64_t saved_blocks(int cell) {
  return cell == SOMA_RNN_GRU || cell == SOMA_RNN_GRU_RESET_BEFORE ? 4 : gate_blocks(cell);
}

// Forward of row r of the step s describes (soma.h, soma_rnn_arg).
template <typename T, int act, int ract>
inline void forward_row(const Step* s, int64_t r) {
  const int64_t h = s->hidden;
  const int cell = s->cell;
  const bool gru_before = cell == SOMA_RNN_GRU_RESET_BEFORE;
  const int64_t g = gate_blocks(cell), saved = saved_blocks(cell);
  const T* xp = (const T*)s->xp;
  const T* hu = (const T*)s->hu;
  const T* bias = (const T*)s->bias;
  const T* rbias = (const T*)s->recurrent_bias;
  const T* h_prev = (const T*)s->h_prev;
  const T* c_prev = (const T*)s->c_prev;
  const T* mask = (const T*)s->mask;
  T* gates = (T*)s->gates;
  T* h_out = (T*)s->h_out;
  T* c_out = (T*)s->c_out;
  T* y = (T*)s->y;
  const T* x = xp + r * g * h;
  const T* u = hu ? hu + r * g * h : nullptr;
  const T* hp = h_prev + r * h;
  T* gs = gates + r * saved * h;
  T* ho = h_out + r * h;
  const bool keep = !mask || mask[r * s->mask_stride] != T(0);
  if (gru_before) {
    if (!gru_before_forward<T, act, ract>(s, r, keep)) return;
  } else if (cell == SOMA_RNN_LSTM) {
    const T* cp = c_prev + r * h;
    T* co = c_out + r * h;
#pragma omp simd
    for (int64_t j = 0; j < 4 * h; ++j) gs[j] = x[j] + (u ? u[j] : T(0)) + (bias ? bias[j] : T(0));
#pragma omp simd
    for (int64_t j = 0; j < 2 * h; ++j) gs[j] = activate<ract>(gs[j]);
#pragma omp simd
    for (int64_t j = 2 * h; j < 3 * h; ++j) gs[j] = activate<act>(gs[j]);
#pragma omp simd
    for (int64_t j = 3 * h; j < 4 * h; ++j) gs[j] = activate<ract>(gs[j]);
    if (keep) {
#pragma omp simd
      for (int64_t j = 0; j < h; ++j) {
        const T c = gs[h + j] * cp[j] + gs[j] * gs[2 * h + j];
        co[j] = c;
        ho[j] = gs[3 * h + j] * activate<act>(c);
      }
    } else {
      std::memcpy(co, cp, sizeof(T) * h);
      std::memcpy(ho, hp, sizeof(T) * h);
    }
  } else if (cell == SOMA_RNN_GRU) {
    // Keras reset_after=True: hh = act(x_h + b_h + r * (h U_h + rb_h)); saved: z, r, hh, (h U_h + rb_h).
#pragma omp simd
    for (int64_t j = 0; j < 2 * h; ++j) {
      T zv = x[j] + (bias ? bias[j] : T(0)) + (u ? u[j] : T(0)) + (rbias ? rbias[j] : T(0));
      gs[j] = activate<ract>(zv);
    }
#pragma omp simd
    for (int64_t j = 0; j < h; ++j) {
      const T rec = (u ? u[2 * h + j] : T(0)) + (rbias ? rbias[2 * h + j] : T(0));
      const T pre = x[2 * h + j] + (bias ? bias[2 * h + j] : T(0)) + gs[h + j] * rec;
      const T hh = activate<act>(pre);
      gs[2 * h + j] = hh;
      gs[3 * h + j] = rec;
      const T zv = gs[j];
      const T hv = zv * hp[j] + (T(1) - zv) * hh;
      ho[j] = keep ? hv : hp[j];
    }
  } else {
#pragma omp simd
    for (int64_t j = 0; j < h; ++j) {
      const T hv = activate<act>(x[j] + (u ? u[j] : T(0)) + (bias ? bias[j] : T(0)));
      gs[j] = hv;
      ho[j] = keep ? hv : hp[j];
    }
  }
  if (y) {
    T* yr = y + r * s->y_stride;
    std::memcpy(yr, ho, sizeof(T) * h);
  }
}

// Backward of row r of the step s describes.
template <typename T, int act, int ract>
inline void backward_row(const Step* s, int64_t r) {
  const int64_t h = s->hidden;
  const int cell = s->cell;
  const bool gru_before = cell == SOMA_RNN_GRU_RESET_BEFORE;
  const int64_t g = gate_blocks(cell), saved = saved_blocks(cell);
  const T* gates = (const T*)s->gates;
  const T* h_prev = (const T*)s->h_prev;
  const T* c_prev = (const T*)s->c_prev;
  const T* c_cur = (const T*)s->c_out;
  const T* mask = (const T*)s->mask;
  const T* dy = (const T*)s->y;
  const T* dh_mm = (const T*)s->hu;
  T* dh_carry = (T*)s->h_out;
  T* dc = (T*)s->dc;
  T* dz = (T*)s->dz;
  T* dzh = (T*)s->dz_recurrent;
  const T* gs = gates + r * saved * h;
  const T* dyr = dy ? dy + r * s->y_stride : nullptr;
  const T* dm = dh_mm ? dh_mm + r * h : nullptr;
  T* carry = dh_carry + r * h;
  T* d = dz + r * g * h;
  const bool keep = !mask || mask[r * s->mask_stride] != T(0);
  const T* drop = s->drop ? (const T*)s->drop + r * h : nullptr;
  if (gru_before && s->phase == 1) {
    if (keep) gru_before_backward_reset<T, ract>(s, r);
    return;
  }
  // dh_t = the part that bypassed U + dy_t + dh_mm (times the dropout multiplier), gathered in carry first, in
  // that order: the loops below then read one array (loads under a condition kept gcc from vectorizing the LSTM's
  // and the GRU's loops, 2x slower).
  if (dyr) {
#pragma omp simd
    for (int64_t j = 0; j < h; ++j) carry[j] += dyr[j];
  }
  if (dm && drop) {
#pragma omp simd
    for (int64_t j = 0; j < h; ++j) carry[j] += dm[j] * drop[j];
  } else if (dm) {
#pragma omp simd
    for (int64_t j = 0; j < h; ++j) carry[j] += dm[j];
  }
  if (!keep) {
    // A masked step copied the previous state: its gradient passes straight through, the gates get none.
    std::memset(d, 0, sizeof(T) * g * h);
    if (dzh) std::memset(dzh + r * g * h, 0, sizeof(T) * g * h);
    return;
  }
  if (cell == SOMA_RNN_LSTM) {
    const T* cp = c_prev + r * h;
    const T* cc = c_cur + r * h;
    T* dcr = dc + r * h;
#pragma omp simd
    for (int64_t j = 0; j < h; ++j) {
      const T dh = carry[j];
      const T i = gs[j], f = gs[h + j], gg = gs[2 * h + j], o = gs[3 * h + j];
      const T ac = activate<act>(cc[j]);
      const T dct = dcr[j] + dh * o * derivative<act>(ac);
      d[j] = dct * gg * derivative<ract>(i);
      d[h + j] = dct * cp[j] * derivative<ract>(f);
      d[2 * h + j] = dct * i * derivative<act>(gg);
      d[3 * h + j] = dh * ac * derivative<ract>(o);
      dcr[j] = dct * f;
      carry[j] = T(0);
    }
  } else if (gru_before) {
    const T* hp = h_prev + r * h;
#pragma omp simd
    for (int64_t j = 0; j < h; ++j) {
      const T dh = carry[j];
      const T zv = gs[j], hh = gs[2 * h + j];
      d[j] = dh * (hp[j] - hh) * derivative<ract>(zv);
      d[h + j] = T(0);  // phase 1, once dz_h U_h^T is known
      d[2 * h + j] = dh * (T(1) - zv) * derivative<act>(hh);
      carry[j] = dh * zv;
    }
  } else if (cell == SOMA_RNN_GRU) {
    const T* hp = h_prev + r * h;
    T* dr = dzh + r * g * h;
#pragma omp simd
    for (int64_t j = 0; j < h; ++j) {
      const T dh = carry[j];
      const T zv = gs[j], rv = gs[h + j], hh = gs[2 * h + j], rec = gs[3 * h + j];
      const T dpre = dh * (T(1) - zv) * derivative<act>(hh);
      const T dzv = dh * (hp[j] - hh) * derivative<ract>(zv);
      const T drv = dpre * rec * derivative<ract>(rv);
      d[j] = dzv;
      d[h + j] = drv;
      d[2 * h + j] = dpre;
      dr[j] = dzv;
      dr[h + j] = drv;
      dr[2 * h + j] = dpre * rv;
      carry[j] = dh * zv;
    }
  } else {
#pragma omp simd
    for (int64_t j = 0; j < h; ++j) {
      const T dh = carry[j];
      d[j] = dh * derivative<act>(gs[j]);
      carry[j] = T(0);
    }
  }
}

}  // namespace soma::rnn
