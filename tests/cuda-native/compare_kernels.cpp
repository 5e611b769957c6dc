// Every soma_cuda_* kernel entry of cuda-kernels/copy.cu and elementwise.cu, run on the emulated device, against
// the matching soma_cpu_* entry of native/src (the reference). Fresh random inputs each run (the seed is printed;
// SOMA_TEST_SEED repeats a run); every output is poisoned with a NaN payload no kernel computes before each call,
// so an element a kernel leaves unwritten is told from a NaN it computed. Layouts: contiguous, misaligned by one
// element (the scalar path instead of 16-byte packs), broadcast (stride 0), transposed / strided / negative
// strides, in place (out == an input), odd sizes, and sizes beyond one grid (grid-stride loops).
// Bounds: bitwise equal (NaN matching NaN) for copies, casts, fills, comparisons, selects and single IEEE
// operations; ||out - ref|| / ||ref|| < 1e-5 (f32) or 1e-12 (f64) over the finite elements otherwise, with
// NaN / +-inf required in exactly the same places.
//
//   cuda_compare [--subset]     --subset: f32 only, N = 203, no large sizes (the sanitizer build)
#include "soma.h"
#include "device_buffers.h"
#include "test_util.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <utility>
#include <vector>

namespace {

bool g_subset = false;
int64_t N = 1003;  // the odd size of most cases (several blocks); 203 (one block) in --subset
std::mt19937_64 g_rng;

template <typename T> const char* tname() { return sizeof(T) == 8 ? "f64" : std::is_same<T, float>::value ? "f32" : "i32"; }

const char* kBinaryNames[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum",
                              "eq",  "ne",  "lt",  "le",  "gt",  "ge"};
const char* kUnaryNames[] = {"neg",   "exp",        "log",        "sqrt",       "abs",         "tanh",
                             "sigmoid", "relu",     "leaky_relu", "gelu",       "clamp",       "pow_scalar",
                             "add_scalar", "mul_scalar", "rsub_scalar", "rdiv_scalar", "square"};

// ---------------------------------------------------------------- values
enum class Values { General, Positive };

// Random values; about a third come from a small set (zeros, ones, halves, NaN, infinities) so that equal pairs,
// signed zeros and non-finite inputs occur in every layout.
template <typename T> std::vector<T> random_values(size_t n, Values kind = Values::General) {
  std::vector<T> v(n);
  if (std::is_integral<T>::value) {
    std::uniform_int_distribution<int> u(-1000, 1000);
    for (auto& x : v) x = T(u(g_rng));
    return v;
  }
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  const T special[] = {T(0), -T(0), T(1), T(-1), T(0.5), T(-0.5), T(2), T(-2), nan, inf, -inf};
  std::uniform_real_distribution<double> general(-3, 3), positive(0.01, 4), pick(0, 1);
  std::uniform_int_distribution<int> which(0, int(sizeof special / sizeof special[0]) - 1);
  for (auto& x : v) {
    double p = pick(g_rng);
    if (p < (kind == Values::General ? 0.3 : 0.08)) x = special[which(g_rng)];
    else x = T(kind == Values::General ? general(g_rng) : positive(g_rng));
  }
  return v;
}

// Random bit patterns (copies move words: NaN payloads must survive).
template <typename T> std::vector<T> random_bits(size_t n) {
  std::vector<T> v(n);
  for (auto& x : v) {
    uint64_t bits = g_rng();
    std::memcpy(&x, &bits, sizeof(T));
    if (is_poison(x)) x = T(0);
  }
  return v;
}


// ---------------------------------------------------------------- comparison
struct Tol {
  bool exact;
};
constexpr Tol kExact{true};
constexpr Tol kRel{false};

template <typename T> double rel_bound() { return sizeof(T) == 4 ? 1e-5 : 1e-12; }

template <typename T> std::string show(T v) {
  if (is_poison(v)) return "<poison: never written>";
  if (std::is_integral<T>::value) return std::to_string(int64_t(v));
  return tu::format("%.9g", double(v));
}

template <typename T>
void compare(const std::string& what, const std::vector<T>& got, const std::vector<T>& ref, Tol tol) {
  ++tu::checks();
  std::string why;
  size_t first = size_t(-1), bad = 0;
  double diff2 = 0, ref2 = 0;
  if (got.size() != ref.size()) why = "sizes differ";
  for (size_t i = 0; i < got.size() && why.empty(); ++i) {
    const T g = got[i], r = ref[i];
    bool ok;
    if (is_poison(g) || is_poison(r) || std::is_integral<T>::value) {
      ok = std::memcmp(&g, &r, sizeof(T)) == 0;
    } else {
      const double gd = double(g), rd = double(r);
      if (std::isnan(rd) || std::isnan(gd)) ok = std::isnan(rd) && std::isnan(gd);
      else if (std::isinf(rd) || std::isinf(gd)) ok = gd == rd;
      else if (tol.exact) ok = std::memcmp(&g, &r, sizeof(T)) == 0;  // -0 and +0 differ here
      else {
        ok = true;
        diff2 += (gd - rd) * (gd - rd);
        ref2 += rd * rd;
      }
    }
    if (!ok) {
      if (first == size_t(-1)) first = i;
      ++bad;
    }
  }
  if (why.empty() && bad)
    why = tu::format("%zu of %zu elements differ, first at %zu: emulated %s, cpu %s", bad, got.size(), first,
                     show(got[first]).c_str(), show(ref[first]).c_str());
  double rel = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
  if (why.empty() && !tol.exact && !(rel < rel_bound<T>()))
    why = tu::format("relative error %.3g >= %.0e", rel, rel_bound<T>());
  if (!why.empty()) tu::fail(__FILE__, __LINE__, what + ": " + why);
  else if (tu::verbose()) std::printf("ok   %-70s %s\n", what.c_str(), tol.exact ? "exact" : tu::format("rel %.2g", rel).c_str());
}

void status_ok(const std::string& what, int status) {
  TU_CHECK(status == 0, "%s: status %d (%s)", what.c_str(), status, soma_emu_last_message());
}

// ---------------------------------------------------------------- layouts
struct Operand {  // an operand's strides over the index space and where its first element sits in its buffer
  std::vector<int64_t> strides;
  int64_t offset = 0;  // extra elements before the lowest address (misalignment)
};

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}
// Elements the operand's buffer needs, and the index of its element 0 in that buffer.
void extent(const std::vector<int64_t>& shape, const Operand& o, int64_t& size, int64_t& origin) {
  int64_t lo = 0, hi = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    int64_t span = (shape[d] - 1) * o.strides[d];
    if (span < 0) lo += span; else hi += span;
  }
  size = o.offset + hi - lo + 1;
  origin = o.offset - lo;
}

// ---------------------------------------------------------------- binary
struct BinaryCase {
  const char* name;
  std::vector<int64_t> shape;
  Operand a, b;
  int64_t out_offset;
  int in_place;  // 0: separate output, 1: out == a, 2: out == b (that operand contiguous, with out's offset)
  bool large;
};

std::vector<BinaryCase> binary_cases() {
  std::vector<BinaryCase> c;
  c.push_back({"contiguous", {N}, {{1}, 0}, {{1}, 0}, 0, 0, false});
  c.push_back({"misaligned a, b, out by one element", {N}, {{1}, 1}, {{1}, 1}, 1, 0, false});
  c.push_back({"misaligned out only", {N}, {{1}, 0}, {{1}, 0}, 1, 0, false});
  c.push_back({"broadcast [7,1,9] x [1,5,9]", {7, 5, 9}, {{9, 0, 1}, 0}, {{0, 9, 1}, 0}, 0, 0, false});
  c.push_back({"scalar b (strides 0)", {4, 33}, {{33, 1}, 0}, {{0, 0}, 0}, 0, 0, false});
  c.push_back({"scalar a, misaligned", {4, 33}, {{0, 0}, 1}, {{33, 1}, 1}, 1, 0, false});
  c.push_back({"transposed a [9,7]", {9, 7}, {{1, 9}, 0}, {{7, 1}, 0}, 0, 0, false});
  c.push_back({"every other element of a, rank 3", {3, 5, 7}, {{70, 14, 2}, 0}, {{35, 7, 1}, 0}, 0, 0, false});
  c.push_back({"negative strides of a (flipped)", {5, 11}, {{-11, -1}, 0}, {{11, 1}, 0}, 0, 0, false});
  c.push_back({"rank 5 broadcast, odd sizes", {2, 3, 1, 5, 3}, {{15, 0, 15, 3, 1}, 0}, {{0, 5, 5, 1, 0}, 0}, 0, 0, false});
  c.push_back({"rank 0 (one element)", {}, {{}, 0}, {{}, 0}, 0, 0, false});
  c.push_back({"in place out == a", {N}, {{1}, 0}, {{1}, 0}, 0, 1, false});
  c.push_back({"in place out == b, misaligned", {N}, {{1}, 1}, {{1}, 1}, 1, 2, false});
  c.push_back({"in place out == a, b broadcast row", {13, 17}, {{17, 1}, 0}, {{0, 1}, 0}, 0, 1, false});
  c.push_back({"contiguous n=20011 (grid-stride loop)", {20011}, {{1}, 0}, {{1}, 0}, 0, 0, true});
  c.push_back({"transposed a [150,137] (grid-stride loop)", {150, 137}, {{1, 150}, 0}, {{137, 1}, 0}, 0, 0, true});
  return c;
}

template <typename T> void binary_suite() {
  for (const BinaryCase& c : binary_cases()) {
    if (c.large && g_subset) continue;
    const int64_t n = numel(c.shape);
    const int ndim = int(c.shape.size());
    int64_t as, ao, bs, bo;
    extent(c.shape, c.a, as, ao);
    extent(c.shape, c.b, bs, bo);
    for (int op = SOMA_ADD; op <= SOMA_GE; ++op) {
      const std::string what = tu::format("binary %s %s %s", kBinaryNames[op], tname<T>(), c.name);
      std::vector<T> ha = random_values<T>(size_t(as)), hb = random_values<T>(size_t(bs));
      std::vector<T> hout = poisoned<T>(size_t(n + c.out_offset));
      Dev<T> da(ha), db(hb), dout(hout);
      T* out_dev = c.in_place == 1 ? da.p + ao : c.in_place == 2 ? db.p + bo : dout.p + c.out_offset;
      T* out_ref = c.in_place == 1 ? ha.data() + ao : c.in_place == 2 ? hb.data() + bo : hout.data() + c.out_offset;
      status_ok(what, soma_cuda_binary(op, dtype_of<T>(), ndim, c.shape.data(), da.p + ao, c.a.strides.data(),
                                       db.p + bo, c.b.strides.data(), out_dev, nullptr));
      soma_cpu_binary(op, dtype_of<T>(), ndim, c.shape.data(), ha.data() + ao, c.a.strides.data(), hb.data() + bo,
                      c.b.strides.data(), out_ref);
      const Tol tol = op == SOMA_POW ? kRel : kExact;
      if (c.in_place == 1) compare(what, da.get(), ha, tol);
      else if (c.in_place == 2) compare(what, db.get(), hb, tol);
      else compare(what, dout.get(), hout, tol);
    }
  }
}

// ---------------------------------------------------------------- unary forward and backward
struct UnaryOp {
  int op;
  double p0, p1;
  Values values;
  Tol forward, backward;
  bool backward_reads_y;  // on the CPU or on the GPU: such ops need y
};

std::vector<UnaryOp> unary_ops() {
  const Values G = Values::General, P = Values::Positive;
  return {
      {SOMA_NEG, 0, 0, G, kExact, kExact, false},
      {SOMA_EXP, 0, 0, G, kRel, kRel, true},
      {SOMA_LOG, 0, 0, P, kRel, kRel, false},
      {SOMA_SQRT, 0, 0, P, kExact, kRel, true},
      {SOMA_ABS, 0, 0, G, kExact, kExact, false},
      {SOMA_TANH, 0, 0, G, kRel, kRel, true},
      {SOMA_SIGMOID, 0, 0, G, kRel, kRel, true},
      {SOMA_RELU, 0, 0, G, kExact, kExact, false},
      {SOMA_LEAKY_RELU, 0.1, 0, G, kExact, kExact, false},
      {SOMA_GELU, 0, 0, G, kRel, kRel, false},
      {SOMA_CLAMP, -0.5, 0.7, G, kExact, kExact, false},
      {SOMA_POW_SCALAR, 2.5, 0, P, kRel, kRel, false},
      {SOMA_POW_SCALAR, 3, 0, G, kRel, kRel, false},
      {SOMA_POW_SCALAR, 0, 0, G, kRel, kRel, false},
      {SOMA_POW_SCALAR, -1.5, 0, P, kRel, kRel, false},
      {SOMA_ADD_SCALAR, 1.7, 0, G, kExact, kExact, false},
      {SOMA_MUL_SCALAR, -2.5, 0, G, kExact, kExact, false},
      {SOMA_RSUB_SCALAR, 0.3, 0, G, kExact, kExact, false},
      {SOMA_RDIV_SCALAR, 1.7, 0, P, kExact, kRel, true},  // the CPU's rule is -g * y / x
      {SOMA_SQUARE, 0, 0, G, kExact, kRel, false},
  };
}

struct UnaryCase {
  const char* name;
  int64_t n, x_offset, out_offset;
  bool in_place;  // forward: out == x; backward: grad_in == grad_out
  bool large;
};

std::vector<UnaryCase> unary_cases() {
  return {
      {"n=N", N, 0, 0, false, false},
      {"misaligned in and out", N, 1, 1, false, false},
      {"misaligned out only", N, 0, 1, false, false},
      {"in place", N, 0, 0, true, false},
      {"in place, misaligned", N, 1, 1, true, false},
      {"n=7 (less than a pack)", 7, 0, 0, false, false},
      {"n=20011 (grid-stride loop)", 20011, 0, 0, false, true},
  };
}

template <typename T> void unary_suite() {
  for (const UnaryOp& u : unary_ops()) {
    for (const UnaryCase& c : unary_cases()) {
      if (c.large && g_subset) continue;
      const std::string params = tu::format("(p0 %g, p1 %g)", u.p0, u.p1);
      // forward
      {
        const std::string what = tu::format("unary %s%s %s %s", kUnaryNames[u.op], params.c_str(), tname<T>(), c.name);
        std::vector<T> hx = random_values<T>(size_t(c.n + c.x_offset), u.values);
        std::vector<T> hout = poisoned<T>(size_t(c.n + c.out_offset));
        Dev<T> dx(hx), dout(hout);
        const int64_t oo = c.in_place ? c.x_offset : c.out_offset;
        T* out_dev = c.in_place ? dx.p + oo : dout.p + oo;
        T* out_ref = c.in_place ? hx.data() + oo : hout.data() + oo;
        status_ok(what, soma_cuda_unary(u.op, dtype_of<T>(), c.n, dx.p + c.x_offset, out_dev, u.p0, u.p1, nullptr));
        soma_cpu_unary(u.op, dtype_of<T>(), c.n, hx.data() + c.x_offset, out_ref, u.p0, u.p1);
        compare(what, c.in_place ? dx.get() : dout.get(), c.in_place ? hx : hout, u.forward);
      }
      // backward: y = f(x) from the CPU, as the ops pass the forward's output
      for (int y_null = 0; y_null < 2; ++y_null) {
        if (y_null && (u.backward_reads_y || c.in_place || c.large)) continue;
        const std::string what = tu::format("unary backward %s%s %s %s%s", kUnaryNames[u.op], params.c_str(),
                                            tname<T>(), c.name, y_null ? ", y = NULL" : "");
        const int64_t off = c.x_offset;
        std::vector<T> hx = random_values<T>(size_t(c.n + off), u.values), hy(size_t(c.n + off));
        soma_cpu_unary(u.op, dtype_of<T>(), c.n + off, hx.data(), hy.data(), u.p0, u.p1);
        std::vector<T> hg = random_values<T>(size_t(c.n + off));
        std::vector<T> hgi = poisoned<T>(size_t(c.n + c.out_offset));
        Dev<T> dx(hx), dy(hy), dg(hg), dgi(hgi);
        const int64_t go = c.in_place ? off : c.out_offset;
        T* gi_dev = c.in_place ? dg.p + go : dgi.p + go;
        T* gi_ref = c.in_place ? hg.data() + go : hgi.data() + go;
        status_ok(what, soma_cuda_unary_backward(u.op, dtype_of<T>(), c.n, dx.p + off, y_null ? nullptr : dy.p + off,
                                                 dg.p + off, gi_dev, u.p0, u.p1, nullptr));
        soma_cpu_unary_backward(u.op, dtype_of<T>(), c.n, hx.data() + off, y_null ? nullptr : hy.data() + off,
                                hg.data() + off, gi_ref, u.p0, u.p1);
        compare(what, c.in_place ? dg.get() : dgi.get(), c.in_place ? hg : hgi, u.backward);
      }
    }
  }
}

// ---------------------------------------------------------------- where
struct WhereCase {
  const char* name;
  std::vector<int64_t> shape;
  Operand c, a, b;
  int64_t out_offset;
  bool in_place;  // out == a (a contiguous with out's offset)
};

template <typename T> void where_suite() {
  const std::vector<WhereCase> cases = {
      {"contiguous", {N}, {{1}, 0}, {{1}, 0}, {{1}, 0}, 0, false},
      {"misaligned all", {N}, {{1}, 1}, {{1}, 1}, {{1}, 1}, 1, false},
      {"broadcast cond row, a column, b scalar", {5, 7, 33}, {{33, 0, 1}, 0}, {{0, 33, 1}, 0}, {{0, 0, 0}, 0}, 0, false},
      {"transposed b [9,7]", {9, 7}, {{7, 1}, 0}, {{7, 1}, 0}, {{1, 9}, 0}, 0, false},
      {"in place out == a, misaligned", {N}, {{1}, 0}, {{1}, 1}, {{1}, 0}, 1, true},
  };
  for (const WhereCase& c : cases) {
    const std::string what = tu::format("where %s %s", tname<T>(), c.name);
    const int64_t n = numel(c.shape);
    int64_t cs, co, as, ao, bs, bo;
    extent(c.shape, c.c, cs, co);
    extent(c.shape, c.a, as, ao);
    extent(c.shape, c.b, bs, bo);
    std::vector<T> hc = random_values<T>(size_t(cs)), ha = random_values<T>(size_t(as)), hb = random_values<T>(size_t(bs));
    std::vector<T> hout = poisoned<T>(size_t(n + c.out_offset));
    Dev<T> dc(hc), da(ha), db(hb), dout(hout);
    T* out_dev = c.in_place ? da.p + ao : dout.p + c.out_offset;
    T* out_ref = c.in_place ? ha.data() + ao : hout.data() + c.out_offset;
    status_ok(what, soma_cuda_where(dtype_of<T>(), int(c.shape.size()), c.shape.data(), dc.p + co, c.c.strides.data(),
                                    da.p + ao, c.a.strides.data(), db.p + bo, c.b.strides.data(), out_dev, nullptr));
    soma_cpu_where(dtype_of<T>(), int(c.shape.size()), c.shape.data(), hc.data() + co, c.c.strides.data(),
                   ha.data() + ao, c.a.strides.data(), hb.data() + bo, c.b.strides.data(), out_ref);
    compare(what, c.in_place ? da.get() : dout.get(), c.in_place ? ha : hout, kExact);
  }
}

// ---------------------------------------------------------------- fill, strided copy, cast, axpy
template <typename T> void fill_suite(const std::vector<double>& values) {
  struct Case { const char* name; int64_t n, offset; bool large; };
  const Case cases[] = {{"n=N", N, 0, false}, {"misaligned", N, 1, false}, {"n=1", 1, 0, false},
                        {"n=20011", 20011, 0, true}};
  for (const Case& c : cases) {
    if (c.large && g_subset) continue;
    for (double v : values) {
      const std::string what = tu::format("fill %s %s value %g", tname<T>(), c.name, v);
      std::vector<T> h = poisoned<T>(size_t(c.n + c.offset));
      Dev<T> d(h);
      status_ok(what, soma_cuda_fill(dtype_of<T>(), d.p + c.offset, c.n, v, nullptr));
      soma_cpu_fill(dtype_of<T>(), h.data() + c.offset, c.n, v);
      compare(what, d.get(), h, kExact);
    }
  }
}

template <typename T> void strided_copy_suite() {
  struct Case { const char* name; std::vector<int64_t> shape; Operand src, dst; bool large; };
  const std::vector<Case> cases = {
      {"contiguous (a plain copy)", {N}, {{1}, 0}, {{1}, 0}, false},
      {"contiguous, misaligned source", {N}, {{1}, 1}, {{1}, 0}, false},
      {"transpose [37,29]", {37, 29}, {{1, 37}, 0}, {{29, 1}, 0}, false},
      {"rank 3 permutation [5,6,7]", {5, 6, 7}, {{6, 1, 30}, 1}, {{42, 7, 1}, 0}, false},
      {"broadcast source row [4,N]", {4, N}, {{0, 1}, 0}, {{N, 1}, 0}, false},
      {"every other destination element", {50}, {{1}, 0}, {{2}, 1}, false},
      {"negative source strides (flip)", {3, 101}, {{-101, -1}, 0}, {{101, 1}, 0}, false},
      {"negative destination stride", {101}, {{1}, 0}, {{-1}, 0}, false},
      {"rank 8, odd sizes, every other source element", {2, 1, 3, 1, 2, 3, 1, 5}, {{180, 180, 60, 60, 30, 10, 10, 2}, 0},
       {{90, 90, 30, 30, 15, 5, 5, 1}, 1}, false},
      {"rank 0 (one element)", {}, {{}, 0}, {{}, 0}, false},
      {"transpose [150,137] (grid-stride loop)", {150, 137}, {{1, 150}, 0}, {{137, 1}, 0}, true},
  };
  for (const Case& c : cases) {
    if (c.large && g_subset) continue;
    const std::string what = tu::format("strided_copy %s %s", tname<T>(), c.name);
    int64_t ss, so, ds, dso;
    extent(c.shape, c.src, ss, so);
    extent(c.shape, c.dst, ds, dso);
    std::vector<T> hs = random_bits<T>(size_t(ss)), hd = poisoned<T>(size_t(ds));
    Dev<T> dsrc(hs), ddst(hd);
    status_ok(what, soma_cuda_strided_copy(dtype_of<T>(), int(c.shape.size()), c.shape.data(), dsrc.p + so,
                                           c.src.strides.data(), ddst.p + dso, c.dst.strides.data(), nullptr));
    soma_cpu_strided_copy(dtype_of<T>(), int(c.shape.size()), c.shape.data(), hs.data() + so, c.src.strides.data(),
                          hd.data() + dso, c.dst.strides.data());
    compare(what, ddst.get(), hd, kExact);
  }
}

// Values a cast must handle: NaN, infinities, the int32 limits and the floats on either side of them.
template <typename S> std::vector<S> cast_inputs(size_t n) {
  std::vector<S> v;
  if (std::is_integral<S>::value) {
    v = {S(0), S(1), S(-1), S(2147483647), S(-2147483647 - 1), S(16777217), S(-16777217), S(123456789)};
    std::uniform_int_distribution<int32_t> u(std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max());
    while (v.size() < n) v.push_back(S(u(g_rng)));
    return v;
  }
  const S inf = std::numeric_limits<S>::infinity(), nan = std::numeric_limits<S>::quiet_NaN();
  v = {nan, -nan, inf, -inf, S(0), -S(0), S(0.5), S(-0.5), S(1.5), S(-1.7), S(2.7), S(-2.7), S(3e9), S(-3e9),
       S(2147483520.0), S(-2147483520.0), S(2147483647.0), S(2147483648.0), S(-2147483648.0), S(-2147483904.0),
       S(2147483647.5), S(-2147483648.5), S(-2147483649.0), S(4294967296.0), std::numeric_limits<S>::max(),
       std::numeric_limits<S>::lowest(), std::numeric_limits<S>::denorm_min(), S(16777217.0)};
  if (sizeof(S) == 8) v.push_back(S(1e300));
  std::uniform_real_distribution<double> big(-4e9, 4e9), small(-100, 100), pick(0, 1);
  while (v.size() < n) v.push_back(S(pick(g_rng) < 0.5 ? big(g_rng) : small(g_rng)));
  return v;
}

template <typename S, typename D> void cast_pair() {
  for (int64_t offset = 0; offset < 2; ++offset) {
    const int64_t n = N;
    const std::string what = tu::format("cast %s -> %s n=N%s", tname<S>(), tname<D>(), offset ? " misaligned" : "");
    std::vector<S> hs = cast_inputs<S>(size_t(n + offset));
    if (offset) std::rotate(hs.begin(), hs.end() - 1, hs.end());
    std::vector<D> hd = poisoned<D>(size_t(n + offset));
    Dev<S> ds(hs);
    Dev<D> dd(hd);
    status_ok(what, soma_cuda_cast(dtype_of<S>(), ds.p + offset, dtype_of<D>(), dd.p + offset, n, nullptr));
    soma_cpu_cast(dtype_of<S>(), hs.data() + offset, dtype_of<D>(), hd.data() + offset, n);
    std::vector<D> got = dd.get();
    compare(what, got, hd, kExact);
    // float -> int32 as the GPU's cvt.rzi.sat: truncate, saturate, NaN -> 0; checked against that rule itself
    if (std::is_integral<D>::value && !std::is_integral<S>::value) {
      int64_t bad = -1;
      for (int64_t i = 0; i < n && bad < 0; ++i) {
        const double x = double(hs[size_t(offset + i)]);
        const int32_t want = std::isnan(x) ? 0 : x >= 2147483647.0 ? INT32_MAX : x <= -2147483648.0 ? INT32_MIN
                                                                                                   : int32_t(std::trunc(x));
        if (int32_t(got[size_t(offset + i)]) != want) bad = i;
      }
      TU_CHECK(bad < 0, "%s: element %lld (%.17g) became %d, expected truncation with saturation, NaN -> 0",
               what.c_str(), (long long)bad, bad < 0 ? 0.0 : double(hs[size_t(offset + bad)]),
               bad < 0 ? 0 : int(got[size_t(offset + bad)]));
    }
  }
}

template <typename S> void cast_from() {
  cast_pair<S, float>();
  cast_pair<S, double>();
  cast_pair<S, int32_t>();
}

template <typename T> void axpy_suite(const std::vector<double>& alphas) {
  struct Case { const char* name; int64_t n, x_offset, y_offset; bool same; bool large; };
  const Case cases[] = {{"n=N", N, 0, 0, false, false},     {"x misaligned", N, 1, 0, false, false},
                        {"y misaligned", N, 0, 1, false, false}, {"x == y (doubling)", N, 0, 0, true, false},
                        {"n=20011", 20011, 0, 0, false, true}};
  const Tol tol = std::is_integral<T>::value ? kExact : kRel;  // the CPU build may fuse the multiply-add
  for (const Case& c : cases) {
    if (c.large && g_subset) continue;
    for (double alpha : alphas) {
      const std::string what = tu::format("axpy %s %s alpha %g", tname<T>(), c.name, alpha);
      std::vector<T> hx = random_values<T>(size_t(c.n + c.x_offset)), hy = random_values<T>(size_t(c.n + c.y_offset));
      Dev<T> dx(hx), dy(hy);
      T* xd = c.same ? dy.p + c.y_offset : dx.p + c.x_offset;
      T* xr = c.same ? hy.data() + c.y_offset : hx.data() + c.x_offset;
      status_ok(what, soma_cuda_axpy(dtype_of<T>(), c.n, alpha, xd, dy.p + c.y_offset, nullptr));
      soma_cpu_axpy(dtype_of<T>(), c.n, alpha, xr, hy.data() + c.y_offset);
      compare(what, dy.get(), hy, tol);
    }
  }
}

// ---------------------------------------------------------------- statuses and the runtime entries (runtime.cu)
void status_suite() {
  int64_t shape[1] = {5}, st[1] = {1};
  float buf[8] = {};
  // int32 binary ops are those of the CPU: no division or power, refused with a clear status.
  TU_CHECK(soma_cuda_binary(SOMA_DIV, SOMA_I32, 1, shape, buf, st, buf, st, buf, nullptr) == cudaErrorInvalidValue,
           "binary div i32 is not supported");
  TU_CHECK(soma_cuda_binary(SOMA_POW, SOMA_I32, 1, shape, buf, st, buf, st, buf, nullptr) == cudaErrorInvalidValue,
           "binary pow i32 is not supported");
  TU_CHECK(soma_cuda_where(SOMA_I32, 1, shape, buf, st, buf, st, buf, st, buf, nullptr) == cudaErrorInvalidValue,
           "where i32 is not supported on the GPU");
  TU_CHECK(soma_cuda_binary(99, SOMA_F32, 1, shape, buf, st, buf, st, buf, nullptr) == cudaErrorInvalidValue, "op 99");
  TU_CHECK(soma_cuda_unary(99, SOMA_F32, 5, buf, buf, 0, 0, nullptr) == cudaErrorInvalidValue, "unary op 99");
  TU_CHECK(soma_cuda_binary(SOMA_ADD, SOMA_F32, SOMA_MAX_DIMS + 1, shape, buf, st, buf, st, buf, nullptr) ==
               cudaErrorInvalidValue, "rank 9");
  TU_CHECK(soma_cuda_unary_backward(SOMA_EXP, SOMA_F32, 5, buf, nullptr, buf, buf, 0, 0, nullptr) ==
               cudaErrorInvalidValue, "exp backward without y");
  TU_CHECK(soma_cuda_fill(7, buf, 5, 0, nullptr) == cudaErrorInvalidValue, "fill dtype 7");
  TU_CHECK(soma_cuda_cast(SOMA_F32, buf, 7, buf, 5, nullptr) == cudaErrorInvalidValue, "cast to dtype 7");
  // zero elements: nothing launched, success
  TU_CHECK(soma_cuda_unary(SOMA_EXP, SOMA_F32, 0, buf, buf, 0, 0, nullptr) == 0, "n = 0");
  int64_t zero[1] = {0};
  TU_CHECK(soma_cuda_binary(SOMA_ADD, SOMA_F32, 1, zero, buf, st, buf, st, buf, nullptr) == 0, "empty shape");

  int count = 0;
  TU_CHECK(soma_cuda_device_count(&count) == 0 && count >= 1, "device count %d", count);
  TU_CHECK(soma_cuda_set_device(0) == 0, "set device 0");
  char name[128] = {};
  int64_t total = 0, free_bytes = 0;
  int major = 0, minor = 0, sms = 0;
  TU_CHECK(soma_cuda_device_info(0, name, sizeof name, &total, &major, &minor, &sms) == 0 && total > 0 && sms > 0,
           "device info: %s, %lld bytes, %d SMs", name, (long long)total, sms);
  TU_CHECK(soma_cuda_mem_info(&free_bytes, &total) == 0 && free_bytes <= total, "mem info");
  void* d = nullptr;
  TU_CHECK(soma_cuda_malloc(4096, &d) == 0 && d, "malloc");
  std::vector<uint8_t> up(4096), down(4096, 0);
  for (size_t i = 0; i < up.size(); ++i) up[i] = uint8_t(i * 7);
  void* stream = nullptr;
  void *e0 = nullptr, *e1 = nullptr;
  TU_CHECK(soma_cuda_stream_create(&stream) == 0 && soma_cuda_event_create(&e0) == 0 && soma_cuda_event_create(&e1) == 0,
           "stream and events");
  TU_CHECK(soma_cuda_event_record(e0, stream) == 0, "record");
  TU_CHECK(soma_cuda_memcpy_async(d, up.data(), 4096, SOMA_CUDA_COPY_HOST_TO_DEVICE, stream) == 0, "async upload");
  TU_CHECK(soma_cuda_event_record(e1, stream) == 0 && soma_cuda_stream_synchronize(stream) == 0 &&
               soma_cuda_event_synchronize(e1) == 0, "sync");
  float ms = -1;
  TU_CHECK(soma_cuda_event_elapsed_ms(&ms, e0, e1) == 0 && ms >= 0, "elapsed %g ms", ms);
  TU_CHECK(soma_cuda_memcpy(down.data(), d, 4096, SOMA_CUDA_COPY_DEVICE_TO_HOST) == 0 && down == up, "round trip");
  TU_CHECK(soma_cuda_memset(d, 0xAB, 100) == 0, "memset");
  TU_CHECK(soma_cuda_memcpy(down.data(), d, 4096, SOMA_CUDA_COPY_DEVICE_TO_HOST) == 0 && down[99] == 0xAB &&
               down[100] == up[100], "memset wrote 100 bytes");
  TU_CHECK(soma_cuda_device_synchronize() == 0 && soma_cuda_last_error() == 0, "no sticky error");
  soma_cuda_event_destroy(e0);
  soma_cuda_event_destroy(e1);
  soma_cuda_stream_destroy(stream);
  TU_CHECK(soma_cuda_free(d) == 0, "free");
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--subset") g_subset = true;
    else {
      std::fprintf(stderr, "usage: %s [--subset]\n", argv[0]);
      return 2;
    }
  }
  // One emulated multiprocessor: launch.cuh's grid_for() then caps grids at 16 blocks of 256 threads, so the
  // large cases (20011 elements) run every grid-stride loop several times round with few fibers.
  setenv("SOMA_EMU_SMS", "1", 0);
  if (g_subset) N = 203;
  tu::banner(g_subset ? "cuda_compare --subset" : "cuda_compare");
  std::printf("   N = %lld\n", (long long)N);
  std::printf("   %s\n", soma_cuda_build_info());
  g_rng.seed(tu::seed());
  const auto t0 = std::chrono::steady_clock::now();

  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const std::pair<const char*, std::function<void()>> parts[] = {
      {"status codes and runtime entries", status_suite},
      {"binary f32", binary_suite<float>},
      {"unary and backward f32", unary_suite<float>},
      {"where f32", where_suite<float>},
      {"binary f64", [] { if (!g_subset) binary_suite<double>(); }},
      {"unary and backward f64", [] { if (!g_subset) unary_suite<double>(); }},
      {"where f64", [] { if (!g_subset) where_suite<double>(); }},
      {"fill", [&] {
         fill_suite<float>({1.5, nan, -0.0, inf, 3.14159265358979});
         fill_suite<double>({1.5, nan, -0.0, -inf, 3.14159265358979});
         fill_suite<int32_t>({7, -3, 3.9, -3.9, 0});
       }},
      {"strided copy", [] {
         strided_copy_suite<float>();
         strided_copy_suite<double>();
         strided_copy_suite<int32_t>();
       }},
      {"cast", [] {
         cast_from<float>();
         cast_from<double>();
         cast_from<int32_t>();
       }},
      {"axpy", [] {
         axpy_suite<float>({0.37, -2});
         axpy_suite<double>({0.37, -2});
         axpy_suite<int32_t>({3, 2.9});
       }},
  };
  for (const auto& part : parts) {
    const auto t1 = std::chrono::steady_clock::now();
    const int before = tu::failures(), checks = tu::checks();
    part.second();
    std::printf("   %-34s %s %5d checks %.3f s\n", part.first, tu::failures() == before ? "ok  " : "FAIL",
                tu::checks() - checks, std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count());
  }
  std::printf("   %.2f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return tu::finish("cuda_compare");
}
