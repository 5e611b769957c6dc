package dev.soma.distributed;

import org.junit.jupiter.api.Test;

import static dev.soma.distributed.NcclWatchdog.Verdict.*;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The watchdog's decision about the oldest queued collective (its thread and CUDA events run only on a real GPU,
 * NcclTest there). Times in nanoseconds, the timeout in seconds.
 */
class NcclWatchdogTest {
    private static final long S = 1_000_000_000L;

    @Test
    void aFinishedCollectiveIsDroppedHoweverOldItIs() {
        assertEquals(FINISHED, NcclWatchdog.judge(true, 0, 1, 300));
        assertEquals(FINISHED, NcclWatchdog.judge(true, 0, 10_000 * S, 300));
    }

    @Test
    void anUnfinishedOneIsWaitedForUntilTheTimeoutThenAborted() {
        assertEquals(WAIT, NcclWatchdog.judge(false, 5 * S, 5 * S, 300));
        assertEquals(WAIT, NcclWatchdog.judge(false, 5 * S, 305 * S, 300)); // exactly the timeout: not yet
        assertEquals(TIMED_OUT, NcclWatchdog.judge(false, 5 * S, 305 * S + 1, 300));
        assertEquals(TIMED_OUT, NcclWatchdog.judge(false, 0, S, 0.5));
        // System.nanoTime may be negative: only the difference counts.
        assertEquals(WAIT, NcclWatchdog.judge(false, Long.MIN_VALUE / 2, Long.MIN_VALUE / 2 + S, 2));
    }
}
