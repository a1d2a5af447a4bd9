"""PyTorch twin of `flowplay bench`: RealNVP with 8 affine couplings (alternating masks,
conditioner MLP 2->128->128->4, s = 3 tanh(raw/3)), an ActNorm in front, standard normal base,
Adam lr 1e-3, batch 1024, FFJORD moons. Prints train steps/s after warm-up and the 200x200
grid log-density throughput, as one JSON line, for comparison with `flowplay bench`.

Not part of the test suite (PyTorch is not a dependency); run it where torch is installed:
    python3 benches/pytorch_realnvp.py [--steps 100] [--threads N]
"""
import argparse, json, math, time

import torch
from torch import nn


class Coupling(nn.Module):
    def __init__(self, mask, hidden=128):
        super().__init__()
        self.register_buffer("mask", mask)
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 4))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x):
        out = self.net(x * self.mask)
        free = 1 - self.mask
        s = 3 * torch.tanh(out[:, :2] / 3) * free
        t = out[:, 2:] * free
        return x * torch.exp(s) + t, s.sum(1)


class Flow(nn.Module):
    def __init__(self, layers=8):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, 2))
        self.log_scale = nn.Parameter(torch.zeros(1, 2))
        masks = [torch.tensor([[1.0, 0.0]]) if i % 2 == 0 else torch.tensor([[0.0, 1.0]]) for i in range(layers)]
        self.layers = nn.ModuleList(Coupling(m) for m in masks)

    def log_prob(self, x):
        z = (x + self.bias) * torch.exp(self.log_scale)
        ld = self.log_scale.sum().expand(x.shape[0])
        for layer in self.layers:
            z, l = layer(z)
            ld = ld + l
        return -0.5 * (z ** 2).sum(1) - math.log(2 * math.pi) + ld


def moons(n, g):
    t = torch.rand(n, generator=g) * math.pi
    upper = torch.arange(n) % 2 == 0
    x = torch.where(upper, torch.cos(t), 1 - torch.cos(t)) + 0.1 * torch.randn(n, generator=g)
    y = torch.where(upper, torch.sin(t), 0.5 - torch.sin(t)) + 0.1 * torch.randn(n, generator=g)
    return torch.stack([2 * x - 1, 2 * y - 0.2], 1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(0)
    data = moons(50_000, g)
    flow = Flow()
    opt = torch.optim.Adam(flow.parameters(), lr=1e-3)

    def step():
        idx = torch.randint(0, data.shape[0], (a.batch,), generator=g)
        loss = -flow.log_prob(data[idx]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()  # like flowplay, read the loss back every step

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    train_s = time.perf_counter() - t0
    xs = torch.linspace(-4, 4, 200)
    ys = torch.linspace(-3, 3, 200)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)
    times = []
    with torch.no_grad():
        for _ in range(7):
            t0 = time.perf_counter()
            out = torch.cat([flow.log_prob(c) for c in grid.split(4096)])
            times.append(time.perf_counter() - t0)
    grid_s = sorted(times)[3]
    print(json.dumps({
        "bench": "pytorch_realnvp8x128_moons_cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch": a.batch,
        "train_steps_per_sec": a.steps / train_s,
        "grid_ms": grid_s * 1e3,
        "grid_points_per_sec": out.shape[0] / grid_s,
    }))


if __name__ == "__main__":
    main()
