package dev.soma.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.DirectoryStream;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Replaces a file all at once: the content goes to a temporary file in the same folder (so the rename stays on
 * one file system), is synced to disk, then renamed over the target; the folder is synced so the rename itself
 * survives a crash. Readers see the old file or the new one, never half of one.
 *
 * <p>A failed write deletes its temporary file. A killed process cannot, so temporary files carry a recognisable
 * name with the writer's process id ({@code .<target>.soma-tmp-<pid>-<random>.tmp}) and each write first removes
 * those of the same target left by processes that no longer run (or by this one, from writes no longer in
 * progress); unnamed ones from older versions ({@code .<target>.<random>.tmp}) go once they are an hour old.
 */
public final class AtomicFiles {
    /** Writes the content through an open channel. */
    @FunctionalInterface
    public interface Writer {
        void write(FileChannel channel) throws IOException;
    }

    static final String TEMP_MARK = ".soma-tmp-";
    private static final long PID = ProcessHandle.current().pid();
    private static final Duration LEGACY_AGE = Duration.ofHours(1);
    /** Temporary files this process is writing now (other threads' cleanups must keep them). */
    private static final Set<Path> IN_PROGRESS = ConcurrentHashMap.newKeySet();

    private AtomicFiles() {}

    public static void write(Path target, Writer writer) throws IOException {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        Files.createDirectories(dir);
        removeStaleTemporaries(abs);
        Path tmp = Files.createTempFile(dir, "." + abs.getFileName() + TEMP_MARK + PID + "-", ".tmp");
        IN_PROGRESS.add(tmp);
        boolean done = false;
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                writer.write(ch);
                ch.force(true);
            }
            keepOrSetPermissions(tmp, abs);
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
            done = true;
            syncDirectory(dir);
        } finally {
            try {
                if (!done) Files.deleteIfExists(tmp);
            } finally {
                IN_PROGRESS.remove(tmp);
            }
        }
    }

    /** Deletes the temporary files of {@code target} that no running write owns (best effort). */
    static void removeStaleTemporaries(Path target) {
        String prefix = "." + target.getFileName() + ".";
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(target.getParent(),
                e -> e.getFileName().toString().startsWith(prefix) && e.getFileName().toString().endsWith(".tmp"))) {
            for (Path p : entries) {
                if (isStale(p, p.getFileName().toString().substring(prefix.length() - 1))) Files.deleteIfExists(p);
            }
        } catch (IOException | RuntimeException ignored) {
            // cleaning up is a courtesy: the write itself must not fail for it
        }
    }

    /** {@code rest}: the name after ".<target>", e.g. ".soma-tmp-123-456.tmp" or, from older versions, ".789.tmp". */
    private static boolean isStale(Path p, String rest) throws IOException {
        if (rest.startsWith(TEMP_MARK)) {
            String afterMark = rest.substring(TEMP_MARK.length());
            int dash = afterMark.indexOf('-');
            if (dash <= 0) return false;
            long pid;
            try {
                pid = Long.parseLong(afterMark.substring(0, dash));
            } catch (NumberFormatException e) {
                return false;
            }
            if (pid == PID) return !IN_PROGRESS.contains(p.toAbsolutePath());
            return ProcessHandle.of(pid).map(h -> !h.isAlive()).orElse(true);
        }
        // Files.createTempFile's own names: a dot, decimal digits, ".tmp".
        if (!rest.matches("\\.\\d+\\.tmp")) return false;
        FileTime modified = Files.getLastModifiedTime(p);
        return modified.toInstant().isBefore(Instant.now().minus(LEGACY_AGE));
    }

    public static void write(Path target, byte[] bytes) throws IOException {
        write(target, ch -> {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) ch.write(b);
        });
    }

    /** Temporary files are created owner-only; the result gets the old file's permissions, or rw-r--r--. */
    private static void keepOrSetPermissions(Path tmp, Path target) throws IOException {
        if (!Files.getFileStore(tmp).supportsFileAttributeView("posix")) return;
        Set<PosixFilePermission> perms = Files.exists(target) ? Files.getPosixFilePermissions(target)
                : PosixFilePermissions.fromString("rw-r--r--");
        Files.setPosixFilePermissions(tmp, perms);
    }

    /** Best effort: some file systems cannot open a folder for syncing; the file itself is already synced. */
    private static void syncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // nothing more to do portably
        }
    }
}
