#!/usr/bin/env python3
"""Summarises ncu --csv --page raw logs (metric gpu__time_duration.sum) of N training steps: GPU time and kernels
per step, and the largest kernels by name, for Soma and PyTorch side by side.
Usage: ncu_summary.py FAMILY STEPS SOMA_CSV TORCH_CSV"""
import collections
import csv
import sys

TOP = 12


def kernels(path):
    """(name, ns) per kernel launch; ncu's own lines (==PROF== ...) before the CSV are skipped."""
    try:
        with open(path, newline="") as f:
            rows = [line for line in f if line.startswith('"')]
    except OSError as e:
        return None, str(e)
    if not rows:
        return None, "no kernels recorded"
    reader = csv.reader(rows)
    header = next(reader)
    try:
        name_col = header.index("Kernel Name")
        time_col = header.index("gpu__time_duration.sum")
    except ValueError:
        return None, "unexpected header: " + ", ".join(header[:12])
    out, scale = [], 1.0
    for row in reader:
        value = row[time_col].replace(",", "")
        try:
            ns = float(value)
        except ValueError:  # the units row
            unit = value.strip().lower()
            scale = {"nsecond": 1.0, "ns": 1.0, "usecond": 1e3, "us": 1e3, "msecond": 1e6, "ms": 1e6}.get(unit, 1.0)
            continue
        out.append((row[name_col], ns * scale))
    return out, None


def report(label, family, steps, path):
    ks, error = kernels(path)
    if ks is None:
        print(f"NCU {family:<5} {label:<5} ({error})")
        return
    total = sum(ns for _, ns in ks)
    print(f"NCU {family:<5} {label:<5} GPU {total / steps / 1e6:7.3f} ms/step in {len(ks) / steps:6.1f} kernels/step")
    by_name = collections.defaultdict(lambda: [0, 0.0])
    for name, ns in ks:
        by_name[name][0] += 1
        by_name[name][1] += ns
    for name, (count, ns) in sorted(by_name.items(), key=lambda kv: -kv[1][1])[:TOP]:
        short = name if len(name) <= 70 else name[:67] + "..."
        print(f"NCU {family:<5} {label:<5}   {ns / steps / 1e3:8.1f} us {count / steps:5.1f}x  {short}")


def main():
    family, steps = sys.argv[1], int(sys.argv[2])
    report("soma", family, steps, sys.argv[3])
    report("torch", family, steps, sys.argv[4])


if __name__ == "__main__":
    main()
