package dev.soma.reliability;

import dev.soma.model.Sequential;
import dev.soma.nn.Dense;
import dev.soma.nn.Param;
import dev.soma.optim.SGD;

import java.nio.file.Path;

/**
 * The child process of {@link CrashSafetyTest}: writes checkpoint {@code step, step + 1, ...} to one file until
 * killed. In checkpoint k every weight equals k and the optimizer's iteration count is k, so a reader can tell a
 * complete file of step k from anything else. Prints "ready", then "saving k" before and "saved k" after each write.
 * Arguments: file, first step.
 */
public final class CheckpointWriterMain {
    public static void main(String[] args) throws Exception {
        Path file = Path.of(args[0]);
        long step = Long.parseLong(args[1]);
        try (Sequential m = new Sequential(new Dense(512, "relu"), new Dense(10, "softmax"))) {
            m.seed(1).build(784);                       // 407k parameters: a 1.6 MB file
            m.compile(new SGD(0.1), "sparse_categorical_crossentropy");
            System.out.println("ready");
            System.out.flush();
            for (; ; step++) {
                for (Param p : m.params()) p.value().backend().memory().fill(p.value(), step);
                m.optimizer().setIterations(step);
                System.out.println("saving " + step);
                System.out.flush();
                m.save(file);
                System.out.println("saved " + step);
                System.out.flush();
            }
        }
    }
}
