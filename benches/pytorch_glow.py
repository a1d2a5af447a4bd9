"""PyTorch twin of flowplay's `glow_mnist_gpu` preset, for side-by-side step timings on one GPU.

The same flow, layer for layer (src/flows/multiscale.rs `glow`, src/presets.rs):
  logit(α + (1 − 2α)·x), α = 1e-6
  2 levels × [squeeze 2×2 → 10 × (ActNorm2d → LU 1×1 conv → affine coupling) → split prior]
  (no split after the last level), standard normal base;
  coupling: (r, t) = NN(x_a), s = sigmoid(r + 2), z_b = (x_b + t)·s, NN = 3×3 conv → ReLU →
  1×1 conv → ReLU → 3×3 conv (zero-initialised), width 320;
  LU 1×1 conv: W = L·U, L unit lower-triangular, U upper with diagonal softplus(raw) + ε, plus a
  bias (full c×c parameter matrices, masked, as flowplay stores them);
  split prior: (μ, log σ) = 3×3 conv(x_a) (zero-initialised), log σ soft-clamped to ±5.
2 581 476 parameters, like the preset (printed, and checked by --check-params).
Training step: dequantised MNIST-shaped batch of 128, loss in bits/dim, Adam lr 1e-3, global
gradient-norm clipping at 50 — flowplay's image trainer.

Data: uniform random "pixels" unless --mnist DIR (raw or gzipped IDX) is given; the step time
does not depend on the pixel values. Prints one JSON line: steps/s after warm-up, ms per step,
the device, eager or torch.compile.

Not part of the test suite (PyTorch is not a dependency of flowplay). Usage:
    python3 benches/pytorch_glow.py [--device cuda] [--steps 50] [--warmup 10] [--compile]
    python3 benches/pytorch_glow.py --check-params          # the parameter count only
    python3 benches/pytorch_glow.py --depth 4 --hidden 48 --batch 64   # glow_mnist_small
`flowplay bench image-step --python PY` runs it beside flowplay's step at each thread count.
"""
import argparse, gzip, json, math, os, time

import torch
import torch.nn.functional as F
from torch import nn

ALPHA = 1e-6
DIAG_EPS = 1e-3


def squeeze(x):
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // 2, 2, w // 2, 2)
    # channel 4k + 2i + j holds pixel (2y + i, 2x + j) of channel k, as in flowplay
    return x.permute(0, 1, 3, 5, 2, 4).reshape(n, 4 * c, h // 2, w // 2)


class ActNorm2d(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.b = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.s = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.initialised = False

    def forward(self, x):
        if not self.initialised:  # data-dependent init on the first batch
            with torch.no_grad():
                mean = x.mean(dim=(0, 2, 3), keepdim=True)
                std = x.std(dim=(0, 2, 3), keepdim=True) + 1e-6
                self.b.copy_(-mean)
                self.s.copy_(-std.log())
            self.initialised = True
        h, w = x.shape[2:]
        return (x + self.b) * self.s.exp(), (h * w) * self.s.sum().expand(x.shape[0])


class LuConv1x1(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.lower = nn.Parameter(torch.zeros(c, c))
        self.upper = nn.Parameter(torch.zeros(c, c))
        diag0 = math.log(math.expm1(1.0 - DIAG_EPS))
        self.diag_raw = nn.Parameter(torch.full((1, c), diag0))
        self.bias = nn.Parameter(torch.zeros(1, c))
        self.register_buffer("eye", torch.eye(c))

    def forward(self, x):
        c = x.shape[1]
        diag = F.softplus(self.diag_raw[0]) + DIAG_EPS
        lower = torch.tril(self.lower, -1) + self.eye
        upper = torch.triu(self.upper, 1) + torch.diag(diag)
        w = lower @ upper
        z = torch.einsum("nchw,cd->ndhw", x, w) + self.bias.view(1, c, 1, 1)
        h, wd = x.shape[2:]
        return z, (h * wd) * diag.log().sum().expand(x.shape[0])


def conv(i, o, k, zero=False):
    m = nn.Conv2d(i, o, k, padding=k // 2)
    if zero:
        nn.init.zeros_(m.weight)
        nn.init.zeros_(m.bias)
    return m


class Coupling(nn.Module):
    def __init__(self, c, hidden):
        super().__init__()
        self.ca = (c + 1) // 2
        self.net = nn.Sequential(conv(self.ca, hidden, 3), nn.ReLU(), conv(hidden, hidden, 1), nn.ReLU(),
                                 conv(hidden, 2 * (c - self.ca), 3, zero=True))

    def forward(self, x):
        xa, xb = x[:, : self.ca], x[:, self.ca:]
        r, t = self.net(xa).chunk(2, dim=1)
        log_s = F.logsigmoid(r + 2.0)
        return torch.cat([xa, (xb + t) * log_s.exp()], 1), log_s.sum(dim=(1, 2, 3))


class SplitPrior(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ca = (c + 1) // 2
        self.conv = conv(self.ca, 2 * (c - self.ca), 3, zero=True)

    def forward(self, x):
        xa, xb = x[:, : self.ca], x[:, self.ca:]
        mu, log_sigma = self.conv(xa).chunk(2, dim=1)
        log_sigma = 5.0 * torch.tanh(log_sigma / 5.0)
        zb = (xb - mu) * (-log_sigma).exp()
        return xa, zb, -log_sigma.sum(dim=(1, 2, 3))


class Glow(nn.Module):
    def __init__(self, levels=2, steps=10, hidden=320, shape=(1, 28, 28)):
        super().__init__()
        c, h, w = shape
        self.levels = nn.ModuleList()
        for level in range(levels):
            c, h, w = 4 * c, h // 2, w // 2
            steps_ = nn.ModuleList()
            for _ in range(steps):
                steps_.append(nn.ModuleList([ActNorm2d(c), LuConv1x1(c), Coupling(c, hidden)]))
            split = SplitPrior(c) if level + 1 < levels else None
            self.levels.append(nn.ModuleDict({"steps": steps_, **({"split": split} if split else {})}))
            if split is not None:
                c = (c + 1) // 2

    def log_prob(self, x):
        y = ALPHA + (1 - 2 * ALPHA) * x
        z = torch.log(y) - torch.log1p(-y)
        logdet = (math.log(1 - 2 * ALPHA) - torch.log(y) - torch.log1p(-y)).sum(dim=(1, 2, 3))
        log_base = torch.zeros_like(logdet)
        for level in self.levels:
            z = squeeze(z)
            for step in level["steps"]:
                for layer in step:
                    z, ld = layer(z)
                    logdet = logdet + ld
            if "split" in level:
                z, zb, ld = level["split"](z)
                logdet = logdet + ld
                log_base = log_base - 0.5 * (zb ** 2).sum(dim=(1, 2, 3)) - 0.5 * math.log(2 * math.pi) * zb[0].numel()
        log_base = log_base - 0.5 * (z ** 2).sum(dim=(1, 2, 3)) - 0.5 * math.log(2 * math.pi) * z[0].numel()
        return log_base + logdet


def read_idx_images(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    n, h, w = (int.from_bytes(data[o:o + 4], "big") for o in (4, 8, 12))
    return torch.frombuffer(bytearray(data[16:16 + n * h * w]), dtype=torch.uint8).reshape(n, 1, h, w)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--compile", action="store_true", help="torch.compile the loss")
    ap.add_argument("--mnist", help="directory with train-images-idx3-ubyte(.gz)")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--levels", type=int, default=2, help="scales (glow_mnist_gpu: 2)")
    ap.add_argument("--depth", type=int, default=10, help="steps per scale (glow_mnist_gpu: 10)")
    ap.add_argument("--hidden", type=int, default=320, help="coupling width (glow_mnist_gpu: 320)")
    ap.add_argument("--check-params", action="store_true")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Glow(levels=a.levels, steps=a.depth, hidden=a.hidden)
    params = sum(p.numel() for p in model.parameters())
    if a.check_params:
        print(json.dumps({"params": params}))
        return
    dev = torch.device(a.device)
    model.to(dev)
    if a.mnist:
        name = next(f for f in os.listdir(a.mnist) if f.startswith("train-images-idx3-ubyte"))
        pixels = read_idx_images(os.path.join(a.mnist, name)).to(dev)
    else:
        pixels = torch.randint(0, 256, (60000, 1, 28, 28), dtype=torch.uint8, device=dev)
    d = 28 * 28
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def loss_of(x):
        return -model.log_prob(x).mean() / (d * math.log(2)) + 8.0

    with torch.no_grad():  # ActNorm's data-dependent init, outside any compiled graph
        loss_of((pixels[:256].float() + torch.rand(256, 1, 28, 28, device=dev)) / 256)
    loss_fn = torch.compile(loss_of) if a.compile else loss_of

    def step():
        idx = torch.randint(0, pixels.shape[0], (a.batch,), device=dev)
        x = (pixels[idx].float() + torch.rand(a.batch, 1, 28, 28, device=dev)) / 256
        loss = loss_fn(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 50.0)
        opt.step()
        return loss

    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    t0 = time.perf_counter()
    for _ in range(a.warmup):
        loss = step()
    sync()
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    sync()
    secs = time.perf_counter() - t0
    print(json.dumps({
        "bench": f"pytorch_glow_{a.levels}x{a.depth}x{a.hidden}", "threads": torch.get_num_threads(), "mode": "compile" if a.compile else "eager",
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "torch": torch.__version__, "params": params, "batch": a.batch, "steps": a.steps,
        "warmup_seconds": warm, "ms_per_step": 1e3 * secs / a.steps, "steps_per_sec": a.steps / secs,
        "last_loss_bpd": loss.item(),
    }))


if __name__ == "__main__":
    main()
