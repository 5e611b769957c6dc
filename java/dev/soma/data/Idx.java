package dev.soma.data;

import dev.soma.io.AtomicFiles;
import dev.soma.io.CorruptFileException;

import java.io.BufferedInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;
import java.util.zip.ZipException;

/**
 * The IDX format of MNIST and Fashion-MNIST: two zero bytes, a type code (0x08 = unsigned byte), the rank, one
 * big-endian int32 per dimension, then the values row-major. Files may be gzip-compressed (detected by the gzip
 * magic, not the name). Only unsigned-byte files are read: that is what the image datasets use.
 *
 * <p>The header is checked before anything is allocated from it: dimensions must be non-negative and their
 * product must fit a Java array and match the data the file can actually hold (exactly for raw files; within
 * deflate's maximum ratio for gzip files, then exactly once decompressed).
 */
public final class Idx {
    public static final int TYPE_UBYTE = 0x08;
    public static final int MAX_RANK = 8;
    /** Deflate cannot expand data by more than about 1032:1; a header promising more is lying. */
    private static final long MAX_DEFLATE_RATIO = 1032;
    private static final long MAX_ARRAY = Integer.MAX_VALUE - 8;

    /** The values of an IDX file: its dimensions and the bytes (unsigned, row-major). */
    public record Data(Path source, int[] dims, byte[] values) {
        /** Size of the first dimension: the number of items (images, labels). */
        public int count() {
            return dims.length == 0 ? 0 : dims[0];
        }

        /** Value at flat index {@code i}, 0..255. */
        public int unsigned(int i) {
            return values[i] & 0xff;
        }
    }

    private Idx() {}

    public static Data read(Path file) throws IOException {
        long fileSize = Files.size(file);
        try (InputStream raw = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
            raw.mark(2);
            boolean gzip = raw.read() == 0x1f && raw.read() == 0x8b;
            raw.reset();
            InputStream in = gzip ? new GZIPInputStream(raw, 1 << 16) : raw;
            return read(file, in, fileSize, gzip);
        } catch (ZipException | EOFException e) {
            throw new CorruptFileException(file, "gzip data is corrupt or truncated (" + e.getMessage() + ")", e);
        }
    }

    private static Data read(Path file, InputStream in, long fileSize, boolean gzip) throws IOException {
        byte[] magic = in.readNBytes(4);
        if (magic.length < 4) {
            throw new CorruptFileException(file, "only " + magic.length + " bytes; an IDX file starts with a 4-byte magic number");
        }
        if (magic[0] != 0 || magic[1] != 0) {
            throw new CorruptFileException(file, String.format("bad magic number 0x%02x%02x%02x%02x: not an IDX file",
                    magic[0], magic[1], magic[2], magic[3]));
        }
        int type = magic[2] & 0xff;
        if (type != TYPE_UBYTE) {
            throw new CorruptFileException(file, String.format("IDX type code 0x%02x is not supported (only 0x08, "
                    + "unsigned byte, is read)", type));
        }
        int rank = magic[3] & 0xff;
        if (rank < 1 || rank > MAX_RANK) {
            throw new CorruptFileException(file, "IDX rank " + rank + " is outside 1.." + MAX_RANK);
        }
        byte[] dimBytes = in.readNBytes(4 * rank);
        if (dimBytes.length < 4 * rank) {
            throw new CorruptFileException(file, "header is truncated: " + rank + " dimensions need " + 4 * rank
                    + " bytes, found " + dimBytes.length);
        }
        int[] dims = new int[rank];
        long total = 1;
        for (int i = 0; i < rank; i++) {
            dims[i] = ((dimBytes[4 * i] & 0xff) << 24) | ((dimBytes[4 * i + 1] & 0xff) << 16)
                    | ((dimBytes[4 * i + 2] & 0xff) << 8) | (dimBytes[4 * i + 3] & 0xff);
            if (dims[i] < 0) {
                throw new CorruptFileException(file, "dimension " + i + " is negative ("
                        + Integer.toUnsignedString(dims[i]) + " as unsigned)");
            }
            total *= dims[i]; // total < 2^31 before, dims[i] < 2^31: no overflow
            if (total > MAX_ARRAY) {
                throw new CorruptFileException(file, "header dimensions " + Arrays.toString(Arrays.copyOf(dims, i + 1))
                        + "... describe more than " + MAX_ARRAY + " values (more than one Java array holds)");
            }
        }
        long headerBytes = 4 + 4L * rank;
        if (!gzip) {
            long held = fileSize - headerBytes;
            if (held < total) {
                throw new CorruptFileException(file, "header " + Arrays.toString(dims) + " promises " + total
                        + " bytes of data but the file holds only " + held + " (truncated?)");
            }
            if (held > total) {
                throw new CorruptFileException(file, (held - total) + " unexpected bytes after the " + total
                        + " data bytes of " + Arrays.toString(dims));
            }
        } else if (total + headerBytes > fileSize * MAX_DEFLATE_RATIO) {
            throw new CorruptFileException(file, "header " + Arrays.toString(dims) + " promises " + total
                    + " bytes, more than a " + fileSize + "-byte gzip file can hold");
        }
        byte[] values = in.readNBytes((int) total);
        if (values.length < total) {
            throw new CorruptFileException(file, "header " + Arrays.toString(dims) + " promises " + total
                    + " bytes of data but the " + (gzip ? "decompressed " : "") + "file holds only " + values.length
                    + " (truncated?)");
        }
        if (in.read() >= 0) {
            throw new CorruptFileException(file, "unexpected bytes after the " + total + " data bytes of "
                    + Arrays.toString(dims));
        }
        return new Data(file, dims, values);
    }

    /** Writes an unsigned-byte IDX file (gzip-compressed when the name ends in .gz), atomically. */
    public static void writeUbyte(Path file, int[] dims, byte[] values) throws IOException {
        if (dims.length < 1 || dims.length > MAX_RANK) {
            throw new IllegalArgumentException("IDX write: rank " + dims.length + " is outside 1.." + MAX_RANK);
        }
        long total = 1;
        for (int d : dims) {
            if (d < 0) throw new IllegalArgumentException("IDX write: negative dimension in " + Arrays.toString(dims));
            total *= d;
            if (total > MAX_ARRAY) throw new IllegalArgumentException("IDX write: " + Arrays.toString(dims) + " is too large");
        }
        if (total != values.length) {
            throw new IllegalArgumentException("IDX write: " + Arrays.toString(dims) + " needs " + total + " values, got "
                    + values.length);
        }
        boolean gzip = file.getFileName().toString().endsWith(".gz");
        AtomicFiles.write(file, ch -> {
            OutputStream os = Channels.newOutputStream(ch);
            GZIPOutputStream gz = gzip ? new GZIPOutputStream(os, 1 << 16) : null;
            DataOutputStream out = new DataOutputStream(gzip ? gz : os);
            out.write(new byte[] {0, 0, (byte) TYPE_UBYTE, (byte) dims.length});
            for (int d : dims) out.writeInt(d);
            out.write(values);
            out.flush();
            if (gz != null) gz.finish();
            os.flush(); // not close(): the channel must stay open for the sync
        });
    }
}
