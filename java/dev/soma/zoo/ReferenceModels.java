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

    /** The MLP GAN's generator: noise -> 256 -> 256 -> {@code pixels}, leaky relu 0.2 hidden, tanh output. */
    public static Sequential ganGenerator(int pixels) {
        return new Sequential(new Dense(256, "leaky_relu"), new Dense(256, "leaky_relu"), new Dense(pixels, "tanh"));
    }

    /** The MLP GAN's discriminator: pixels -> 256 -> 256 -> 1, leaky relu 0.2 hidden, sigmoid output. */
    public static Sequential ganDiscriminator() {
        return new Sequential(new Flatten(), new Dense(256, "leaky_relu"), new Dense(256, "leaky_relu"),
                new Dense(1, "sigmoid"));
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
