// The steps one rank takes in a recursive-doubling all-reduce (the small-message algorithm of MPICH and of Open
// MPI's coll/tuned): in round k every rank exchanges its whole buffer with the rank 2^k away and adds what it got,
// so after log2(p) rounds every rank holds the sum. A world whose size p is not a power of two first folds its
// 2r extra ranks (r = p - the largest power of two below p) pairwise: each even one of them hands its buffer to the
// odd one above it and waits out the rounds for the result.
//
// Every rank ends with the same bits: in each round the two partners add the same two partial sums, only in swapped
// order, and IEEE addition is commutative; the folded ranks receive a copy. Pure arithmetic on ranks, so
// soma_mpi_recursive_doubling_plan exposes it for a test that runs the plan for many world sizes without MPI.
#pragma once

namespace soma_mpi {

// The tags are phases, the same on both sides of every message: the fold is phase 0, round k is phase k + 1, the
// sum handed back to a folded rank is phase log2(p) + 1 (so a folded rank receives under another tag than it sends).
struct RdStep {
    int send_to;    // the rank this step sends the buffer to, or -1
    int send_tag;
    int recv_from;  // the rank it receives from, or -1
    int recv_tag;
    bool add;       // received values are added into the buffer (a round, or the fold); else they replace it
};

// Writes rank's steps (at most max_steps; log2(p) + 2 suffice) and returns how many, or -1 for bad arguments or
// too few max_steps.
inline int recursive_doubling_plan(int rank, int size, RdStep* steps, int max_steps) {
    if (size < 1 || rank < 0 || rank >= size) return -1;
    int pof2 = 1, rounds = 0;
    while (pof2 * 2 <= size) {
        pof2 *= 2;
        rounds++;
    }
    int extra = size - pof2;
    int back = rounds + 1;  // the phase of the sum handed back to a folded rank
    int n = 0;
    auto push = [&](RdStep st) {
        if (n < max_steps) steps[n] = st;
        n++;
    };
    int inner;  // this rank's place among the pof2 ranks of the rounds, or -1 when it is folded away
    if (rank < 2 * extra) {
        if (rank % 2 == 0) {
            push(RdStep{rank + 1, 0, rank + 1, back, false});  // hand the buffer over, then wait for the sum
            inner = -1;
        } else {
            push(RdStep{-1, 0, rank - 1, 0, true});
            inner = rank / 2;
        }
    } else {
        inner = rank - extra;
    }
    if (inner >= 0) {
        for (int k = 0; k < rounds; k++) {
            int partner_inner = inner ^ (1 << k);
            int partner = partner_inner < extra ? 2 * partner_inner + 1 : partner_inner + extra;
            push(RdStep{partner, k + 1, partner, k + 1, true});
        }
        if (rank < 2 * extra) push(RdStep{rank - 1, back, -1, 0, false});  // the sum back to the folded rank
    }
    return n <= max_steps ? n : -1;
}

}  // namespace soma_mpi
