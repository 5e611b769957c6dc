package dev.soma.distributed;

import dev.soma.jni.CudaKernels;

import java.util.ArrayDeque;
import java.util.function.Consumer;

/**
 * Bounds how long NVIDIA's NCCL may wait for a peer, as PyTorch's NCCL watchdog does: a daemon thread that, every
 * {@code pollMillis}, asks the communicator for an asynchronous error and whether the oldest collective still queued
 * has finished (a CUDA event recorded after it). A failed communicator, or a collective older than the timeout, is
 * aborted ({@code ncclCommAbort}), so the kernels that wait for a dead or stuck peer end and the training thread's
 * next synchronisation fails instead of blocking forever; {@link Nccl} then throws the reason on every call.
 *
 * <p>Only for a real device: the emulated stand-in bounds its own waits, and querying an event there would run the
 * queued work on this thread.
 */
final class NcclWatchdog implements AutoCloseable {
    /** What the watchdog does next about the oldest queued collective. */
    enum Verdict { FINISHED, WAIT, TIMED_OUT }

    /** The decision, apart from threads and devices (tested on its own). */
    static Verdict judge(boolean finished, long queuedAtNanos, long nowNanos, double timeoutSeconds) {
        if (finished) return Verdict.FINISHED;
        return (nowNanos - queuedAtNanos) / 1e9 > timeoutSeconds ? Verdict.TIMED_OUT : Verdict.WAIT;
    }

    private record Pending(long event, long queuedAtNanos, String what) {}

    private final ArrayDeque<Pending> pending = new ArrayDeque<>();
    private final double timeoutSeconds;
    private final long pollMillis;
    private final long comm;
    private final Consumer<String> abort;
    private final Thread thread;
    private volatile boolean stopped;

    /** Watches {@code comm}; {@code abort} receives the reason once, from the watchdog's thread. */
    NcclWatchdog(long comm, String name, double timeoutSeconds, long pollMillis, Consumer<String> abort) {
        this.comm = comm;
        this.timeoutSeconds = timeoutSeconds;
        this.pollMillis = pollMillis;
        this.abort = abort;
        this.thread = new Thread(this::run, "soma-nccl-watchdog " + name);
        thread.setDaemon(true);
        thread.start();
    }

    /** A collective was just queued on {@code stream}: an event after it tells when it has finished. */
    void queued(long stream, String what) {
        long[] event = new long[1];
        if (CudaKernels.soma_cuda_event_create(event) != 0) return; // unwatched, not wrong
        if (CudaKernels.soma_cuda_event_record(event[0], stream) != 0) {
            CudaKernels.soma_cuda_event_destroy(event[0]);
            return;
        }
        synchronized (pending) {
            pending.addLast(new Pending(event[0], System.nanoTime(), what));
        }
    }

    private void run() {
        while (!stopped) {
            try {
                Thread.sleep(pollMillis);
            } catch (InterruptedException e) {
                return;
            }
            String reason = check();
            if (reason != null && !stopped) {
                stopped = true;
                abort.accept(reason);
                return;
            }
        }
    }

    /** Null while all is well; else why the communicator must be aborted. */
    private String check() {
        int[] failed = new int[1];
        if (CudaKernels.soma_cuda_nccl_comm_check(comm, failed) == 0 && failed[0] != 0) {
            return "NCCL reported an asynchronous error: " + Nccl.errorText();
        }
        synchronized (pending) {
            while (!pending.isEmpty()) {
                Pending p = pending.peekFirst();
                boolean finished = CudaKernels.soma_cuda_event_query(p.event()) != CudaKernels.NOT_READY;
                switch (judge(finished, p.queuedAtNanos(), System.nanoTime(), timeoutSeconds)) {
                    case FINISHED -> {
                        CudaKernels.soma_cuda_event_destroy(p.event());
                        pending.removeFirst();
                    }
                    case WAIT -> {
                        return null;
                    }
                    case TIMED_OUT -> {
                        return p.what() + " did not finish within " + timeoutSeconds + " s (SOMA_DIST_TIMEOUT): a peer"
                                + " rank has probably died or stopped";
                    }
                }
            }
        }
        return null;
    }

    /** Stops watching (before the communicator is destroyed) and frees the events. */
    @Override
    public void close() {
        stopped = true;
        thread.interrupt();
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (pending) {
            for (Pending p : pending) CudaKernels.soma_cuda_event_destroy(p.event());
            pending.clear();
        }
    }
}
