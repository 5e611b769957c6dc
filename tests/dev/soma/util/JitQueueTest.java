package dev.soma.util;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JitQueueTest {
    @Test
    void reportsAreCountedByTheirTaskLines() {
        assertEquals(0, JitQueue.count("Current compiles: \n\nC1 compile queue:\nEmpty\n\nC2 compile queue:\nEmpty\n\n"));
        // As jcmd Compiler.queue printed it during a gan step's warm-up: one compilation running, one queued.
        assertEquals(2, JitQueue.count("Current compiles: \nC2 CompilerThread0  2137   !   4       "
                + "dev.soma.autograd.Autograd::backward (523 bytes)\n\nC1 compile queue:\nEmpty\n\nC2 compile queue:\n"
                + "2138       4       java.util.stream.ReferencePipeline$3$1::accept (23 bytes)\n\n"));
    }

    @Test
    void thisJvmAnswers() {
        assertTrue(JitQueue.pending() >= 0, "HotSpot's compilerQueue command is available in the test JVM");
    }
}
