package dev.soma.testing;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class TemporaryPropertiesTest {
    @Test
    void everyTouchedPropertyIsPutBackAsItWasBeforeTheFirstTouch() {
        String set = "soma.test.temporary.set", absent = "soma.test.temporary.absent";
        System.setProperty(set, "from the command line");
        try {
            try (TemporaryProperties p = new TemporaryProperties()) {
                p.set(set, "a").set(set, "b").clear(set).set(absent, "c");
                assertNull(System.getProperty(set));
                assertEquals("c", System.getProperty(absent));
            }
            assertEquals("from the command line", System.getProperty(set));
            assertNull(System.getProperty(absent));
        } finally {
            System.clearProperty(set);
        }
    }
}
