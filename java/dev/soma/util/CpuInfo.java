package dev.soma.util;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * What the host CPU is, for benchmark lines: the model name and the vector ISA level the kernels can use, read from
 * the kernel's feature flags (never inferred from the vendor). Linux /proc/cpuinfo; "unknown" elsewhere.
 */
public record CpuInfo(String model, String isa, int logicalCpus) {
    /** The ISA features that choose our kernels and oneDNN's, in the order they are reported. */
    private static final List<String[]> FEATURES = List.of(
            new String[] {"avx512f", "AVX-512"}, new String[] {"avx512_bf16", "AVX512_BF16"},
            new String[] {"amx_bf16", "AMX-BF16"}, new String[] {"avx512_vnni", "AVX512_VNNI"});

    public static CpuInfo host() {
        String model = "unknown";
        Set<String> flags = Set.of();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (model.equals("unknown") && line.startsWith("model name")) model = value(line);
                if (flags.isEmpty() && line.startsWith("flags")) flags = Set.of(value(line).split("\\s+"));
                if (!model.equals("unknown") && !flags.isEmpty()) break;
            }
        } catch (IOException | RuntimeException e) {
            return new CpuInfo(model, "unknown", Runtime.getRuntime().availableProcessors());
        }
        return new CpuInfo(model, isa(flags), Runtime.getRuntime().availableProcessors());
    }

    /** "AVX-512+AVX512_BF16+AMX-BF16", "AVX2+FMA", "SSE4.2" or "baseline". */
    static String isa(Set<String> flags) {
        if (flags.contains("avx512f")) {
            List<String> parts = new ArrayList<>();
            for (String[] f : FEATURES) if (flags.contains(f[0])) parts.add(f[1]);
            return String.join("+", parts);
        }
        if (flags.contains("avx2")) return flags.contains("fma") ? "AVX2+FMA" : "AVX2";
        if (flags.contains("sse4_2")) return "SSE4.2";
        return "baseline";
    }

    /**
     * Whether the CPU has bf16 dot-product instructions (AVX512_BF16 or AMX-BF16), which oneDNN's bf16 kernels
     * need; without them oneDNN would run bf16 on slow emulation or reference code. Read from the flags only.
     */
    public boolean hasBf16() {
        return isa.contains("AVX512_BF16") || isa.contains("AMX-BF16");
    }

    private static String value(String line) {
        int colon = line.indexOf(':');
        return colon < 0 ? "" : line.substring(colon + 1).trim();
    }

    @Override
    public String toString() {
        return model + " (" + isa + ", " + logicalCpus + " logical CPUs)";
    }
}
