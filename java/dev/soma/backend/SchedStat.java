package dev.soma.backend;

import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;

/**
 * Linux schedstat: how long threads ran on a CPU and how long they were runnable but waiting for one. The thread
 * tuner reads its own thread's, the load-aware waiting the whole process's, ten times a second: plain streams and a
 * caller's buffer, no strings.
 */
final class SchedStat {
    private static final File TASKS = new File("/proc/self/task");
    /** Checked once: where there is no schedstat, the tuner's every window would otherwise throw and catch. */
    private static final boolean THREAD_FILE = new File("/proc/thread-self/schedstat").canRead();

    private SchedStat() {}

    /** {run ns, wait ns} of one schedstat file into {@code out}; false where it cannot be read or parsed. */
    static boolean read(String path, byte[] buf, long[] out) {
        int n;
        try (FileInputStream in = new FileInputStream(path)) {
            n = in.read(buf);
        } catch (IOException e) {
            return false;
        }
        int i = 0;
        long run = 0;
        long wait = 0;
        while (i < n && buf[i] >= '0' && buf[i] <= '9') run = run * 10 + (buf[i++] - '0');
        if (i == 0 || i >= n || buf[i] != ' ') return false;
        int start = ++i;
        while (i < n && buf[i] >= '0' && buf[i] <= '9') wait = wait * 10 + (buf[i++] - '0');
        if (i == start) return false;
        out[0] = run;
        out[1] = wait;
        return true;
    }

    /** The calling thread's run-queue wait in ns, or -1 where there is none. */
    static long threadWaitNanos() {
        if (!THREAD_FILE) return -1;
        long[] t = new long[2];
        return read("/proc/thread-self/schedstat", new byte[96], t) ? t[1] : -1;
    }

    /** {run ns, wait ns} summed over this process's threads, or null where that is unknown. */
    static long[] processTotals() {
        String[] tasks = TASKS.list();
        if (tasks == null) return null;
        byte[] buf = new byte[96];
        long[] one = new long[2];
        long[] sum = new long[2];
        boolean any = false;
        for (String task : tasks) {
            // A thread that ended between listing and reading is skipped.
            if (!read("/proc/self/task/" + task + "/schedstat", buf, one)) continue;
            sum[0] += one[0];
            sum[1] += one[1];
            any = true;
        }
        return any ? sum : null;
    }
}
