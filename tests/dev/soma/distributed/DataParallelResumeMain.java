package dev.soma.distributed;

import dev.soma.memory.Scope;
import dev.soma.model.Callback;
import dev.soma.model.FitOptions;
import dev.soma.model.Model;
import dev.soma.model.ModelCheckpoint;
import dev.soma.model.Sequential;
import dev.soma.tensor.DType;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * One rank of DataParallelTest's kill-and-resume job: trains the f32 CNN case data-parallel for {@link #EPOCHS}
 * epochs with a checkpoint after every epoch (rank 0 writes it). Arguments: the output folder, then "die" (rank 1
 * halts in the middle of epoch 2, as a crashed node would: no exception, no MPI_Finalize), "hang" (rank 1 stops
 * taking part but stays alive, so only the other rank's bounded wait can end the job) or "resume" (every rank
 * resumes from the checkpoint and rank 0 writes the final weights to resumed.bin). An optional third argument, a
 * device ("cuda:0"), trains there (GpuNcclDataParallelTest: with SOMA_GPU_COLLECTIVES=nccl).
 */
public final class DataParallelResumeMain {
    static final int EPOCHS = 3;

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args[0]);
        boolean die = args[1].equals("die") || args[1].equals("hang");
        boolean hang = args[1].equals("hang");
        Mpi mpi = Mpi.world();
        Path checkpoint = out.resolve("cnn.safetensors");
        try (Scope s = Scope.open(); Sequential m = EquivalenceCases.model("cnn", DType.F32, 100 + mpi.rank())) {
            if (args.length > 2) m.to(dev.soma.tensor.Device.parse(args[2]));
            FitOptions options = EquivalenceCases.options(EquivalenceCases.BATCH_PER_RANK, true).epochs(EPOCHS)
                    .callbacks(new ModelCheckpoint(checkpoint));
            if (die) {
                options.callbacks(new Callback() {
                    @Override
                    public void onBatchEnd(Model model, int batch, Map<String, Double> logs) {
                        if (mpi.rank() == 1 && model.completedEpochs() == 2 && batch == 1) {
                            System.out.println("rank 1: " + (hang ? "hanging" : "halting") + " in epoch 2");
                            System.out.flush();
                            if (!hang) Runtime.getRuntime().halt(9);
                            try {
                                Thread.sleep(600_000); // alive but gone from the collectives (a stuck node)
                            } catch (InterruptedException e) {
                                Thread.currentThread().interrupt();
                            }
                        }
                    }
                });
            } else {
                options.resumeFrom(checkpoint);
            }
            m.fit(EquivalenceCases.data("cnn"), options);
            if (mpi.rank() == 0) {
                EquivalenceCases.writeWeights(m, out.resolve(die ? "unexpected.bin" : "resumed.bin"));
                Files.writeString(out.resolve("resumed-history.txt"), m.history().get("loss").toString());
            }
        }
        mpi.finish();
    }
}
