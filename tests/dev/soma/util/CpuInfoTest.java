package dev.soma.util;

import org.junit.jupiter.api.Test;

import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class CpuInfoTest {
    @Test
    void isaLevelComesFromFeatureFlagsNotTheVendor() {
        assertEquals("AVX-512+AVX512_BF16+AVX512_VNNI", CpuInfo.isa(Set.of("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni")));
        assertEquals("AVX-512+AVX512_BF16+AMX-BF16", CpuInfo.isa(Set.of("avx512f", "avx512_bf16", "amx_bf16")));
        assertEquals("AVX2+FMA", CpuInfo.isa(Set.of("sse4_2", "avx2", "fma")));
        assertEquals("SSE4.2", CpuInfo.isa(Set.of("sse4_2")));
        assertEquals("baseline", CpuInfo.isa(Set.of()));
    }

    @Test
    void theHostIsDescribed() {
        CpuInfo host = CpuInfo.host();
        assertTrue(host.logicalCpus() >= 1);
        assertFalse(host.isa().isBlank());
        assertTrue(host.toString().contains(host.isa()), host.toString());
    }
}
