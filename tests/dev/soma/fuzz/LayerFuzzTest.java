package dev.soma.fuzz;

import dev.soma.nn.LayerRegistry;
import dev.soma.tensor.Device;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Random layers of every registered type, with random options and inputs, on the CPU ({@link LayerFuzzer}: what counts
 * as a finding). The seed changes every run and is printed: {@code -Dsoma.fuzz.seed=S} replays a run,
 * {@code -Dsoma.fuzz.layers=N} sets the layers per type (default 40); {@code -Dsoma.fuzz.layer=TYPE
 * -Dsoma.fuzz.call=SEED} replays one layer with its outcome printed.
 */
@ExtendWith(NoLeaks.class)
class LayerFuzzTest {
    static final long SEED = FuzzReports.seed(LayerFuzzTest.class);
    static final int LAYERS = Integer.getInteger("soma.fuzz.layers", 40);

    /** Registered types built elsewhere: a nested model is a whole model (SaveAnyModelTest covers it). */
    private static final List<String> NOT_LAYERS = List.of("model");

    @Test
    void everyRegisteredLayerTypeHasARecipe() {
        TreeSet<String> registered = new TreeSet<>(LayerRegistry.types());
        registered.removeAll(NOT_LAYERS);
        assertEquals(registered, new TreeSet<>(LayerRecipes.types()), "a registered layer type has no recipe in LayerRecipes");
    }

    @Test
    void everyLayerAnswersRandomOptionsAndInputsClearlyAndSavesWithoutLoss() {
        run(Device.cpu());
    }

    static void run(Device home) {
        LayerFuzzer fuzzer = new LayerFuzzer(home);
        List<String> types = new ArrayList<>(LayerRecipes.types());
        String only = System.getProperty("soma.fuzz.layer");
        Long call = Long.getLong("soma.fuzz.call");
        if (only != null) types.retainAll(List.of(only));
        if (only != null && call != null) {
            fuzzer.verbose = true;
            fuzzer.fuzz(only, call, 1);
        } else {
            for (String type : types) {
                fuzzer.fuzz(type, new SplittableRandom(SEED ^ (type.hashCode() * 0x9E3779B97F4A7C15L)).nextLong(), LAYERS);
            }
        }
        System.out.println("layer fuzzing on " + home + ", seed " + SEED + ": " + types.size() + " types, " + fuzzer.summary());
        System.out.println("never compared with float64: " + fuzzer.neverCompared());
        Map<String, String> findings = fuzzer.findings();
        FuzzReports.failIfAny(findings, SEED);
    }
}
