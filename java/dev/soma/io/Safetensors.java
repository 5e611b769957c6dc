package dev.soma.io;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import dev.soma.errors.DTypeException;
import dev.soma.errors.SomaException;
import dev.soma.ops.Shapes;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.io.IOException;
import java.io.StringReader;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads and writes named tensors in the safetensors format (https://github.com/huggingface/safetensors):
 * an 8-byte little-endian header length N, N bytes of UTF-8 JSON (padded with spaces to a multiple of 8), then
 * the data: each tensor row-major, little-endian, at {@code data_offsets [begin, end)} relative to the end of
 * the header. The JSON maps names to {@code {"dtype", "shape", "data_offsets"}} plus an optional
 * {@code "__metadata__"} map of strings to strings. Soma reads and writes F32, F64 and I32.
 *
 * <p>Writing is atomic: a temporary file in the target's folder is written, synced and renamed over the target.
 * Reading trusts nothing in the file: the header length, the JSON, every offset, shape and dtype are checked
 * against each other and the file size before any tensor is allocated; the data must cover the buffer exactly
 * (no overlaps, no holes) as the format requires.
 */
public final class Safetensors {
    /** The format's own limit on the JSON header (it keeps a corrupt length from allocating gigabytes). */
    public static final long MAX_HEADER_BYTES = 100L << 20;
    public static final String METADATA_KEY = "__metadata__";
    private static final int CHUNK_ELEMENTS = 1 << 18;
    private static final Set<String> OTHER_DTYPES = Set.of("BOOL", "U8", "I8", "U16", "I16", "U32", "U64", "I64",
            "F16", "BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64");

    /** One tensor's header entry; offsets are relative to the start of the data section. */
    public record Entry(String name, DType dtype, long[] shape, long begin, long end) {
        public long numel() {
            return Shapes.numel(shape);
        }
    }

    /** A checked header: entries in the file's JSON order, metadata, and where the data section starts. */
    public record Header(List<Entry> entries, Map<String, String> metadata, long dataStart) {}

    /** Tensors read from a file (created in the caller's scope), in header order, and the file's metadata. */
    public record Loaded(Map<String, Tensor> tensors, Map<String, String> metadata) {}

    private Safetensors() {}

    // ------------------------------------------------------------------ writing

    public static void write(Path file, Map<String, Tensor> tensors) throws IOException {
        write(file, tensors, Map.of());
    }

    /** Writes {@code tensors} (in map order) and {@code metadata} to {@code file}, replacing it atomically. */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        JsonObject header = new JsonObject();
        if (!metadata.isEmpty()) {
            JsonObject meta = new JsonObject();
            metadata.forEach((k, v) -> {
                if (k == null || v == null) throw new IllegalArgumentException("safetensors write: null metadata key or value");
                meta.addProperty(k, v);
            });
            header.add(METADATA_KEY, meta);
        }
        // Data order: widest dtype first (stable), as the reference writer does, so every tensor starts at a
        // multiple of its element size (the header is padded to 8). The JSON keeps the caller's order.
        List<Map.Entry<String, Tensor>> dataOrder = new ArrayList<>(tensors.entrySet());
        for (Map.Entry<String, Tensor> e : dataOrder) {
            String name = e.getKey();
            if (name == null || name.isEmpty() || name.equals(METADATA_KEY)) {
                throw new IllegalArgumentException("safetensors write: invalid tensor name '" + name + "'");
            }
            Tensor t = e.getValue();
            t.checkOpen("safetensors write of '" + name + "'");
            if (t.numel() > Integer.MAX_VALUE - 8) {
                throw new SomaException("safetensors write: tensor '" + name + "' " + t.describe()
                        + " has more elements than one Java array holds");
            }
        }
        dataOrder.sort(Comparator.comparingInt((Map.Entry<String, Tensor> e) -> -e.getValue().dtype().byteSize()));
        Map<String, long[]> offsets = new LinkedHashMap<>();
        long offset = 0;
        for (Map.Entry<String, Tensor> e : dataOrder) {
            long bytes = e.getValue().numel() * e.getValue().dtype().byteSize();
            offsets.put(e.getKey(), new long[] {offset, offset + bytes});
            offset += bytes;
        }
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            Tensor t = e.getValue();
            JsonObject info = new JsonObject();
            info.addProperty("dtype", dtypeName(t.dtype()));
            JsonArray shape = new JsonArray();
            for (long s : t.shape()) shape.add(s);
            info.add("shape", shape);
            JsonArray range = new JsonArray();
            range.add(offsets.get(e.getKey())[0]);
            range.add(offsets.get(e.getKey())[1]);
            info.add("data_offsets", range);
            header.add(e.getKey(), info);
        }
        byte[] json = new GsonBuilder().disableHtmlEscaping().create().toJson(header).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) head.put((byte) ' ');
        head.flip();

        AtomicFiles.write(file, ch -> {
            writeFully(ch, head);
            for (Map.Entry<String, Tensor> e : dataOrder) writeData(ch, e.getValue());
        });
    }

    private static void writeData(FileChannel ch, Tensor t) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(CHUNK_ELEMENTS * t.dtype().byteSize()).order(ByteOrder.LITTLE_ENDIAN);
        switch (t.dtype()) {
            case F32 -> {
                float[] a = t.toFloatArray();
                for (int i = 0; i < a.length; i += CHUNK_ELEMENTS) {
                    int n = Math.min(CHUNK_ELEMENTS, a.length - i);
                    buf.clear();
                    buf.asFloatBuffer().put(a, i, n);
                    buf.limit(n * 4);
                    writeFully(ch, buf);
                }
            }
            case F64 -> {
                double[] a = t.toDoubleArray();
                for (int i = 0; i < a.length; i += CHUNK_ELEMENTS) {
                    int n = Math.min(CHUNK_ELEMENTS, a.length - i);
                    buf.clear();
                    buf.asDoubleBuffer().put(a, i, n);
                    buf.limit(n * 8);
                    writeFully(ch, buf);
                }
            }
            case I32 -> {
                int[] a = t.toIntArray();
                for (int i = 0; i < a.length; i += CHUNK_ELEMENTS) {
                    int n = Math.min(CHUNK_ELEMENTS, a.length - i);
                    buf.clear();
                    buf.asIntBuffer().put(a, i, n);
                    buf.limit(n * 4);
                    writeFully(ch, buf);
                }
            }
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) ch.write(buf);
    }

    // ------------------------------------------------------------------ reading

    /** Reads every tensor of {@code file} into new CPU tensors (in the current scope) after checking the header. */
    public static Loaded read(Path file) throws IOException {
        Header header = readHeader(file);
        Map<String, Tensor> out = new LinkedHashMap<>();
        boolean ok = false;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            for (Entry e : header.entries()) {
                out.put(e.name(), readTensor(file, ch, header.dataStart(), e));
            }
            ok = true;
        } finally {
            if (!ok) out.values().forEach(Tensor::close);
        }
        return new Loaded(out, header.metadata());
    }

    private static Tensor readTensor(Path file, FileChannel ch, long dataStart, Entry e) throws IOException {
        long n = e.numel();
        if (n > Integer.MAX_VALUE - 8) {
            throw new SomaException(file + ": tensor '" + e.name() + "' " + Arrays.toString(e.shape())
                    + " has more elements than one Java array holds");
        }
        int count = (int) n;
        int size = e.dtype().byteSize();
        ByteBuffer buf = ByteBuffer.allocate(Math.min(count, CHUNK_ELEMENTS) * size).order(ByteOrder.LITTLE_ENDIAN);
        long pos = dataStart + e.begin();
        float[] f = e.dtype() == DType.F32 ? new float[count] : null;
        double[] d = e.dtype() == DType.F64 ? new double[count] : null;
        int[] ints = e.dtype() == DType.I32 ? new int[count] : null;
        for (int i = 0; i < count; i += CHUNK_ELEMENTS) {
            int k = Math.min(CHUNK_ELEMENTS, count - i);
            buf.clear().limit(k * size);
            readFully(file, ch, buf, pos);
            pos += (long) k * size;
            buf.flip();
            switch (e.dtype()) {
                case F32 -> buf.asFloatBuffer().get(f, i, k);
                case F64 -> buf.asDoubleBuffer().get(d, i, k);
                case I32 -> buf.asIntBuffer().get(ints, i, k);
            }
        }
        Tensor t = Tensor.empty(e.dtype(), Device.cpu(), e.shape());
        switch (e.dtype()) {
            case F32 -> t.backend().memory().write(t, f);
            case F64 -> t.backend().memory().write(t, d);
            case I32 -> t.backend().memory().write(t, ints);
        }
        return t;
    }

    /** Reads and checks the header of {@code file} without reading any tensor data. */
    public static Header readHeader(Path file) throws IOException {
        long fileSize = Files.size(file);
        if (fileSize < 8) {
            throw new CorruptFileException(file, "file is " + fileSize + " bytes; a safetensors file starts with an "
                    + "8-byte header length");
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(file, ch, lenBuf, 0);
            long n = lenBuf.flip().getLong();
            if (n < 2 || n > MAX_HEADER_BYTES) {
                throw new CorruptFileException(file, "header length " + Long.toUnsignedString(n)
                        + " is outside [2, " + MAX_HEADER_BYTES + "] bytes (not a safetensors file, or corrupted)");
            }
            if (8 + n > fileSize) {
                throw new CorruptFileException(file, "header length " + n + " runs past the end of the file ("
                        + fileSize + " bytes; truncated?)");
            }
            ByteBuffer json = ByteBuffer.allocate((int) n);
            readFully(file, ch, json, 8);
            json.flip();
            String text;
            try {
                CharBuffer chars = StandardCharsets.UTF_8.newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(json);
                text = chars.toString();
            } catch (CharacterCodingException ex) {
                throw new CorruptFileException(file, "header is not valid UTF-8", ex);
            }
            return parseHeader(file, text, 8 + n, fileSize - 8 - n);
        }
    }

    private static Header parseHeader(Path file, String text, long dataStart, long dataSize) {
        if (!text.startsWith("{")) {
            throw new CorruptFileException(file, "header does not start with '{' (not a safetensors file, or corrupted)");
        }
        Map<String, JsonElement> fields = parseObjectNoDuplicates(file, text);
        Map<String, String> metadata = new LinkedHashMap<>();
        List<Entry> entries = new ArrayList<>();
        for (Map.Entry<String, JsonElement> f : fields.entrySet()) {
            if (f.getKey().equals(METADATA_KEY)) {
                metadata = parseMetadata(file, f.getValue());
            } else {
                entries.add(parseEntry(file, f.getKey(), f.getValue(), dataSize));
            }
        }
        checkCoverage(file, entries, dataSize);
        return new Header(List.copyOf(entries), Map.copyOf(metadata), dataStart);
    }

    /** Parses the top-level JSON object strictly, rejecting duplicate names (they make a file ambiguous). */
    private static Map<String, JsonElement> parseObjectNoDuplicates(Path file, String text) {
        Map<String, JsonElement> out = new LinkedHashMap<>();
        try (JsonReader reader = new JsonReader(new StringReader(text))) {
            reader.setStrictness(Strictness.STRICT);
            reader.beginObject();
            while (reader.hasNext()) {
                String name = reader.nextName();
                JsonElement value = JsonParser.parseReader(reader);
                if (out.put(name, value) != null) {
                    throw new CorruptFileException(file, "header names '" + name + "' twice");
                }
            }
            reader.endObject();
            if (reader.peek() != JsonToken.END_DOCUMENT) { // strict mode mostly throws here already
                throw new CorruptFileException(file, "header has content after its JSON object");
            }
        } catch (IOException | JsonParseException | IllegalStateException ex) {
            throw new CorruptFileException(file, "header is not valid JSON (" + jsonProblem(ex) + ")", ex);
        }
        return out;
    }

    /** Gson's messages carry advice about its own API; keep the position, which is what a user can act on. */
    private static String jsonProblem(Exception ex) {
        String m = ex.getMessage() == null ? ex.getClass().getSimpleName() : ex.getMessage();
        java.util.regex.Matcher at = java.util.regex.Pattern.compile("at line \\d+ column \\d+").matcher(m);
        if (m.contains("Use JsonReader.setStrictness") && at.find()) return "malformed " + at.group();
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }

    private static Map<String, String> parseMetadata(Path file, JsonElement value) {
        if (!value.isJsonObject()) {
            throw new CorruptFileException(file, METADATA_KEY + " must be an object of strings, found " + value);
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> m : value.getAsJsonObject().entrySet()) {
            JsonElement v = m.getValue();
            if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isString()) {
                throw new CorruptFileException(file, METADATA_KEY + " value of '" + m.getKey() + "' is not a string: " + v);
            }
            out.put(m.getKey(), v.getAsString());
        }
        return out;
    }

    private static Entry parseEntry(Path file, String name, JsonElement value, long dataSize) {
        String what = "tensor '" + name + "'";
        if (!value.isJsonObject()) throw new CorruptFileException(file, what + " is not a JSON object: " + value);
        JsonObject o = value.getAsJsonObject();
        for (String key : o.keySet()) {
            if (!key.equals("dtype") && !key.equals("shape") && !key.equals("data_offsets")) {
                throw new CorruptFileException(file, what + " has an unknown field '" + key + "'");
            }
        }
        JsonElement dt = o.get("dtype");
        if (dt == null || !dt.isJsonPrimitive() || !dt.getAsJsonPrimitive().isString()) {
            throw new CorruptFileException(file, what + " has no dtype string");
        }
        DType dtype = dtypeOf(file, what, dt.getAsString());
        long[] shape = longArray(file, what, "shape", o.get("shape"), -1);
        if (shape.length > Shapes.MAX_DIMS) {
            throw new CorruptFileException(file, what + " has rank " + shape.length + "; Soma supports at most " + Shapes.MAX_DIMS);
        }
        long numel = 1;
        for (long s : shape) {
            try {
                numel = Math.multiplyExact(numel, s);
                Math.multiplyExact(numel, 8L);
            } catch (ArithmeticException ex) {
                throw new CorruptFileException(file, what + " shape " + Arrays.toString(shape) + " overflows");
            }
        }
        long[] off = longArray(file, what, "data_offsets", o.get("data_offsets"), 2);
        long begin = off[0];
        long end = off[1];
        if (begin > end) {
            throw new CorruptFileException(file, what + " data_offsets [" + begin + ", " + end + "] end before they begin");
        }
        if (end > dataSize) {
            throw new CorruptFileException(file, what + " data_offsets [" + begin + ", " + end + "] run past the end of the "
                    + "data section (" + dataSize + " bytes; truncated file?)");
        }
        long expected = numel * dtype.byteSize();
        if (end - begin != expected) {
            throw new CorruptFileException(file, what + " data_offsets [" + begin + ", " + end + "] hold " + (end - begin)
                    + " bytes but " + dtypeName(dtype) + Arrays.toString(shape) + " needs " + expected);
        }
        return new Entry(name, dtype, shape, begin, end);
    }

    private static long[] longArray(Path file, String what, String field, JsonElement v, int length) {
        if (v == null || !v.isJsonArray()) throw new CorruptFileException(file, what + " has no " + field + " array");
        JsonArray a = v.getAsJsonArray();
        if (length >= 0 && a.size() != length) {
            throw new CorruptFileException(file, what + " " + field + " has " + a.size() + " values, expected " + length);
        }
        long[] out = new long[a.size()];
        for (int i = 0; i < out.length; i++) {
            JsonElement x = a.get(i);
            if (!x.isJsonPrimitive() || !x.getAsJsonPrimitive().isNumber()) {
                throw new CorruptFileException(file, what + " " + field + " holds a non-number: " + x);
            }
            try {
                out[i] = new BigDecimal(((JsonPrimitive) x).getAsString()).longValueExact();
            } catch (ArithmeticException | NumberFormatException ex) {
                throw new CorruptFileException(file, what + " " + field + " holds " + x + ", not a 64-bit integer");
            }
            if (out[i] < 0) throw new CorruptFileException(file, what + " " + field + " holds a negative value " + out[i]);
        }
        return out;
    }

    /** The data section must be covered exactly once: sorted by offset, each tensor starts where the last ended. */
    private static void checkCoverage(Path file, List<Entry> entries, long dataSize) {
        List<Entry> sorted = new ArrayList<>(entries);
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long pos = 0;
        String prev = null;
        for (Entry e : sorted) {
            if (e.begin() < pos) {
                throw new CorruptFileException(file, "tensor '" + e.name() + "' data_offsets [" + e.begin() + ", " + e.end()
                        + "] overlap tensor '" + prev + "' (which ends at " + pos + ")");
            }
            if (e.begin() > pos) {
                throw new CorruptFileException(file, "bytes [" + pos + ", " + e.begin() + ") of the data section belong to "
                        + "no tensor (holes are not allowed)");
            }
            pos = e.end();
            prev = e.name();
        }
        if (pos != dataSize) {
            throw new CorruptFileException(file, "the data section has " + dataSize + " bytes but the tensors cover "
                    + pos + " (trailing bytes)");
        }
    }

    private static void readFully(Path file, FileChannel ch, ByteBuffer buf, long pos) throws IOException {
        while (buf.hasRemaining()) {
            int r = ch.read(buf, pos);
            if (r < 0) throw new CorruptFileException(file, "unexpected end of file at byte " + pos);
            pos += r;
        }
    }

    // ------------------------------------------------------------------ dtype names

    public static String dtypeName(DType dtype) {
        return switch (dtype) {
            case F32 -> "F32";
            case F64 -> "F64";
            case I32 -> "I32";
        };
    }

    private static DType dtypeOf(Path file, String what, String name) {
        switch (name) {
            case "F32": return DType.F32;
            case "F64": return DType.F64;
            case "I32": return DType.I32;
            default:
                if (OTHER_DTYPES.contains(name)) {
                    throw new DTypeException(file + ": " + what + " has dtype " + name
                            + ", which Soma cannot load (it reads F32, F64 and I32)");
                }
                throw new CorruptFileException(file, what + " has unknown dtype '" + name + "'");
        }
    }
}
