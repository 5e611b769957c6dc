package dev.soma.ops;

import dev.soma.errors.ClosedTensorException;
import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.function.Executable;

import java.util.Map;
import java.util.function.BiFunction;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.*;

/** Bad arguments are rejected in Java, before any native call, with messages naming the op and the operands. */
@ExtendWith(NoLeaks.class)
class ElementwiseErrorsTest {
    static final Map<String, BiFunction<Tensor, Tensor, Tensor>> BINARY = Map.ofEntries(
            Map.entry("add", Elementwise::add), Map.entry("sub", Elementwise::sub),
            Map.entry("mul", Elementwise::mul), Map.entry("div", Elementwise::div),
            Map.entry("pow", Elementwise::pow), Map.entry("maximum", Elementwise::maximum),
            Map.entry("minimum", Elementwise::minimum), Map.entry("eq", Elementwise::eq),
            Map.entry("ne", Elementwise::ne), Map.entry("lt", Elementwise::lt), Map.entry("le", Elementwise::le),
            Map.entry("gt", Elementwise::gt), Map.entry("ge", Elementwise::ge));

    static final Map<String, Function<Tensor, Tensor>> UNARY = Map.ofEntries(
            Map.entry("neg", Tensor::neg), Map.entry("exp", Tensor::exp), Map.entry("log", Tensor::log),
            Map.entry("sqrt", Tensor::sqrt), Map.entry("abs", Tensor::abs), Map.entry("tanh", Tensor::tanh),
            Map.entry("sigmoid", Tensor::sigmoid), Map.entry("relu", Tensor::relu), Map.entry("gelu", Tensor::gelu),
            Map.entry("leakyRelu", t -> t.leakyRelu(0.1)), Map.entry("clamp", t -> t.clamp(0, 1)),
            Map.entry("pow", t -> t.pow(2)), Map.entry("add", t -> t.add(1)), Map.entry("sub", t -> t.sub(1)),
            Map.entry("mul", t -> t.mul(2)), Map.entry("div", t -> t.div(2)));

    private static <T extends Throwable> T assertNamed(Class<T> type, Executable e, String... parts) {
        T ex = assertThrows(type, e);
        for (String p : parts) assertTrue(ex.getMessage().contains(p), "'" + p + "' missing in: " + ex.getMessage());
        return ex;
    }

    @Test
    void shapeMismatchNamesOpAndBothShapes() {
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.zeros(2, 3);
            Tensor b = Tensor.zeros(4);
            Tensor c = Tensor.zeros(3, 2, 2);
            for (var e : BINARY.entrySet()) {
                ShapeException ex = assertNamed(ShapeException.class, () -> e.getValue().apply(a, b), "[2, 3]", "[4]");
                assertTrue(ex.getMessage().startsWith(e.getKey() + ":"), ex.getMessage());
                assertNamed(ShapeException.class, () -> e.getValue().apply(c, a), e.getKey(), "[3, 2, 2]", "[2, 3]");
            }
        }
    }

    @Test
    void dtypeMismatchAndNonFloatingInputs() {
        try (Scope s = Scope.open()) {
            Tensor f = Tensor.zeros(DType.F32, Device.cpu(), 2, 2);
            Tensor d = Tensor.zeros(DType.F64, Device.cpu(), 2, 2);
            Tensor i = Tensor.ofInts(new int[] {1, 2, 3, 4}, 2, 2);
            for (var e : BINARY.entrySet()) {
                assertNamed(DTypeException.class, () -> e.getValue().apply(f, d), e.getKey() + ":", "float32", "float64");
                assertNamed(DTypeException.class, () -> e.getValue().apply(i, f), e.getKey() + ":", "int32", "float32");
            }
            for (String op : new String[] {"add", "sub", "mul", "div", "pow", "maximum", "minimum"}) {
                assertNamed(DTypeException.class, () -> BINARY.get(op).apply(i, i), op + ":", "int32", "expected float32 or float64");
            }
            for (var e : UNARY.entrySet()) {
                assertNamed(DTypeException.class, () -> e.getValue().apply(i), e.getKey() + ":", "int32[2, 2]");
            }
        }
    }

    @Test
    void closedTensorsAreRejected() {
        try (Scope s = Scope.open()) {
            Tensor open = Tensor.zeros(2);
            Tensor closed = Tensor.zeros(2);
            closed.close();
            for (var e : BINARY.entrySet()) {
                assertNamed(ClosedTensorException.class, () -> e.getValue().apply(open, closed), e.getKey() + ":", "closed");
                assertNamed(ClosedTensorException.class, () -> e.getValue().apply(closed, open), e.getKey() + ":", "closed");
            }
            for (var e : UNARY.entrySet()) {
                assertNamed(ClosedTensorException.class, () -> e.getValue().apply(closed), e.getKey() + ":", "closed");
            }
            assertNamed(ClosedTensorException.class, () -> Elementwise.where(closed, open, open), "where:", "closed");
            assertNamed(NullPointerException.class, () -> Elementwise.add(open, null), "add");
        }
    }

    @Test
    void whereRejectsBadConditionShapeAndDtype() {
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.zeros(3, 4);
            Tensor b = Tensor.zeros(4);
            assertNamed(ShapeException.class, () -> Elementwise.where(Tensor.zeros(2, 4), a, b), "where:", "[2, 4]", "[3, 4]");
            assertNamed(ShapeException.class, () -> Elementwise.where(Tensor.zeros(3, 4), a, Tensor.zeros(3)),
                    "where:", "[3, 4]", "[3]");
            Tensor cond64 = Tensor.zeros(DType.F64, Device.cpu(), 3, 4);
            assertNamed(DTypeException.class, () -> Elementwise.where(cond64, a, b), "where:", "float64", "float32");
            assertNamed(DTypeException.class, () -> Elementwise.where(Tensor.zeros(3, 4), a,
                    Tensor.zeros(DType.F64, Device.cpu(), 4)), "where:", "float32", "float64");
        }
    }

    @Test
    void badScalarParameters() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(3);
            assertNamed(SomaException.class, () -> x.clamp(1, -1), "clamp:", "min 1.0", "max -1.0");
            assertNamed(SomaException.class, () -> x.clamp(Double.NaN, 1), "clamp:");
            assertNamed(SomaException.class, () -> x.leakyRelu(Double.NaN), "leakyRelu:");
        }
    }
}
