package dev.soma.backend;

/** Seeded random number generation (counter-based, so CPU and GPU agree). */
public interface RandomKernels {
}
