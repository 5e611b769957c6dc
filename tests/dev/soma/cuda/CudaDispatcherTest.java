package dev.soma.cuda;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static dev.soma.cuda.ChildJvm.line;
import static org.junit.jupiter.api.Assertions.*;

/**
 * libsoma_cuda.so, the dispatcher Java links, on any machine (each case in a fresh JVM, since a JVM opens one
 * kernel library for good): before an open every entry answers "no library opened" and says why; a failed open
 * carries dlopen's reason; the emulated library opens everywhere; the sync switch keeps kernel names in errors.
 */
class CudaDispatcherTest {
    @Test
    void beforeAnOpenEveryEntrySaysNoKernelLibraryIsOpened() throws Exception {
        String out = ChildJvm.run(DispatcherMain.class, Map.of());
        assertEquals("-1 7", line(out, "count"), out); // SOMA_CUDA_NOT_OPENED, the out-parameter untouched
        assertEquals("no CUDA kernel library opened (soma_cuda_open was not called)", line(out, "status"));
        assertEquals("0", line(out, "built"));
        assertTrue(line(out, "info").startsWith("no CUDA kernel library opened"), out);
        String bad = line(out, "bad-open");
        assertTrue(bad.startsWith("-1 opening /nonexistent/libsoma_cuda_nv.so failed: ")
                && bad.contains("No such file or directory"), bad);
        assertTrue(line(out, "after-bad-open").startsWith("no CUDA kernel library opened (opening "
                + "/nonexistent/libsoma_cuda_nv.so failed: "), out);
        assertEquals("2 0 1", line(out, "emulated"), out); // kind 2, status 0, one device
        assertTrue(line(out, "second-open").startsWith("-1 a CUDA library is already open ("), out);
    }

    @Test
    void theSyncSwitchRunsKernelsAndItsErrorsNameTheKernelOpAndShapes() throws Exception {
        String out = ChildJvm.run(SyncSwitchMain.class, Map.of("SOMA_CUDA_EMULATE", "1"), "-Dsoma.cuda.sync=true");
        assertEquals("true true true ok", line(out, "probe"), out);
        assertEquals("[2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]", line(out, "sum"));
        String error = line(out, "error");
        assertTrue(error.startsWith("soma_cuda_binary DIV of int32[2, 3] on cuda:0"), error);
        assertTrue(error.contains("into [2, 3] failed on the GPU: "), error);
        assertTrue(error.contains("CUDA error 1)"), error);
        assertEquals("0", line(out, "live"), out);
    }
}
