package dev.soma.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.*;

class SomaCliTest {
    private static CliRun run(String... args) {
        return CliRun.of(args);
    }

    @Test
    void infoReportsEveryComponent() {
        CliRun r = run("info");
        assertEquals(0, r.exit(), r.err());
        Map<String, String> lines = InfoCommand.report().stream()
                .collect(Collectors.toMap(InfoCommand.Line::label, InfoCommand.Line::value));
        for (String label : List.of("Soma", "Java", "OS", "CPU backend", "OpenMP", "oneDNN", "JavaCPP", "CUDA",
                "CUDA kernels", "MPI", "Memory")) {
            assertTrue(r.out().contains(label + " "), "info has no '" + label + "' line:\n" + r.out());
            assertFalse(lines.get(label).startsWith("unavailable"), label + ": " + lines.get(label));
        }
        assertTrue(lines.get("oneDNN").matches("3\\.\\d+\\.\\d+.*"), lines.get("oneDNN"));
        assertTrue(lines.get("CPU backend").contains("OpenMP threads"), lines.get("CPU backend"));
        assertTrue(lines.get("JavaCPP").startsWith("1.5"), lines.get("JavaCPP"));
        assertTrue(lines.get("CUDA").startsWith("usable: ") || lines.get("CUDA").startsWith("not usable: "),
                lines.get("CUDA"));
        assertTrue(lines.get("Memory").startsWith("pool[cpu]"), lines.get("Memory"));
        assertTrue(lines.get("Java").startsWith(System.getProperty("java.version")));
    }

    @Test
    void versionAndHelp() {
        CliRun v = run("--version");
        assertEquals(0, v.exit());
        assertEquals("soma " + SomaVersion.get(), v.out().strip());
        CliRun h = run("--help");
        assertEquals(0, h.exit());
        assertTrue(h.out().contains("info") && h.out().contains("fetch"), h.out());
        CliRun none = run();
        assertEquals(0, none.exit());
        assertTrue(none.out().startsWith("Usage: soma"), none.out());
    }

    @Test
    void unknownCommandsAndBadDatasetsFailWithOneLine() {
        CliRun bad = run("frobnicate");
        assertEquals(2, bad.exit());
        assertTrue(bad.err().contains("Unmatched argument") || bad.err().contains("Unknown"), bad.err());
        CliRun ds = run("fetch", "cifar", "--data-root", "/nonexistent-soma-root");
        assertEquals(1, ds.exit());
        assertTrue(ds.err().startsWith("soma fetch: unknown dataset 'cifar'"), ds.err());
        assertEquals(1, ds.err().strip().lines().count(), ds.err());
    }

    @Test
    void versionComesFromTheJarsPomPropertiesWhenPresent(@TempDir Path dir) throws IOException {
        Path props = dir.resolve(SomaVersion.POM_PROPERTIES);
        Files.createDirectories(props.getParent());
        Files.writeString(props, "groupId=dev.soma\nartifactId=soma\nversion=9.8.7\n");
        try (URLClassLoader cl = new URLClassLoader(new URL[] {dir.toUri().toURL()}, null)) {
            assertEquals("9.8.7", SomaVersion.fromPomProperties(cl));
        }
        try (URLClassLoader empty = new URLClassLoader(new URL[0], null)) {
            assertEquals(SomaVersion.UNPACKAGED, SomaVersion.fromPomProperties(empty));
        }
    }

    @Test
    void cudaVersionsAreDecoded() {
        assertEquals("13.0", InfoCommand.cudaVersion(13000));
        assertEquals("12.4", InfoCommand.cudaVersion(12040));
        assertEquals("unknown", InfoCommand.cudaVersion(0));
    }
}
