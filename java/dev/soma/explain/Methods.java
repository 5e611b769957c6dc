package dev.soma.explain;

import java.util.List;

/** The attribution methods by their CLI names, with default settings. */
public final class Methods {
    public static final List<String> NAMES = List.of("saliency", "gxi", "ig", "smoothgrad", "occlusion");

    private Methods() {}

    /** One method by name, or every method for "all"; unknown names fail with the list of known ones. */
    public static List<String> expand(String name) {
        if (name.equals("all")) return NAMES;
        if (NAMES.contains(name)) return List.of(name);
        throw new IllegalArgumentException("unknown attribution method '" + name + "': expected one of "
                + String.join(", ", NAMES) + " or all");
    }

    public static AttributionMethod byName(String name) {
        return switch (name) {
            case "saliency" -> new Saliency();
            case "gxi" -> new GradientTimesInput();
            case "ig" -> new IntegratedGradients();
            case "smoothgrad" -> new SmoothGrad();
            case "occlusion" -> new Occlusion();
            default -> throw new IllegalArgumentException("unknown attribution method '" + name + "': expected one of "
                    + String.join(", ", NAMES) + " or all");
        };
    }
}
