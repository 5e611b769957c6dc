package dev.soma.bench;

/** The options RecurrentBench and DnnlLstmBench share: repetitions and the layer (defaults: the peers' lstm). */
record LstmBenchArgs(int reps, int t, int n, int f, int h) {
    static LstmBenchArgs parse(String[] args) {
        int reps = 50, t = 100, n = 32, f = 64, h = 128;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--reps" -> reps = Integer.parseInt(args[++i]);
                case "--t" -> t = Integer.parseInt(args[++i]);
                case "--n" -> n = Integer.parseInt(args[++i]);
                case "--f" -> f = Integer.parseInt(args[++i]);
                case "--h" -> h = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        return new LstmBenchArgs(reps, t, n, f, h);
    }

    String describe() {
        return "lstm T=" + t + " N=" + n + " " + f + "->" + h + " threads=" + System.getenv().getOrDefault("OMP_NUM_THREADS", "?");
    }
}
