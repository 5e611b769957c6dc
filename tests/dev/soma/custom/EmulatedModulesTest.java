package dev.soma.custom;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The source EmulatedModules generates for the emulated device, checked as text (no compiler, no device): the
 * {@code extern __shared__} rewrite keeps every line where it was, the op's source starts at line 1 of
 * {@code <op>.cu}, and NVRTC options are translated. CustomOpEmulatedTest compiles and runs such sources.
 */
class EmulatedModulesTest {
    private static long lines(String s) {
        return s.chars().filter(c -> c == '\n').count();
    }

    @Test
    void externSharedInsideAKernelBecomesAPointerOnTheSameLine() {
        String src = "template <typename T>\n__global__ void k(const T* x) {\n"
                + "    extern __shared__ __align__(16) unsigned char smem[];\n"
                + "    T* v = (T*) smem;\n}\n";
        String out = EmulatedModules.rewriteDynamicShared(src);
        assertEquals(lines(src), lines(out));
        assertEquals("    unsigned char* smem = static_cast<unsigned char*>(::soma_emu::dynamic_shared());",
                out.split("\n")[2]);
    }

    @Test
    void externSharedAtNamespaceScopeBecomesAnArrayLikeValue() {
        String src = "namespace a {\nextern __shared__ volatile float\n    buf[];\n}\n"
                + "extern \"C\" { extern __shared__ int ints[]; }\n";
        String out = EmulatedModules.rewriteDynamicShared(src);
        assertEquals(lines(src), lines(out));
        assertTrue(out.contains("static const ::soma_emu_custom::DynamicSharedArray<volatile float> buf{};"), out);
        assertTrue(out.contains("static const ::soma_emu_custom::DynamicSharedArray<int> ints{};"), out);
    }

    @Test
    void commentsStringsAndStaticSharedAreLeftAlone() {
        String src = "// extern __shared__ float a[];\n/* extern __shared__ float b[]; */\n"
                + "const char* s = \"extern __shared__ float c[];\";\n"
                + "__global__ void k() { __shared__ float tile[32]; if (true) { extern __shared__ float d[]; } }\n";
        String out = EmulatedModules.rewriteDynamicShared(src);
        String[] l = out.split("\n");
        assertEquals("// extern __shared__ float a[];", l[0]);
        assertEquals("/* extern __shared__ float b[]; */", l[1]);
        assertEquals("const char* s = \"extern __shared__ float c[];\";", l[2]);
        assertTrue(l[3].contains("__shared__ float tile[32];"), l[3]);
        assertTrue(l[3].contains("float* d = static_cast<float*>(::soma_emu::dynamic_shared());"), l[3]);
    }

    @Test
    void theOpsSourceStartsAtLineOneOfItsOwnFile() {
        String src = "extern \"C\" __global__ void f(float* y) {\n    y[0] = 1;\n}";
        String module = EmulatedModules.moduleSource("my_op", src, List.of("f", "g<float, 4>"));
        int at = module.indexOf("#line 1 \"my_op.cu\"\n");
        assertTrue(at > 0, module);
        assertTrue(module.substring(at).startsWith("#line 1 \"my_op.cu\"\n" + src + "\n"), module);
        assertTrue(module.contains("#line 1 \"my_op.cu: declared kernel g<float, 4>\""), module);
        assertTrue(module.contains("::soma_emu_custom::entry<g<float, 4>>(g<float, 4>,"), module);
        assertTrue(module.contains("soma_emu_module_names[] = {\"f\", \"g<float, 4>\", nullptr}"), module);
    }

    @Test
    void nvrtcOptionsThatMeanSomethingToTheHostCompilerArePassedOn() {
        assertEquals(List.of("-DN=4", "-DM=2", "-UX", "-I/inc", "-I/x", "-std=c++20"),
                EmulatedModules.translateOptions(List.of("-DN=4", "-D", "M=2", "--use_fast_math", "-UX", "-I/inc",
                        "--include-path=/x", "--gpu-architecture=sm_90", "-std=c++20", "-std=c++14", "-lineinfo")));
    }
}
