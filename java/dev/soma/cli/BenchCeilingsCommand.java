package dev.soma.cli;

import dev.soma.tensor.Device;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code soma bench ceilings}: the GEMM peak and copy bandwidth that {@code bench op} divides by. */
@Command(name = "ceilings", mixinStandardHelpOptions = true,
        description = "Measure a device's GEMM peak (our matmul at 1024^3) and copy bandwidth (64 MiB tensor copy).")
final class BenchCeilingsCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--device", defaultValue = "cpu", split = ",", description = "cpu, cuda:N, or several, comma-separated")
    String[] devices;

    @Option(names = "--repeats", defaultValue = "10")
    int repeats;

    @Override
    public Integer call() {
        PrintWriter w = spec.commandLine().getOut();
        int failed = 0;
        for (String d : devices) {
            Device device = Device.parse(d);
            try {
                Ceilings c = Ceilings.measure(device, repeats);
                w.printf(Locale.ROOT, "%s: gemm_gflops=%.1f copy_gbps=%.1f (matmul %d^3 f32, best of %d; copy of %d MiB, read + write)%n",
                        device, c.gemmGflops(), c.copyGBps(), Ceilings.GEMM_N, repeats, Ceilings.COPY_ELEMENTS * 4 >> 20);
            } catch (RuntimeException e) {
                failed++;
                String m = e.getMessage() == null ? e.toString() : e.getMessage();
                w.println(device + ": not usable: " + Ceilings.reason(device, m));
            }
        }
        w.flush();
        return failed == devices.length ? 1 : 0;
    }
}
