package dev.soma.data;

import dev.soma.errors.SomaException;
import dev.soma.testing.TemporaryProperties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class DatasetFetcherTest {
    @TempDir
    Path dir;

    @Test
    void sha256MatchesTheStandardTestVector() throws IOException {
        Path f = dir.resolve("abc");
        Files.write(f, "abc".getBytes(StandardCharsets.US_ASCII));
        assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", DatasetFetcher.sha256(f));
    }

    @Test
    void knownNamesAndUnknownNames() {
        assertEquals(DatasetFetcher.Known.MNIST, DatasetFetcher.Known.byName("MNIST"));
        assertEquals(DatasetFetcher.Known.FASHION_MNIST, DatasetFetcher.Known.byName("fashion_mnist"));
        SomaException e = assertThrows(SomaException.class, () -> DatasetFetcher.Known.byName("cifar"));
        assertTrue(e.getMessage().contains("mnist, fashion-mnist"), e.getMessage());
        for (DatasetFetcher.Known k : DatasetFetcher.Known.values()) {
            boolean oneFile = k == DatasetFetcher.Known.IMDB || k == DatasetFetcher.Known.KJV;
            assertEquals(oneFile ? 1 : 4, k.files.size(), k.id);
            for (DatasetFetcher.DatasetFile f : k.files) assertTrue(f.sha256().matches("[0-9a-f]{64}"), f.toString());
        }
    }

    @Test
    void aUserFolderIsUsedAsItIs() throws IOException {
        Path mine = Files.createDirectory(dir.resolve("my-digits"));
        List<String> log = new ArrayList<>();
        assertEquals(mine, DatasetFetcher.resolve(mine.toString(), dir.resolve("root"), log::add));
        assertTrue(log.isEmpty(), "nothing is fetched for a user folder");
        assertFalse(Files.exists(dir.resolve("root")));
    }

    @Test
    void filesWithWrongChecksumsDoNotCountAsPresent() throws IOException {
        Path folder = Files.createDirectory(dir.resolve("mnist"));
        assertFalse(DatasetFetcher.isPresent(DatasetFetcher.Known.MNIST, folder));
        for (DatasetFetcher.DatasetFile f : DatasetFetcher.Known.MNIST.files) Files.write(folder.resolve(f.name()), new byte[] {1});
        assertFalse(DatasetFetcher.isPresent(DatasetFetcher.Known.MNIST, folder));
    }

    @Test
    void dataRootComesFromThePropertyFirst() {
        try (TemporaryProperties p = new TemporaryProperties()) {
            p.set("soma.data", dir.toString());
            assertEquals(dir, DatasetFetcher.defaultDataRoot());
        }
    }
}
