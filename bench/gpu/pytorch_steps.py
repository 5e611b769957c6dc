#!/usr/bin/env python3
"""PyTorch eager training steps on cuda:0 for the five families of Soma's CudaStepBenchTest (same models, batch 32,
Adam, data copied from pinned host memory every step as Soma's trainStep does, the loss read back every step as
Soma's trainStep does). Prints "TORCH family median-ms" lines for bench/gpu/check.sh; one line per family.
Environment (bench/gpu/ncu-steps.sh): SOMA_TORCH_FAMILIES=cnn,lstm runs only those; SOMA_PROFILER_STEPS=N runs N
more steps of each inside a CUDA profiler range (for ncu --profile-from-start off)."""
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH, WARMUP, STEPS = 32, 500, 300  # as CudaStepBenchTest (steady steps: the JVM compiles during its first ones)
FAMILIES = [f for f in os.environ.get("SOMA_TORCH_FAMILIES", "cnn,lstm,attn,gan,dcgan").split(",") if f]
PROFILER_STEPS = int(os.environ.get("SOMA_PROFILER_STEPS", "0"))
dev = torch.device("cuda:0")
torch.backends.cuda.matmul.allow_tf32 = False  # Soma computes f32 products in full f32
torch.backends.cudnn.allow_tf32 = False


def timed(name, step):
    if name not in FAMILIES:
        return
    for _ in range(WARMUP):
        step()
    torch.cuda.synchronize()
    ms = []
    for _ in range(STEPS):
        t0 = time.perf_counter()
        step()
        ms.append((time.perf_counter() - t0) * 1e3)
    print(f"TORCH {name:<6} {statistics.median(ms):9.3f} ms", flush=True)
    if PROFILER_STEPS > 0:
        torch.cuda.synchronize()
        torch.cuda.cudart().cudaProfilerStart()
        for _ in range(PROFILER_STEPS):
            step()
        torch.cuda.synchronize()
        torch.cuda.cudart().cudaProfilerStop()


def classifier_step(model, x_host, y_host, loss_fn):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        x = x_host.to(dev, non_blocking=True)
        y = y_host.to(dev, non_blocking=True)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    return step


class Attn(nn.Module):
    """MultiHeadAttention(1 head of 64, no output projection) -> mean over time -> Dense 10."""

    def __init__(self):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(64, 64), nn.Linear(64, 64), nn.Linear(64, 64)
        self.out = nn.Linear(64, 10)

    def forward(self, x):
        w = torch.softmax(self.q(x) @ self.k(x).transpose(1, 2) / 8.0, dim=-1)
        return self.out((w @ self.v(x)).mean(dim=1))


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10_000, 64)
        self.lstm = nn.LSTM(64, 128, batch_first=True)
        self.out = nn.Linear(128, 10)

    def forward(self, ids):
        h, _ = self.lstm(self.emb(ids))
        return self.out(h).reshape(-1, 10)


def gan_step(g, d, lr, latent, real_host):
    og = torch.optim.Adam(g.parameters(), lr=lr)
    od = torch.optim.Adam(d.parameters(), lr=lr)
    bce = nn.BCELoss()
    ones = torch.ones(BATCH, 1, device=dev)
    zeros = torch.zeros(BATCH, 1, device=dev)

    def step():
        real = real_host.to(dev, non_blocking=True)
        z = torch.randn(BATCH, latent, device=dev)
        fake = g(z)
        od.zero_grad(set_to_none=True)
        ld = bce(d(real), ones) + bce(d(fake.detach()), zeros)
        ld.backward()
        od.step()
        og.zero_grad(set_to_none=True)
        lg = bce(d(fake), ones)
        lg.backward()
        og.step()
        return ld.item() + lg.item()

    return step


def main():
    torch.manual_seed(1)
    print(f"# torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, {torch.cuda.get_device_name(0)}",
          flush=True)
    pin = lambda t: t.pin_memory()
    labels = pin(torch.randint(0, 10, (BATCH,)))

    cnn = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(14 * 14 * 64, 128), nn.ReLU(), nn.Dropout(0.5),
                        nn.Linear(128, 10)).to(dev)
    timed("cnn", classifier_step(cnn, pin(torch.rand(BATCH, 1, 28, 28)), labels, F.cross_entropy))

    tags = pin(torch.randint(0, 10, (BATCH * 100,)))
    timed("lstm", classifier_step(Tagger().to(dev), pin(torch.randint(0, 10_000, (BATCH, 100))), tags,
                                  F.cross_entropy))

    timed("attn", classifier_step(Attn().to(dev), pin(torch.randn(BATCH, 100, 64)), labels, F.cross_entropy))

    lrelu = lambda: nn.LeakyReLU(0.2)
    g = nn.Sequential(nn.Linear(100, 256), lrelu(), nn.Linear(256, 256), lrelu(), nn.Linear(256, 784), nn.Tanh()).to(dev)
    d = nn.Sequential(nn.Linear(784, 256), lrelu(), nn.Linear(256, 256), lrelu(), nn.Linear(256, 1), nn.Sigmoid()).to(dev)
    timed("gan", gan_step(g, d, 1e-3, 100, pin(torch.randn(BATCH, 784).tanh())))

    g = nn.Sequential(nn.Linear(100, 7 * 7 * 128), nn.BatchNorm1d(7 * 7 * 128), lrelu(), nn.Unflatten(1, (128, 7, 7)),
                      nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1), nn.BatchNorm2d(64), lrelu(),
                      nn.ConvTranspose2d(64, 1, 4, stride=2, padding=1), nn.Tanh()).to(dev)
    d = nn.Sequential(nn.Conv2d(1, 64, 4, stride=2, padding=1), lrelu(), nn.Conv2d(64, 128, 4, stride=2, padding=1),
                      lrelu(), nn.Flatten(), nn.Linear(7 * 7 * 128, 1), nn.Sigmoid()).to(dev)
    timed("dcgan", gan_step(g, d, 2e-4, 100, pin(torch.randn(BATCH, 1, 28, 28).tanh())))


if __name__ == "__main__":
    if not torch.cuda.is_available():
        print("# pytorch_steps.py: torch sees no CUDA device", file=sys.stderr)
        sys.exit(2)
    main()
