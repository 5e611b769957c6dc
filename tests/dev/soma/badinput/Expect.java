package dev.soma.badinput;

import org.junit.jupiter.api.function.Executable;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Asserts an exception of a type whose message names every given part (op, layer, file, shapes...). */
final class Expect {
    private Expect() {}

    static <T extends Throwable> T thrown(Class<T> type, Executable e, String... parts) {
        T ex = assertThrows(type, e);
        String m = String.valueOf(ex.getMessage());
        for (String p : parts) assertTrue(m.contains(p), "'" + p + "' missing in: " + m);
        return ex;
    }
}
