package dev.soma.cli;

import dev.soma.backend.MixedPrecision;
import dev.soma.tensor.Device;
import dev.soma.tensor.Precision;
import picocli.CommandLine.Option;

import java.io.PrintWriter;

/**
 * {@code --precision f32|bf16} (a picocli mixin of train and bench train-step). On a CPU without bf16 instructions
 * the command prints one line saying so and runs in f32: a command line is asked for a result, and the line makes
 * the change visible (the API, {@code FitOptions.precision}, refuses instead, since a program should not get other
 * numerics than it asked for without noticing). bf16 off the CPU is refused: there is nothing to fall back to that
 * the user did not already have with f32.
 */
final class PrecisionOption {
    @Option(names = "--precision", defaultValue = "f32", paramLabel = "PRECISION",
            description = "f32 (default) or bf16: mixed precision, convolutions and matrix products in bfloat16 with "
                    + "float32 weights (CPUs with AVX512_BF16 or AMX; see docs/precision.md)")
    String precision;

    /** The precision to run in on {@code device}: bf16 falls back to f32 (with one line on {@code console}) where unsupported. */
    Precision resolve(String command, Device device, PrintWriter console) {
        return resolve(command, device, console, MixedPrecision::bf16UnsupportedReason);
    }

    /** {@link #resolve(String, Device, PrintWriter)} with the host's verdict on bf16 given (tests pass other CPUs'). */
    Precision resolve(String command, Device device, PrintWriter console, java.util.function.Supplier<String> bf16Unsupported) {
        Precision p;
        try {
            p = Precision.parse(precision);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--precision: " + e.getMessage());
        }
        if (p != Precision.BF16) return p;
        if (!device.isCpu()) {
            throw new UnsupportedOperationException(command + ": --precision bf16 runs on the CPU only (oneDNN's bf16 "
                    + "kernels); Soma has no bf16 kernels for " + device + " yet");
        }
        String why = bf16Unsupported.get();
        if (why != null) {
            console.println("--precision bf16: " + why + "; running in f32 instead");
            console.flush();
            return Precision.F32;
        }
        return p;
    }
}
