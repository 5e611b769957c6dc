package dev.soma.backend.dnnl;

import dev.soma.errors.DTypeException;
import dev.soma.errors.NativeException;
import dev.soma.jni.NativeLibraries;
import dev.soma.tensor.DType;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.dnnl.dnnl_engine;
import org.bytedeco.dnnl.dnnl_primitive_attr;
import org.bytedeco.dnnl.dnnl_primitive_desc;
import org.bytedeco.dnnl.dnnl_stream;

import java.util.function.Supplier;

import static org.bytedeco.dnnl.global.dnnl.*;

/**
 * Process-wide oneDNN state and helpers: the CPU engine and its stream (created on first use, never
 * destroyed: they live as long as the process), the attribute that asks primitives for a user-managed
 * scratchpad, status checking, and the lock that serialises execution.
 *
 * <p>Execution is serialised because memories are rebound to new addresses before every run and a oneDNN
 * stream must not be used by two threads at once; one lock costs nothing in a training loop, where ops run
 * one after another and each already uses every core through OpenMP.
 */
public final class Dnnl {
    private static final Object LOCK = new Object();
    private static volatile dnnl_engine engine;
    private static dnnl_stream stream;
    private static dnnl_stream laneStream;
    private static dnnl_primitive_attr userScratchpad;

    private Dnnl() {}

    /** The lock held while primitives are looked up, bound to addresses and run. */
    public static Object lock() {
        return LOCK;
    }

    /** The CPU engine (index 0). */
    public static dnnl_engine engine() {
        dnnl_engine e = engine;
        if (e == null) {
            synchronized (LOCK) {
                if (engine == null) init();
                e = engine;
            }
        }
        return e;
    }

    /** The engine's one in-order stream. */
    public static dnnl_stream stream() {
        engine();
        return stream;
    }

    /** A second stream, for work the lock's holder runs on another thread at the same time (DnnlLstm's lanes). */
    static dnnl_stream laneStream() {
        engine();
        return laneStream;
    }

    /** A primitive attribute with {@code dnnl_scratchpad_mode_user}; oneDNN copies it into each descriptor. */
    public static dnnl_primitive_attr userScratchpad() {
        engine();
        return userScratchpad;
    }

    private static void init() {
        NativeLibraries.cpu();
        dnnl_engine e = new dnnl_engine();
        check(dnnl_engine_create(e, dnnl_cpu, 0), () -> "engine creation (cpu, index 0)");
        dnnl_stream s = new dnnl_stream();
        check(dnnl_stream_create(s, e, dnnl_stream_default_flags), () -> "stream creation");
        dnnl_stream lane = new dnnl_stream();
        check(dnnl_stream_create(lane, e, dnnl_stream_default_flags), () -> "stream creation (second lane)");
        dnnl_primitive_attr attr = new dnnl_primitive_attr();
        check(dnnl_primitive_attr_create(attr), () -> "primitive attribute creation");
        check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user),
                () -> "setting the user scratchpad mode");
        stream = s;
        laneStream = lane;
        userScratchpad = attr;
        engine = e;
    }

    /** oneDNN's data type for a Soma dtype, or a DTypeException naming {@code what} when it has none. */
    public static int dataType(DType dtype, String what) {
        return switch (dtype) {
            case F32 -> dnnl_f32;
            case I32 -> dnnl_s32;
            default -> throw new DTypeException(what + ": oneDNN has no CPU support for dtype " + dtype);
        };
    }

    /** A readable name for a {@code dnnl_data_type_t} in messages. */
    public static String dataTypeName(int dataType) {
        if (dataType == dnnl_f32) return "f32";
        if (dataType == dnnl_f64) return "f64";
        if (dataType == dnnl_s32) return "s32";
        if (dataType == dnnl_bf16) return "bf16";
        if (dataType == dnnl_f16) return "f16";
        return "data type " + dataType;
    }

    /** Throws a NativeException naming the failed step (built lazily: the happy path allocates nothing). */
    public static void check(int status, Supplier<String> what) {
        if (status != dnnl_success) throw failure(status, what.get());
    }

    /** The exception for a failed status; {@code what} names the primitive, step and shapes. */
    public static NativeException failure(int status, String what) {
        return new NativeException("oneDNN: " + what + " failed with " + statusName(status) + " (status " + status + ")");
    }

    /** The C name of a {@code dnnl_status_t}. */
    public static String statusName(int status) {
        if (status == dnnl_success) return "dnnl_success";
        if (status == dnnl_out_of_memory) return "dnnl_out_of_memory";
        if (status == dnnl_invalid_arguments) return "dnnl_invalid_arguments";
        if (status == dnnl_unimplemented) return "dnnl_unimplemented (no implementation for this configuration)";
        if (status == dnnl_last_impl_reached) return "dnnl_last_impl_reached";
        if (status == dnnl_runtime_error) return "dnnl_runtime_error";
        if (status == dnnl_not_required) return "dnnl_not_required";
        return "an unknown status";
    }

    /** The implementation oneDNN picked for a primitive descriptor, e.g. "brg_matmul:avx512_core" or "ref:any". */
    public static String implementation(dnnl_primitive_desc pd) {
        try (PointerPointer<BytePointer> out = new PointerPointer<>(1)) {
            check(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, out), () -> "implementation query");
            BytePointer s = out.get(BytePointer.class, 0);
            return s == null ? "unknown" : s.getString();
        }
    }
}
