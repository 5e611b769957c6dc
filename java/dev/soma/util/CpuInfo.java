package dev.soma.util;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * What the host CPU is, for benchmark lines: the model name (with family and model numbers) and the vector ISA level
 * the kernels can use, read from the kernel's feature flags (never inferred from the vendor). Linux /proc/cpuinfo;
 * "unknown" elsewhere.
 */
public record CpuInfo(String model, String isa, int logicalCpus) {
    /** The ISA features that choose our kernels and oneDNN's, in the order they are reported. */
    private static final List<String[]> FEATURES = List.of(
            new String[] {"avx512f", "AVX-512"}, new String[] {"avx512_bf16", "AVX512_BF16"},
            new String[] {"amx_bf16", "AMX-BF16"}, new String[] {"avx512_vnni", "AVX512_VNNI"});

    public static CpuInfo host() {
        try {
            return parse(Files.readAllLines(Path.of("/proc/cpuinfo")), Runtime.getRuntime().availableProcessors());
        } catch (IOException | RuntimeException e) {
            return new CpuInfo("unknown", "unknown", Runtime.getRuntime().availableProcessors());
        }
    }

    /**
     * The first processor's entry of a /proc/cpuinfo text. The model is the model name followed by the family and
     * model numbers, since virtual machines often report only "AMD EPYC" or "Intel Xeon Processor": the numbers
     * tell the generation (AMD family 25 is Zen 3 / Zen 4, family 26 Zen 5; Intel family 6 with its model number).
     */
    static CpuInfo parse(List<String> lines, int logicalCpus) {
        String name = "unknown";
        String family = null;
        String number = null;
        Set<String> flags = Set.of();
        for (String line : lines) {
            if (line.isBlank() && !flags.isEmpty()) break; // the end of the first processor's entry
            String key = line.contains(":") ? line.substring(0, line.indexOf(':')).trim() : "";
            switch (key) {
                case "model name" -> name = value(line);
                case "cpu family" -> family = value(line);
                case "model" -> number = value(line);
                case "flags" -> flags = Set.of(value(line).split("\\s+"));
                default -> { }
            }
        }
        String model = family == null || number == null ? name : name + " (family " + family + ", model " + number + ")";
        return new CpuInfo(model, isa(flags), logicalCpus);
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
