package dev.soma.zoo;

import dev.soma.model.Sequential;
import dev.soma.nn.Bidirectional;
import dev.soma.nn.BatchNormalization;
import dev.soma.nn.Conv2D;
import dev.soma.nn.Conv2DTranspose;
import dev.soma.nn.LeakyReLU;
import dev.soma.nn.Reshape;
import dev.soma.nn.DaleDense;
import dev.soma.nn.Dense;
import dev.soma.nn.Embedding;
import dev.soma.nn.GRU;
import dev.soma.nn.LSTM;
import dev.soma.nn.Layer;
import dev.soma.nn.Dropout;
import dev.soma.nn.Flatten;
import dev.soma.nn.GlobalAveragePooling1D;
import dev.soma.nn.LayerNormalization;
import dev.soma.nn.TokenAndPositionEmbedding;
import dev.soma.nn.TransformerEncoder;
import dev.soma.nn.MaxPooling2D;

import java.util.List;

/** The reference architectures that the CLI trains and benchmarks, by name. */
public final class ReferenceModels {
    private ReferenceModels() {}

    public static List<String> names() {
        return List.of("cnn", "mlp", "dale", "dpcnn");
    }

    /** The MLP GAN's generator: noise -> 256 -> 256 -> {@code pixels}, leaky relu 0.2 hidden, tanh output. */
    public static Sequential ganGenerator(int pixels) {
        return ganGenerator(256, pixels);
    }

    /** The MLP GAN's generator with hidden layers of {@code hidden} units (256 in the reference model). */
    public static Sequential ganGenerator(int hidden, int pixels) {
        return new Sequential(new Dense(hidden, "leaky_relu"), new Dense(hidden, "leaky_relu"), new Dense(pixels, "tanh"));
    }

    /** The MLP GAN's discriminator: pixels -> 256 -> 256 -> 1, leaky relu 0.2 hidden, sigmoid output. */
    public static Sequential ganDiscriminator() {
        return ganDiscriminator(256);
    }

    /** The MLP GAN's discriminator with hidden layers of {@code hidden} units (256 in the reference model). */
    public static Sequential ganDiscriminator(int hidden) {
        return new Sequential(new Flatten(), new Dense(hidden, "leaky_relu"), new Dense(hidden, "leaky_relu"),
                new Dense(1, "sigmoid"));
    }

    /**
     * DCGAN generator for 28x28x1 images (tanh): z -> Dense 7*7*128 -> BatchNorm -> LeakyReLU 0.2 -> Reshape 7x7x128 ->
     * Conv2DTranspose 64 4x4 /2 same -> BatchNorm -> LeakyReLU 0.2 -> Conv2DTranspose 1 4x4 /2 same tanh.
     */
    public static Sequential dcganGenerator() {
        return new Sequential(new Dense(7 * 7 * 128), new BatchNormalization(), new LeakyReLU(0.2), new Reshape(7, 7, 128),
                new Conv2DTranspose(64, 4).strides(2).padding("same"), new BatchNormalization(), new LeakyReLU(0.2),
                new Conv2DTranspose(1, 4, "tanh").strides(2).padding("same"));
    }

    /**
     * DCGAN discriminator for 28x28x1 images: Conv2D 64 4x4 /2 same -> LeakyReLU 0.2 -> Conv2D 128 4x4 /2 same ->
     * LeakyReLU 0.2 -> Flatten -> Dense 1 sigmoid.
     */
    public static Sequential dcganDiscriminator() {
        return new Sequential(new Conv2D(64, 4).strides(2).padding("same"), new LeakyReLU(0.2),
                new Conv2D(128, 4).strides(2).padding("same"), new LeakyReLU(0.2), new Flatten(), new Dense(1, "sigmoid"));
    }

    /** A fresh, unbuilt model for 28x28x1 images and {@code classes} classes. */
    public static Sequential imageClassifier(String name, int classes) {
        return switch (name) {
            // The CNN issue's model (and ../shared/peers' cnn): Conv2D 32 3x3 same relu -> Conv2D 64 3x3 same relu
            // -> MaxPool 2 -> Flatten -> Dense 128 relu -> Dropout 0.5 -> Dense softmax.
            case "cnn" -> cnn(3, 32, 64, 2, 128, classes);
            // Flatten -> Dense 128 relu -> Dropout 0.2 -> Dense softmax: the Keras beginner's MNIST model.
            case "mlp" -> new Sequential(new Flatten(), new Dense(128, "relu"), new Dropout(0.2),
                    new Dense(classes, "softmax"));
            // The mlp with Dale's principle: the same sizes, every Dense a DaleDense (10 % interneurons).
            case "dale" -> daleClassifier(classes, 0.9, true);
            // A small DP-friendly CNN (Tramer & Boneh 2021, "Differentially private learning needs better features",
            // their end-to-end MNIST CNN; 26 k parameters, tanh): Conv2D 16 8x8 /2 same tanh -> MaxPool 2 /1 ->
            // Conv2D 32 4x4 /2 valid tanh -> MaxPool 2 /1 -> Flatten -> Dense 32 tanh -> Dense softmax. For contrast
            // with cnn under DP-SGD (docs/privacy.md), where the noise lands on every one of cnn's 1.6 M parameters.
            case "dpcnn" -> new Sequential(new Conv2D(16, 8, "tanh").strides(2).padding("same"), new MaxPooling2D(2).strides(1),
                    new Conv2D(32, 4, "tanh").strides(2), new MaxPooling2D(2).strides(1), new Flatten(),
                    new Dense(32, "tanh"), new Dense(classes, "softmax"));
            default -> throw new IllegalArgumentException("unknown model '" + name + "': expected one of " + names());
        };
    }

    /**
     * The reference CNN's architecture with other sizes (the reference: kernel 3, filters 32 and 64, pool 2, dense
     * 128): Conv2D filters1 kxk same relu -> Conv2D filters2 kxk same relu -> MaxPool pool -> Flatten -> Dense dense
     * relu -> Dropout 0.5 -> Dense classes softmax.
     */
    public static Sequential cnn(int kernel, int filters1, int filters2, int pool, int dense, int classes) {
        return new Sequential(new Conv2D(filters1, kernel, "relu").padding("same"),
                new Conv2D(filters2, kernel, "relu").padding("same"), new MaxPooling2D(pool), new Flatten(),
                new Dense(dense, "relu"), new Dropout(0.5), new Dense(classes, "softmax"));
    }

    /**
     * The mlp with Dale's principle: the same layer sizes, every Dense a {@link DaleDense} with excitatory share
     * {@code share} (0.9: the paper's 10 % interneurons), with divisive inhibition in the hidden layer when asked
     * ("dale" has it: on MNIST it closes most of the gap to the mlp, see docs/dale.md).
     */
    public static Sequential daleClassifier(int classes, double share, boolean divisive) {
        return new Sequential(new Flatten(), new DaleDense(128, "relu").excitatoryShare(share).divisive(divisive),
                new Dropout(0.2), new DaleDense(classes, "softmax").excitatoryShare(share));
    }

    /** The sequence classifiers (ids [steps] -> one probability): lstm, bilstm, gru, transformer. */
    public static List<String> textNames() {
        return List.of("lstm", "bilstm", "gru", "transformer");
    }

    /**
     * A fresh binary text classifier over ids {@code [maxLength]} from a vocabulary of {@code vocab} ids (0 = padding):
     * Embedding 64 (mask_zero: padding is masked) -> a recurrent layer of 64 units -> Dense 1 sigmoid, or the small
     * transformer encoder below (mask_zero too: its blocks do not attend to padding, its mean skips it).
     */
    public static Sequential textClassifier(String name, int vocab, int maxLength) {
        return switch (name) {
            // Token + position embedding 64 -> one pre-norm encoder block (4 heads, feed-forward 128) -> LayerNorm
            // -> mean over time -> Dense 1 sigmoid.
            case "transformer" -> new Sequential(new TokenAndPositionEmbedding(vocab, maxLength, 64, false, true),
                    new TransformerEncoder(4, 128, 0.1), new LayerNormalization(), new GlobalAveragePooling1D(),
                    new Dense(1, "sigmoid"));
            case "lstm" -> new Sequential(new Embedding(vocab, 64, true), new LSTM(64), new Dense(1, "sigmoid"));
            case "bilstm" -> new Sequential(new Embedding(vocab, 64, true), new Bidirectional(new LSTM(64), new LSTM(64)),
                    new Dense(1, "sigmoid"));
            case "gru" -> new Sequential(new Embedding(vocab, 64, true), new GRU(64), new Dense(1, "sigmoid"));
            default -> throw new IllegalArgumentException("unknown text model '" + name + "': expected one of " + textNames());
        };
    }

    /**
     * The sequence-labelling benchmark model of ../shared/peers (PtBench lstm): ids [steps] from a vocabulary of
     * {@code vocab} -> Embedding 64 -> LSTM 128 (every step) -> Dense {@code classes} softmax at every step.
     */
    public static Sequential sequenceTagger(int vocab, int classes) {
        return sequenceTagger(vocab, 64, 128, false, classes);
    }

    /** The sequence tagger with other sizes, and a GRU (reset_after, as cuDNN and PyTorch) in place of the LSTM. */
    public static Sequential sequenceTagger(int vocab, int embed, int hidden, boolean gru, int classes) {
        Layer recurrent = gru ? new GRU(hidden).returnSequences(true) : new LSTM(hidden).returnSequences(true);
        return new Sequential(new Embedding(vocab, embed), recurrent, new Dense(classes, "softmax"));
    }
}
