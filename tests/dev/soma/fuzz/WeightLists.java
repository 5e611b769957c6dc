package dev.soma.fuzz;

import dev.soma.memory.Scope;
import dev.soma.model.Model;
import dev.soma.nn.Param;
import dev.soma.tensor.Device;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** A model's weights as host arrays, and how the fuzz tests compare two such lists. */
final class WeightLists {
    private WeightLists() {}

    /** Every weight of {@code m} (moving statistics included), copied to the host, wherever the model lives. */
    static List<float[]> of(Model m) {
        List<float[]> out = new ArrayList<>();
        try (Scope s = Scope.open()) {
            for (Param p : m.params()) out.add(p.value().to(Device.cpu()).toFloatArray());
        }
        return out;
    }

    /** Bit for bit. */
    static boolean same(List<float[]> a, List<float[]> b) {
        if (a.size() != b.size()) return false;
        for (int i = 0; i < a.size(); i++) if (!Arrays.equals(a.get(i), b.get(i))) return false;
        return true;
    }

    /** ‖got − want‖ / ‖want‖ (L2, in float64). */
    static double relative(float[] got, float[] want) {
        return relative(got, want, 0);
    }

    /**
     * ‖got − want‖ / ‖want‖, the norm divided by at least {@code floorPerElement} per element (√n times it; never
     * below 1e-12): a weight that is zero in exact arithmetic is judged on that scale, not against its own rounding.
     */
    static double relative(float[] got, float[] want, double floorPerElement) {
        double diff = 0, norm = 0;
        for (int i = 0; i < got.length; i++) {
            diff += ((double) got[i] - want[i]) * ((double) got[i] - want[i]);
            norm += (double) want[i] * want[i];
        }
        return Math.sqrt(diff) / Math.max(Math.max(Math.sqrt(norm), floorPerElement * Math.sqrt(got.length)), 1e-12);
    }

    static double maxAbsDifference(float[] a, float[] b) {
        double max = 0;
        for (int i = 0; i < a.length; i++) max = Math.max(max, Math.abs((double) a[i] - b[i]));
        return max;
    }
}
