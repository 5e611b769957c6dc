package dev.soma.cli;

import dev.soma.model.Model;
import dev.soma.nn.DaleDense;
import dev.soma.nn.Layer;
import dev.soma.util.WeightHistograms;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** {@code soma train dale}: the histograms of every DaleDense layer's W_EE, W_IE and W_EI (all >= 0). */
final class DaleSignPlot {
    private DaleSignPlot() {}

    /** Writes the PNG and returns the smallest constrained weight seen (>= 0 when Dale's principle held). */
    static double write(Path png, Model model) throws IOException {
        List<Map<String, double[]>> rows = new ArrayList<>();
        double min = Double.POSITIVE_INFINITY;
        for (Layer l : model.layers()) {
            if (!(l instanceof DaleDense d)) continue;
            Map<String, double[]> row = WeightHistograms.row();
            row.put(d.name() + " W_EE", d.wEE().toDoubleArray());
            row.put(d.name() + " W_IE", d.wIE().toDoubleArray());
            row.put(d.name() + " W_EI", d.wEI().toDoubleArray());
            for (double[] v : row.values()) for (double x : v) min = Math.min(min, x);
            rows.add(row);
        }
        if (rows.isEmpty()) throw new IllegalArgumentException("DaleSignPlot: the model has no DaleDense layer");
        WeightHistograms.write(png, rows);
        return min;
    }
}
