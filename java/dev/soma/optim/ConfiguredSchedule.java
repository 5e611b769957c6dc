package dev.soma.optim;

import java.util.Collections;
import java.util.Map;

/** A built-in schedule with the kind and arguments it was made from, so checkpoints can store it. */
final class ConfiguredSchedule implements LearningRateSchedule {
    private final Map<String, Object> config;
    private final LearningRateSchedule rule;

    ConfiguredSchedule(Map<String, Object> config, LearningRateSchedule rule) {
        this.config = Collections.unmodifiableMap(config);
        this.rule = rule;
    }

    @Override
    public double at(long step) {
        return rule.at(step);
    }

    @Override
    public Map<String, Object> config() {
        return config;
    }
}
