package dev.soma.cli;

import dev.soma.model.Checkpoint;
import dev.soma.model.Sequential;
import dev.soma.tensor.Device;
import dev.soma.text.CharModelInfo;
import dev.soma.text.TextSampler;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code soma generate --checkpoint runs/charlm-lstm-kjv --prompt "In the beginning" --temperature 0.8 --seed 1}:
 * samples text from a character language model trained by {@code soma train charlm}.
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Sample text from a character language model trained with 'soma train charlm'.")
final class GenerateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--checkpoint", required = true,
            description = "the model's checkpoint, or its run folder (holding model.safetensors and charlm.json)")
    Path checkpoint;

    @Option(names = "--prompt", defaultValue = "In the beginning", description = "text to continue (default: ${DEFAULT-VALUE})")
    String prompt;

    @Option(names = "--length", defaultValue = "500", description = "characters to generate (default ${DEFAULT-VALUE})")
    int length;

    @Option(names = "--temperature", defaultValue = "0.8",
            description = "below 1 sharpens the distribution, above 1 flattens it, 0 always takes the most likely "
                    + "character (greedy; the seed then does not matter) (default ${DEFAULT-VALUE})")
    double temperature;

    @Option(names = "--seed", defaultValue = "1", description = "the same seed gives the same text")
    long seed;

    @Mixin
    DeviceOption deviceOption = new DeviceOption();

    @Override
    public Integer call() throws Exception {
        if (length < 0 || length > 1_000_000) {
            throw new IllegalArgumentException("generate: --length must be in 0..1000000, got " + length);
        }
        Device device = deviceOption.resolve();
        Path file = CheckpointFiles.fileOrFolder(checkpoint, "model.safetensors");
        Path infoFile = file.toAbsolutePath().getParent().resolve(CharModelInfo.FILE_NAME);
        if (!Files.isRegularFile(infoFile)) {
            throw new IllegalArgumentException("no " + CharModelInfo.FILE_NAME + " next to " + file
                    + "; expected a character language model's run folder, as 'soma train charlm' writes");
        }
        CharModelInfo info = CharModelInfo.load(infoFile);
        PrintWriter console = spec.commandLine().getOut();
        try (Sequential m = Checkpoint.load(file, device)) {
            console.println(new TextSampler(m, info.vocabulary(), info.context()).generate(prompt, length, temperature, seed));
        }
        console.flush();
        return 0;
    }
}
