package dev.soma.backend.cuda;

import dev.soma.testing.TemporaryProperties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CudnnAlgorithmCacheTest {
    @Test
    void choicesSurviveARestart(@TempDir Path dir) {
        Path file = dir.resolve("sub").resolve("cudnn-algorithms.json");
        CudnnAlgorithmCache first = new CudnnAlgorithmCache(file);
        assertNull(first.get("k"));
        first.put("gpu | cuDNN 91900 | forward NCHW ... [32, 28, 28, 32]", new CudnnAlgorithmCache.Entry(2, 3, 4096, 0.07f));
        first.put("other", new CudnnAlgorithmCache.Entry(0, 3, 0, 0.5f));
        assertTrue(Files.isRegularFile(file));
        CudnnAlgorithmCache second = new CudnnAlgorithmCache(file);
        assertEquals(2, second.size());
        assertEquals(new CudnnAlgorithmCache.Entry(2, 3, 4096, 0.07f),
                second.get("gpu | cuDNN 91900 | forward NCHW ... [32, 28, 28, 32]"));
    }

    @Test
    void anUnreadableFileIsIgnoredAndReplaced(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("cudnn-algorithms.json");
        Files.writeString(file, "{ this is not json");
        CudnnAlgorithmCache cache = new CudnnAlgorithmCache(file);
        assertEquals(0, cache.size());
        cache.put("k", new CudnnAlgorithmCache.Entry(1, 3, 0, 1f));
        assertEquals(1, new CudnnAlgorithmCache(file).size());
        Files.writeString(file, "{\"k\": {\"algo\": -1}, \"j\": {\"algo\": 5, \"mathType\": 3}}");  // a negative algorithm is dropped
        CudnnAlgorithmCache partly = new CudnnAlgorithmCache(file);
        assertNull(partly.get("k"));
        assertEquals(5, partly.get("j").algo());
    }

    @Test
    void noneKeepsNothingOnDiskAndTheDefaultIsUnderTheUserCache() {
        try (TemporaryProperties p = new TemporaryProperties()) {
            p.set("soma.cuda.cudnn.cache", "none");
            assertNull(CudnnAlgorithmCache.configuredPath());
            CudnnAlgorithmCache memoryOnly = CudnnAlgorithmCache.configured();
            memoryOnly.put("k", new CudnnAlgorithmCache.Entry(1, 3, 0, 1f));
            assertEquals(1, memoryOnly.size());
            p.clear("soma.cuda.cudnn.cache");
            assertTrue(CudnnAlgorithmCache.configuredPath().endsWith(Path.of("soma", "cudnn-algorithms.json")));
        }
    }
}
