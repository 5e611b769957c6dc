package dev.soma.zoo;

import dev.soma.model.Sequential;
import dev.soma.nn.Dense;
import dev.soma.nn.Dropout;
import dev.soma.nn.Flatten;

import java.util.List;

/** The reference architectures that the CLI trains and benchmarks, by name. */
public final class ReferenceModels {
    private ReferenceModels() {}

    public static List<String> names() {
        return List.of("mlp");
    }

    /** A fresh, unbuilt model for 28x28x1 images and {@code classes} classes. */
    public static Sequential imageClassifier(String name, int classes) {
        return switch (name) {
            // Flatten -> Dense 128 relu -> Dropout 0.2 -> Dense softmax: the Keras beginner's MNIST model.
            case "mlp" -> new Sequential(new Flatten(), new Dense(128, "relu"), new Dropout(0.2),
                    new Dense(classes, "softmax"));
            default -> throw new IllegalArgumentException("unknown model '" + name + "': expected one of " + names());
        };
    }
}
