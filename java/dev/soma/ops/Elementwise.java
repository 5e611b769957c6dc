package dev.soma.ops;

import dev.soma.autograd.Autograd;
import dev.soma.backend.ElementwiseKernels;
import dev.soma.backend.ElementwiseKernels.BinaryOp;
import dev.soma.backend.ElementwiseKernels.UnaryOp;
import dev.soma.errors.DTypeException;
import dev.soma.errors.SomaException;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

/**
 * Element-wise ops with NumPy broadcasting: arithmetic, powers, transcendental functions, activations,
 * comparisons (0/1 results of the inputs' dtype, no gradient) and where.
 *
 * <p>Backward rules reduce the gradient of a broadcast input back to its shape with
 * {@link Reductions#sumToShape}. Intermediate tensors a rule makes are closed by the rule itself; the
 * gradients it returns belong to the autograd engine (or the open scope).
 */
public final class Elementwise {
    private Elementwise() {}

    // ------------------------------------------------------------------ arithmetic

    public static Tensor add(Tensor a, Tensor b) {
        Tensor out = binaryForward("add", BinaryOp.ADD, a, b, true);
        long[] as = a.shape();
        long[] bs = b.shape();
        return Autograd.record("add", out, g -> new Tensor[] {
            a.requiresGrad() ? Reductions.sumToShape(g, as) : null,
            b.requiresGrad() ? Reductions.sumToShape(g, bs) : null}, a, b);
    }

    public static Tensor add(Tensor a, double b) {
        Tensor out = unaryForward("add", UnaryOp.ADD_SCALAR, a, b, 0);
        return Autograd.record("add", out, g -> new Tensor[] {g}, a);
    }

    public static Tensor sub(Tensor a, Tensor b) {
        Tensor out = binaryForward("sub", BinaryOp.SUB, a, b, true);
        long[] as = a.shape();
        long[] bs = b.shape();
        return Autograd.record("sub", out, g -> new Tensor[] {
            a.requiresGrad() ? Reductions.sumToShape(g, as) : null,
            b.requiresGrad() ? reduceOwned(neg(g), bs) : null}, a, b);
    }

    public static Tensor sub(Tensor a, double b) {
        Tensor out = unaryForward("sub", UnaryOp.ADD_SCALAR, a, -b, 0);
        return Autograd.record("sub", out, g -> new Tensor[] {g}, a);
    }

    public static Tensor mul(Tensor a, Tensor b) {
        Tensor out = binaryForward("mul", BinaryOp.MUL, a, b, true);
        long[] as = a.shape();
        long[] bs = b.shape();
        return Autograd.record("mul", out, g -> new Tensor[] {
            a.requiresGrad() ? reduceOwned(mul(g, b), as) : null,
            b.requiresGrad() ? reduceOwned(mul(g, a), bs) : null}, a, b);
    }

    public static Tensor mul(Tensor a, double b) {
        return scalarOp("mul", UnaryOp.MUL_SCALAR, a, b, 0);
    }

    public static Tensor div(Tensor a, Tensor b) {
        Tensor out = binaryForward("div", BinaryOp.DIV, a, b, true);
        long[] as = a.shape();
        long[] bs = b.shape();
        return Autograd.record("div", out, g -> {
            Tensor q = div(g, b);                       // dL/da = g / b
            Tensor gb = null;
            if (b.requiresGrad()) {                     // dL/db = -g a / b^2 = -(g / b) * out
                Tensor t = mul(q, out);
                inPlace(UnaryOp.NEG, t, 0);
                gb = reduceOwned(t, bs);
            }
            Tensor ga = null;
            if (a.requiresGrad()) ga = reduceOwned(q, as);
            else q.close();
            return new Tensor[] {ga, gb};
        }, a, b);
    }

    /** {@code a * (1 / b)}: one multiply per element (may differ from true division in the last bit). */
    public static Tensor div(Tensor a, double b) {
        return scalarOp("div", UnaryOp.MUL_SCALAR, a, 1.0 / b, 0);
    }

    public static Tensor neg(Tensor a) {
        return scalarOp("neg", UnaryOp.NEG, a, 0, 0);
    }

    // ------------------------------------------------------------------ powers

    public static Tensor pow(Tensor a, double exponent) {
        return scalarOp("pow", UnaryOp.POW_SCALAR, a, exponent, 0);
    }

    /** {@code a ^ exponent} element-wise; the exponent's gradient uses log(a), so it needs a > 0. */
    public static Tensor pow(Tensor a, Tensor exponent) {
        Tensor out = binaryForward("pow", BinaryOp.POW, a, exponent, true);
        long[] as = a.shape();
        long[] es = exponent.shape();
        return Autograd.record("pow", out, g -> {
            Tensor ga = null;
            Tensor ge = null;
            if (a.requiresGrad()) {                     // g * e * a^(e-1)
                Tensor em1 = add(exponent, -1.0);
                Tensor p = pow(a, em1);
                Tensor pe = mul(p, exponent);
                ga = reduceOwned(mul(pe, g), as);
                em1.close();
                p.close();
                pe.close();
            }
            if (exponent.requiresGrad()) {              // g * out * log(a)
                Tensor la = log(a);
                Tensor ol = mul(out, la);
                ge = reduceOwned(mul(ol, g), es);
                la.close();
                ol.close();
            }
            return new Tensor[] {ga, ge};
        }, a, exponent);
    }

    public static Tensor sqrt(Tensor a) {
        return scalarOp("sqrt", UnaryOp.SQRT, a, 0, 0);
    }

    public static Tensor exp(Tensor a) {
        return scalarOp("exp", UnaryOp.EXP, a, 0, 0);
    }

    public static Tensor log(Tensor a) {
        return scalarOp("log", UnaryOp.LOG, a, 0, 0);
    }

    public static Tensor abs(Tensor a) {
        return scalarOp("abs", UnaryOp.ABS, a, 0, 0);
    }

    // ------------------------------------------------------------------ activations

    public static Tensor tanh(Tensor a) {
        return scalarOp("tanh", UnaryOp.TANH, a, 0, 0);
    }

    public static Tensor sigmoid(Tensor a) {
        return scalarOp("sigmoid", UnaryOp.SIGMOID, a, 0, 0);
    }

    public static Tensor relu(Tensor a) {
        return scalarOp("relu", UnaryOp.RELU, a, 0, 0);
    }

    /** GELU in its exact form, {@code x * Phi(x)} with the normal CDF written through erf. */
    public static Tensor gelu(Tensor a) {
        return scalarOp("gelu", UnaryOp.GELU, a, 0, 0);
    }

    public static Tensor leakyRelu(Tensor a, double alpha) {
        if (!Double.isFinite(alpha)) throw new SomaException("leakyRelu: alpha must be finite, got " + alpha);
        return scalarOp("leakyRelu", UnaryOp.LEAKY_RELU, a, alpha, 0);
    }

    /** Limits every element to [min, max]; the gradient passes where min <= x <= max. */
    public static Tensor clamp(Tensor a, double min, double max) {
        if (Double.isNaN(min) || Double.isNaN(max) || min > max) {
            throw new SomaException("clamp: expected min <= max, got min " + min + " and max " + max);
        }
        return scalarOp("clamp", UnaryOp.CLAMP, a, min, max);
    }

    // ------------------------------------------------------------------ maximum, minimum

    /** Element-wise maximum (NaN propagates); at ties the gradient goes to {@code a}. */
    public static Tensor maximum(Tensor a, Tensor b) {
        return extremum("maximum", BinaryOp.MAXIMUM, BinaryOp.GE, BinaryOp.LT, a, b);
    }

    /** Element-wise minimum (NaN propagates); at ties the gradient goes to {@code a}. */
    public static Tensor minimum(Tensor a, Tensor b) {
        return extremum("minimum", BinaryOp.MINIMUM, BinaryOp.LE, BinaryOp.GT, a, b);
    }

    private static Tensor extremum(String name, BinaryOp op, BinaryOp pickA, BinaryOp pickB, Tensor a, Tensor b) {
        Tensor out = binaryForward(name, op, a, b, true);
        long[] as = a.shape();
        long[] bs = b.shape();
        return Autograd.record(name, out, g -> new Tensor[] {
            a.requiresGrad() ? maskedGrad(name, pickA, a, b, g, as) : null,
            b.requiresGrad() ? maskedGrad(name, pickB, a, b, g, bs) : null}, a, b);
    }

    private static Tensor maskedGrad(String name, BinaryOp mask, Tensor a, Tensor b, Tensor g, long[] shape) {
        Tensor m = binaryForward(name, mask, a, b, true);
        Tensor gm = mul(g, m);
        m.close();
        return reduceOwned(gm, shape);
    }

    // ------------------------------------------------------------------ comparisons (no gradient)

    public static Tensor eq(Tensor a, Tensor b) {
        return binaryForward("eq", BinaryOp.EQ, a, b, false);
    }

    public static Tensor ne(Tensor a, Tensor b) {
        return binaryForward("ne", BinaryOp.NE, a, b, false);
    }

    public static Tensor lt(Tensor a, Tensor b) {
        return binaryForward("lt", BinaryOp.LT, a, b, false);
    }

    public static Tensor le(Tensor a, Tensor b) {
        return binaryForward("le", BinaryOp.LE, a, b, false);
    }

    public static Tensor gt(Tensor a, Tensor b) {
        return binaryForward("gt", BinaryOp.GT, a, b, false);
    }

    public static Tensor ge(Tensor a, Tensor b) {
        return binaryForward("ge", BinaryOp.GE, a, b, false);
    }

    // ------------------------------------------------------------------ where

    /**
     * {@code condition != 0 ? a : b}, all three broadcast together. The condition has the dtype of {@code a}
     * and {@code b} (as the comparisons produce it); gradients flow to a where it holds and to b elsewhere.
     */
    public static Tensor where(Tensor condition, Tensor a, Tensor b) {
        String op = "where";
        Check.sameDevice(op, condition, a, b);
        DType dtype = Check.sameDType(op, a, b);
        if (condition.dtype() != dtype) {
            throw new DTypeException(op + ": condition " + condition.describe() + " has dtype " + condition.dtype()
                    + ", expected " + dtype + " (the dtype of a and b, as comparisons produce it)");
        }
        long[] shape = Shapes.broadcast(op, Shapes.broadcast(op, condition.shape(), a.shape()), b.shape());
        Tensor out = Tensor.empty(dtype, a.device(), shape);
        a.backend().elementwise().where(condition, a, b, out);
        long[] as = a.shape();
        long[] bs = b.shape();
        return Autograd.record(op, out, g -> {
            Tensor zero = Tensor.zeros(g.dtype(), g.device());
            Tensor ga = a.requiresGrad() ? reduceOwned(where(condition, g, zero), as) : null;
            Tensor gb = b.requiresGrad() ? reduceOwned(where(condition, zero, g), bs) : null;
            zero.close();
            return new Tensor[] {ga, gb};
        }, a, b);
    }

    // ------------------------------------------------------------------ shared machinery

    /** Validates, broadcasts and runs a binary kernel; records nothing. */
    private static Tensor binaryForward(String op, BinaryOp code, Tensor a, Tensor b, boolean floating) {
        Check.sameDevice(op, a, b);
        DType dtype = Check.sameDType(op, a, b);
        if (floating) Check.floating(op, a);
        long[] shape = Shapes.broadcast(op, a.shape(), b.shape());
        Tensor out = Tensor.empty(dtype, a.device(), shape);
        a.backend().elementwise().binary(code, a, b, out);
        return out;
    }

    /** Validates and runs a unary kernel into a fresh contiguous tensor; records nothing. */
    private static Tensor unaryForward(String op, UnaryOp code, Tensor x, double p0, double p1) {
        Check.open(op, x);
        Check.floating(op, x);
        Tensor out = Tensor.empty(x.dtype(), x.device(), x.shape());
        ElementwiseKernels k = x.backend().elementwise();
        if (x.isContiguous()) {
            k.unary(code, x, out, p0, p1);
        } else {
            // The kernel wants contiguous data: gather into out, then transform in place.
            x.backend().memory().copy(x, out);
            k.unary(code, out, out, p0, p1);
        }
        return out;
    }

    /** A unary op whose gradient is the kernel's backward rule (which may read x and the output). */
    private static Tensor scalarOp(String op, UnaryOp code, Tensor x, double p0, double p1) {
        Tensor out = unaryForward(op, code, x, p0, p1);
        return Autograd.record(op, out, g -> new Tensor[] {unaryGrad(code, x, out, g, p0, p1)}, x);
    }

    private static Tensor unaryGrad(UnaryOp code, Tensor x, Tensor y, Tensor g, double p0, double p1) {
        Tensor xc = contiguousTemp(x);
        Tensor gc = contiguousTemp(g);
        Tensor gi = Tensor.empty(x.dtype(), x.device(), x.shape());
        x.backend().elementwise().unaryBackward(code, xc, y, gc, gi, p0, p1);
        if (xc != x) xc.close();
        if (gc != g) gc.close();
        return gi;
    }

    /** {@code t} itself when contiguous, else a contiguous copy that the caller closes. Records nothing. */
    private static Tensor contiguousTemp(Tensor t) {
        if (t.isContiguous()) return t;
        Tensor c = Tensor.empty(t.dtype(), t.device(), t.shape());
        t.backend().memory().copy(t, c);
        return c;
    }

    private static void inPlace(UnaryOp code, Tensor t, double p0) {
        t.backend().elementwise().unary(code, t, t, p0, 0);
    }

    /** Reduces a temporary full-size gradient to {@code shape}, closing the temporary when a new tensor results. */
    private static Tensor reduceOwned(Tensor temp, long[] shape) {
        Tensor r = Reductions.sumToShape(temp, shape);
        if (r != temp) temp.close();
        return r;
    }
}
