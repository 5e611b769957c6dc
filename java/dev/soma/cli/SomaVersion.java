package dev.soma.cli;

import picocli.CommandLine;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/**
 * Soma's version: from the jar manifest when the jar carries one, else from the pom.properties that Maven puts in
 * every jar, else a marker saying we run from compiled classes (tests, an IDE).
 */
public final class SomaVersion {
    static final String POM_PROPERTIES = "META-INF/maven/dev.soma/soma/pom.properties";
    static final String UNPACKAGED = "development build (not running from the jar)";

    private SomaVersion() {}

    public static String get() {
        String v = SomaVersion.class.getPackage().getImplementationVersion();
        if (v != null) return v;
        return fromPomProperties(SomaVersion.class.getClassLoader());
    }

    static String fromPomProperties(ClassLoader loader) {
        try (InputStream in = loader.getResourceAsStream(POM_PROPERTIES)) {
            if (in != null) {
                Properties p = new Properties();
                p.load(in);
                String v = p.getProperty("version");
                if (v != null && !v.isBlank()) return v.strip();
            }
        } catch (IOException ignored) {
            // fall through to the marker
        }
        return UNPACKAGED;
    }

    /** picocli's --version. */
    public static final class Provider implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"soma " + get()};
        }
    }
}
