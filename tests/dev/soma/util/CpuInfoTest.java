package dev.soma.util;

import org.junit.jupiter.api.Test;

import java.util.List;
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
    void aGenericVirtualMachineNameGetsItsFamilyAndModelNumbers() {
        // The first processor's entry of a 2-vCPU cloud VM (abridged); the second entry must not be read.
        List<String> zen5 = List.of("processor\t: 0", "vendor_id\t: AuthenticAMD", "cpu family\t: 26", "model\t\t: 2",
                "model name\t: AMD EPYC", "stepping\t: 1", "flags\t\t: fpu avx2 fma avx512f avx512_bf16 avx512_vnni", "",
                "processor\t: 1", "cpu family\t: 99", "model\t\t: 99", "model name\t: other", "flags\t\t: sse4_2", "");
        CpuInfo cpu = CpuInfo.parse(zen5, 2);
        assertEquals("AMD EPYC (family 26, model 2)", cpu.model());
        assertEquals("AVX-512+AVX512_BF16+AVX512_VNNI", cpu.isa());
        assertEquals(2, cpu.logicalCpus());
        // Without the numbers (other kernels, other architectures) the name stands alone.
        assertEquals("Some CPU", CpuInfo.parse(List.of("model name : Some CPU", "flags : sse4_2"), 1).model());
        assertEquals("unknown", CpuInfo.parse(List.of(), 1).model());
    }

    @Test
    void theHostIsDescribed() {
        CpuInfo host = CpuInfo.host();
        assertTrue(host.logicalCpus() >= 1);
        assertFalse(host.isa().isBlank());
        assertTrue(host.toString().contains(host.isa()), host.toString());
    }
}
