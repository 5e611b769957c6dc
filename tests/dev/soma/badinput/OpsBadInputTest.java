package dev.soma.badinput;

import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.memory.Scope;
import dev.soma.ops.Elementwise;
import dev.soma.ops.Losses;
import dev.soma.ops.Reductions;
import dev.soma.ops.Shapes;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static dev.soma.badinput.Expect.thrown;

/** Wrong shapes, dtypes, axes and indices for the op vocabulary; every message names the op and the operands. */
@ExtendWith(NoLeaks.class)
class OpsBadInputTest {
    private Scope scope;

    @BeforeEach
    void open() {
        scope = Scope.open();
    }

    @AfterEach
    void close() {
        scope.close();
    }

    @Test
    void broadcastMismatch() {
        thrown(ShapeException.class, () -> Tensor.zeros(2, 3).add(Tensor.zeros(2)), "add", "[2, 3]", "[2]", "cannot be broadcast");
    }

    @Test
    void mixedFloatDTypes() {
        Tensor d = Tensor.zeros(DType.F64, Device.cpu(), 2);
        thrown(DTypeException.class, () -> Tensor.zeros(2).mul(d), "mul", "float32", "float64");
    }

    @Test
    void integerTensorInAFloatingOp() {
        Tensor i = Tensor.ofInts(new int[] {1, 2, 3, 4}, 2, 2);
        thrown(DTypeException.class, i::exp, "exp", "int32");
        thrown(DTypeException.class, () -> i.matmul(i), "matmul", "int32", "expected float32 or float64");
    }

    @Test
    void matmulInnerDimensionsDiffer() {
        thrown(ShapeException.class, () -> Tensor.zeros(2, 3).matmul(Tensor.zeros(4, 5)), "matmul", "K = 3", "K = 4");
    }

    @Test
    void matmulOfAScalarOrUnbroadcastableBatches() {
        thrown(ShapeException.class, () -> Tensor.scalar(1).matmul(Tensor.zeros(1)), "matmul", "rank 1 or more");
        thrown(ShapeException.class, () -> Tensor.zeros(2, 1, 3).matmul(Tensor.zeros(3, 3, 1)), "matmul", "batch dimensions");
    }

    @Test
    void reshapeToTheWrongElementCount() {
        thrown(ShapeException.class, () -> Tensor.zeros(2, 3).reshape(4, 2), "reshape", "6 elements", "[4, 2]");
        thrown(ShapeException.class, () -> Tensor.zeros(6).reshape(-1, -1), "reshape", "only one -1");
        thrown(ShapeException.class, () -> Tensor.zeros(6).reshape(-1, 4), "reshape", "cannot reshape");
    }

    @Test
    void reshapeWithAnOverflowingShape() {
        thrown(ShapeException.class, () -> Tensor.zeros(6).reshape(1L << 40, 1L << 40), "reshape", "overflows");
    }

    @Test
    void permuteAndTransposeAxes() {
        Tensor t = Tensor.zeros(2, 3, 4);
        thrown(ShapeException.class, () -> t.permute(0, 1), "permute", "2 axes", "expected 3");
        thrown(ShapeException.class, () -> t.permute(0, 0, 1), "permute", "repeated");
        thrown(ShapeException.class, () -> t.transpose(0, 3), "transpose", "axis 3", "out of range for rank 3");
        thrown(ShapeException.class, () -> t.permute(0, 1, Integer.MIN_VALUE), "permute", "out of range");
    }

    @Test
    void selectAndSliceOutOfRange() {
        Tensor t = Tensor.zeros(2, 3);
        thrown(ShapeException.class, () -> t.select(1, 3), "select", "index 3", "size 3");
        thrown(ShapeException.class, () -> t.select(0, Long.MIN_VALUE), "select", "out of range");
        thrown(ShapeException.class, () -> t.slice(0, 0, 2, 0), "slice", "step 0");
        thrown(ShapeException.class, () -> t.slice(5, 0, 2, 1), "slice", "axis 5");
    }

    @Test
    void expandSqueezeUnsqueeze() {
        Tensor t = Tensor.zeros(2, 3);
        thrown(ShapeException.class, () -> t.expand(4, 3, 3), "expand", "[2, 3]");
        thrown(ShapeException.class, () -> t.expand(2, -3), "expand", "negative");
        thrown(ShapeException.class, () -> t.squeeze(0), "squeeze", "size 2", "expected 1");
        Tensor r8 = Tensor.zeros(1, 1, 1, 1, 1, 1, 1, 1);
        thrown(ShapeException.class, () -> r8.unsqueeze(0), "unsqueeze", "maximum rank 8");
    }

    @Test
    void concatAndStackOfMismatchedTensors() {
        Tensor a = Tensor.zeros(2, 3);
        Tensor b = Tensor.zeros(2, 4);
        thrown(ShapeException.class, () -> Shapes.concat(0, a, b), "concat");
        thrown(ShapeException.class, () -> Shapes.stack(0, a, b), "stack");
        thrown(DTypeException.class, () -> Shapes.concat(0, a, Tensor.zeros(DType.F64, Device.cpu(), 2, 3)), "concat");
        thrown(SomaException.class, () -> Shapes.concat(0), "concat");
    }

    @Test
    void reductionAxes() {
        Tensor t = Tensor.zeros(2, 3);
        thrown(ShapeException.class, () -> t.sum(new int[] {2}, false), "sum", "axis 2", "rank 2");
        thrown(ShapeException.class, () -> t.mean(new int[] {0, -2}, false), "mean", "given twice");
        thrown(ShapeException.class, () -> t.softmax(-3), "softmax", "axis -3");
        thrown(ShapeException.class, () -> t.argmax(7, false), "argmax", "axis 7");
    }

    @Test
    void whereWithAConditionOfAnotherDType() {
        Tensor c = Tensor.ofInts(new int[] {1, 0});
        thrown(DTypeException.class, () -> Elementwise.where(c, Tensor.zeros(2), Tensor.ones(2)), "where", "condition", "int32");
    }

    @Test
    void scalarArgumentsThatMakeNoSense() {
        Tensor t = Tensor.zeros(2);
        thrown(SomaException.class, () -> t.clamp(1, 0), "clamp", "min <= max");
        thrown(SomaException.class, () -> t.clamp(Double.NaN, 1), "clamp", "NaN");
        thrown(SomaException.class, () -> t.leakyRelu(Double.POSITIVE_INFINITY), "leakyRelu", "finite");
    }

    @Test
    void sparseLabelsOutOfRangeOrOfTheWrongKind() {
        Tensor logits = Tensor.zeros(2, 3);
        thrown(ShapeException.class, () -> Losses.sparseCategoricalCrossEntropy(logits, Tensor.ofInts(new int[] {0, 3})),
                "sparseCategoricalCrossEntropy", "label 3", "3 classes");
        thrown(ShapeException.class, () -> Losses.sparseCategoricalCrossEntropy(logits, Tensor.ofInts(new int[] {0, -1})),
                "sparseCategoricalCrossEntropy", "label -1");
        thrown(DTypeException.class, () -> Losses.sparseCategoricalCrossEntropy(logits, Tensor.zeros(2)),
                "sparseCategoricalCrossEntropy", "float32", "expected int32");
        thrown(ShapeException.class, () -> Losses.sparseCategoricalCrossEntropy(logits, Tensor.ofInts(new int[] {0})),
                "sparseCategoricalCrossEntropy", "one label per row");
    }

    @Test
    void lossShapesAndEmptyBatches() {
        thrown(ShapeException.class, () -> Losses.meanSquaredError(Tensor.zeros(2, 3), Tensor.zeros(3, 2)),
                "meanSquaredError", "[2, 3]", "[3, 2]");
        thrown(ShapeException.class, () -> Losses.meanSquaredError(Tensor.zeros(0, 3), Tensor.zeros(0, 3)),
                "meanSquaredError", "empty");
        thrown(ShapeException.class, () -> Losses.categoricalCrossEntropy(Tensor.zeros(0, 3), Tensor.zeros(0, 3)),
                "categoricalCrossEntropy", "non-empty [N, C]");
        thrown(ShapeException.class, () -> Losses.binaryCrossEntropy(Tensor.zeros(3), Tensor.zeros(3, 1)),
                "binaryCrossEntropy", "differ in shape");
    }

    @Test
    void emptyBatchesFlowThroughShapeOps() {
        // An empty batch is a valid tensor: ops give empty results and sums their identity 0; a mean over an empty
        // axis has no value and is refused.
        Tensor x = Tensor.zeros(0, 4);
        Tensor y = x.matmul(Tensor.ones(4, 2)).relu();
        org.junit.jupiter.api.Assertions.assertArrayEquals(new long[] {0, 2}, y.shape());
        org.junit.jupiter.api.Assertions.assertEquals(0.0, y.sum().item());
        thrown(ShapeException.class, y::mean, "mean", "empty axis", "float32[0, 2]");
    }

    @Test
    void backwardFromTheWrongRoot() {
        Tensor w = Tensor.ones(3).setRequiresGrad(true);
        Tensor y = w.mul(2);
        thrown(ShapeException.class, y::backward, "backward", "one element");
        thrown(ShapeException.class, () -> y.backward(Tensor.ones(4)), "backward", "must match");
        thrown(SomaException.class, () -> Tensor.ones(1).backward(), "backward", "does not require grad");
        Tensor r = Reductions.sum(y);
        thrown(IllegalStateException.class, () -> r.setRequiresGrad(false), "computed by sum");
    }
}
