package dev.soma.backend;

import dev.soma.testing.TemporaryProperties;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The split tuner's decisions on synthetic unit costs: a recording switch stands for the native one, so the test
 * sees which way each unit ran and that every unit hands the switch back.
 */
class SplitTunerTest {
    /** The native switch's stand-in: the calling thread's setting, and every value set. */
    private static final class Switch implements java.util.function.IntUnaryOperator {
        int setting;
        final List<Integer> set = new ArrayList<>();

        @Override
        public int applyAsInt(int on) {
            int before = setting;
            if (on >= 0) {
                setting = on;
                set.add(on);
            }
            return before;
        }
    }

    interface Cost {
        double of(int unit, boolean oneThread);
    }

    /** Runs units like ThreadTuner.run: begin, the unit (cost), end, restore. Returns the units run on one thread. */
    private static int drive(SplitTuner t, Switch sw, int from, int units, Cost cost) {
        int onOne = 0;
        for (int i = from; i < from + units; i++) {
            int before = t.begin(true);
            boolean one = sw.setting == 1;
            if (one) onOne++;
            double jitter = 1 + 0.02 * ((i * 7919) % 11 - 5) / 5.0;
            t.end(cost.of(i, one) * jitter);
            t.restore(before);
            assertEquals(0, sw.setting, "the switch is handed back after unit " + i);
        }
        return onOne;
    }

    private static SplitTuner measured(Switch sw) {
        return new SplitTuner(SplitTuner.Policy.MEASURED, () -> 0, sw);
    }

    private static final int TRIAL = SplitTuner.BLOCKS * SplitTuner.BLOCK;
    private static final int EARLY = 2 * SplitTuner.BLOCK;
    private static final int CONFIRM = (int) SplitTuner.CONFIRM_PERIOD;

    @Test
    void runsTheWarmUpOnTheTeamThenATrialInBlocks() {
        Switch sw = new Switch();
        SplitTuner t = measured(sw);
        List<Boolean> ways = new ArrayList<>();
        for (int i = 0; i < SplitTuner.WARMUP + TRIAL; i++) {
            int before = t.begin(true);
            ways.add(sw.setting == 1);
            t.end(10);
            t.restore(before);
        }
        for (int i = 0; i < SplitTuner.WARMUP; i++) assertFalse(ways.get(i), "warm-up unit " + i);
        String order = "";
        for (int b = 0; b < SplitTuner.BLOCKS; b++) {
            boolean first = ways.get(SplitTuner.WARMUP + b * SplitTuner.BLOCK);
            for (int u = 1; u < SplitTuner.BLOCK; u++) {
                assertEquals(first, ways.get(SplitTuner.WARMUP + b * SplitTuner.BLOCK + u), "block " + b + " is one way");
            }
            order += first ? "O" : "T";
        }
        assertEquals("TOOTTOOT", order);
        assertEquals(1, t.trials());
        assertFalse(t.oneThread(), "equal costs keep the team");
    }

    @Test
    void choosesOneThreadWhenItsUnitsAreClearlyFasterInTwoTrials() {
        Switch sw = new Switch();
        SplitTuner t = measured(sw);
        // 15 % faster and no unit overlapping: each trial ends after its first two blocks
        drive(t, sw, 0, SplitTuner.WARMUP + EARLY, (i, one) -> one ? 8.5 : 10);
        assertEquals(1, t.trials());
        assertFalse(t.oneThread(), "one trial does not switch");
        drive(t, sw, 0, CONFIRM + EARLY, (i, one) -> one ? 8.5 : 10);
        assertEquals(2, t.trials());
        assertTrue(t.oneThread(), "the second trial confirms");
        assertEquals(1, t.switches());
        int onOne = drive(t, sw, 0, 400, (i, one) -> one ? 8.5 : 10);
        assertEquals(400, onOne, "no trial is due yet: every unit runs on one thread");
    }

    @Test
    void aSwitchThatTheNextTrialDoesNotConfirmIsDropped() {
        Switch sw = new Switch();
        SplitTuner t = measured(sw);
        drive(t, sw, 0, SplitTuner.WARMUP + EARLY, (i, one) -> one ? 8.5 : 10);
        drive(t, sw, 0, CONFIRM + TRIAL, (i, one) -> 10);
        assertEquals(2, t.trials());
        assertFalse(t.oneThread());
        assertEquals(0, t.switches());
    }

    @Test
    void aLargeDifferenceEndsTheTrialAfterTwoBlocks() {
        for (boolean oneFaster : new boolean[] {true, false}) {
            Switch sw = new Switch();
            SplitTuner t = measured(sw);
            Cost cost = (i, one) -> one == oneFaster ? 10 : 12;
            int onOne = drive(t, sw, 0, SplitTuner.WARMUP + EARLY, cost);
            assertEquals(1, t.trials(), "decided after the first two blocks");
            assertEquals(SplitTuner.BLOCK, onOne, "one block ran on one thread");
            drive(t, sw, 0, CONFIRM + EARLY, cost);
            assertEquals(oneFaster, t.oneThread());
        }
    }

    @Test
    void aSpikeAmongTheFasterUnitsKeepsTheTrialGoing() {
        // One thread is 20 % faster, but one of its units in the first blocks took long: the blocks do not separate.
        Switch sw = new Switch();
        SplitTuner t = measured(sw);
        int spike = SplitTuner.WARMUP + SplitTuner.BLOCK + 2;
        drive(t, sw, 0, SplitTuner.WARMUP + EARLY, (i, one) -> i == spike ? 50 : one ? 8 : 10);
        assertEquals(0, t.trials(), "the trial goes on");
        drive(t, sw, SplitTuner.WARMUP + EARLY, TRIAL - EARLY, (i, one) -> one ? 8 : 10);
        assertEquals(1, t.trials());
    }

    @Test
    void keepsTheTeamWhenOneThreadIsNotClearlyFaster() {
        // 1 % faster is within the margin: the team stays (it is the rule the results were measured with before)
        Switch sw = new Switch();
        SplitTuner t = measured(sw);
        drive(t, sw, 0, SplitTuner.WARMUP + TRIAL, (i, one) -> one ? 9.9 : 10);
        assertFalse(t.oneThread());
        assertEquals(0, t.switches());
    }

    @Test
    void aFewSlowUnitsDoNotDecide() {
        // Every fourth team unit is a spike (a host interrupt): the medians still say the team is faster.
        Switch sw = new Switch();
        SplitTuner t = measured(sw);
        drive(t, sw, 0, SplitTuner.WARMUP + TRIAL, (i, one) -> one ? 12 : (i % 4 == 0 ? 50 : 10));
        assertFalse(t.oneThread());
    }

    @Test
    void followsACostThatChangesAtTheNextTrials() {
        Switch sw = new Switch();
        SplitTuner t = measured(sw);
        Cost before = (i, one) -> one ? 8 : 10;
        drive(t, sw, 0, SplitTuner.WARMUP + EARLY + CONFIRM + EARLY, before);
        assertTrue(t.oneThread());
        // from now the team is faster (say, a larger batch): the next trial comes FIRST_PERIOD units after the switch
        Cost after = (i, one) -> one ? 14 : 10;
        drive(t, sw, 0, (int) SplitTuner.FIRST_PERIOD + EARLY + CONFIRM + EARLY, after);
        assertFalse(t.oneThread());
        assertEquals(2, t.switches());
        assertEquals(4, t.trials());
    }

    @Test
    void trialsGrowRarerWhileTheChoiceHolds() {
        Switch sw = new Switch();
        SplitTuner t = measured(sw);
        int units = SplitTuner.WARMUP + TRIAL;
        // one thread 5 % slower: not clear after two blocks, so every trial runs all its blocks
        drive(t, sw, 0, units, (i, one) -> one ? 10.5 : 10);
        // gaps 1024, 2048, 4096, 8192, 8192 after the first trial (512 comes only after a switch)
        long gaps = 1024 + 2048 + 4096 + 8192 + 8192;
        drive(t, sw, 0, (int) gaps + 5 * TRIAL, (i, one) -> one ? 10.5 : 10);
        assertEquals(6, t.trials());
        assertEquals(0, t.switches());
    }

    @Test
    void unitsDuringJvmWorkAreNotTimed() {
        // Every unit overlaps a compilation: no trial can decide, and the choice stays as it was.
        long[] ticks = {0};
        Switch sw = new Switch();
        SplitTuner t = new SplitTuner(SplitTuner.Policy.MEASURED, () -> ticks[0]++, sw);
        drive(t, sw, 0, SplitTuner.WARMUP + TRIAL, (i, one) -> one ? 5 : 10);
        assertEquals(1, t.trials());
        assertFalse(t.oneThread(), "nothing was measured");
    }

    @Test
    void untimedUnitsKeepTheChoiceAndDoNotAdvanceATrial() {
        Switch sw = new Switch();
        SplitTuner t = measured(sw);
        drive(t, sw, 0, SplitTuner.WARMUP + EARLY + CONFIRM + EARLY, (i, one) -> one ? 8.5 : 10);
        assertTrue(t.oneThread());
        for (int i = 0; i < 10_000; i++) {
            int before = t.begin(false); // ThreadTuner probing another count, or a team of one
            assertEquals(1, sw.setting, "the choice in force");
            t.end(100);
            t.restore(before);
        }
        assertEquals(2, t.trials(), "untimed units start no trial");
    }

    @Test
    void aTrialWhoseLastUnitThrewStillDecides() {
        // 5 % faster on one thread: not clear after two blocks, so the trial runs all of them
        Switch sw = new Switch();
        SplitTuner t = measured(sw);
        drive(t, sw, 0, SplitTuner.WARMUP + TRIAL - 1, (i, one) -> one ? 9.5 : 10);
        assertEquals(0, t.trials());
        int before = t.begin(true); // the trial's last unit throws: no end()
        t.restore(before);
        before = t.begin(true);
        t.end(9.5);
        t.restore(before);
        assertEquals(1, t.trials());
        drive(t, sw, 0, CONFIRM + TRIAL, (i, one) -> one ? 9.5 : 10);
        assertEquals(2, t.trials());
        assertTrue(t.oneThread());
    }

    @Test
    void fixedPoliciesNeverMeasure() {
        for (SplitTuner.Policy p : new SplitTuner.Policy[] {SplitTuner.Policy.TEAM, SplitTuner.Policy.ONE}) {
            Switch sw = new Switch();
            SplitTuner t = new SplitTuner(p, () -> 0, sw);
            boolean one = p == SplitTuner.Policy.ONE;
            for (int i = 0; i < 5000; i++) {
                int before = t.begin(true);
                assertEquals(one ? 1 : 0, sw.setting, p + " unit " + i);
                t.end(one ? 100 : 1); // costs that would make a measuring tuner switch
                t.restore(before);
            }
            assertEquals(0, t.trials(), p.toString());
            assertEquals(one, t.oneThread());
        }
    }

    @Test
    void policyComesFromTheProperty() {
        try (TemporaryProperties p = new TemporaryProperties()) {
            p.clear(SplitTuner.PROPERTY);
            assertEquals(SplitTuner.Policy.MEASURED, SplitTuner.policy());
            p.set(SplitTuner.PROPERTY, "false");
            assertEquals(SplitTuner.Policy.TEAM, SplitTuner.policy());
            p.set(SplitTuner.PROPERTY, "one");
            assertEquals(SplitTuner.Policy.ONE, SplitTuner.policy());
            p.set(SplitTuner.PROPERTY, "flase");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, SplitTuner::policy);
            assertTrue(e.getMessage().contains("soma.cpu.splitTuner=flase") && e.getMessage().contains("expected"),
                    e.getMessage());
        }
    }
}
