"""Plain-JAX twin of `flowplay bench`: RealNVP with 8 affine couplings (alternating masks,
conditioner MLP 2->128->128->4, s = 3 tanh(raw/3)), an ActNorm in front, standard normal base,
Adam lr 1e-3 (optax), batch 1024, FFJORD moons. The whole step (sampling the batch, loss,
gradient, Adam) is one jitted function; the loss is read back every step, as flowplay does.
Prints one JSON line: train steps/s after warm-up and the 200x200 grid log-density throughput.

Not part of the test suite (JAX is not a dependency); `benches/peers.sh` runs it when installed:
    python3 benches/jax_realnvp.py [--steps 100]
"""
import argparse, json, math, time

import jax
import jax.numpy as jnp
import optax


def init_mlp(key, sizes):
    params = []
    keys = jax.random.split(key, len(sizes) - 1)
    for i, (k, n_in, n_out) in enumerate(zip(keys, sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        bound = 1 / math.sqrt(n_in)
        w = jnp.zeros((n_in, n_out)) if last else jax.random.uniform(k, (n_in, n_out), minval=-bound, maxval=bound)
        params.append((w, jnp.zeros(n_out)))
    return params


def mlp(params, x):
    for w, b in params[:-1]:
        x = jax.nn.relu(x @ w + b)
    w, b = params[-1]
    return x @ w + b


def init(key, layers=8, hidden=128):
    keys = jax.random.split(key, layers)
    return {
        "bias": jnp.zeros(2),
        "log_scale": jnp.zeros(2),
        "couplings": [init_mlp(k, [2, hidden, hidden, 4]) for k in keys],
    }


MASKS = [jnp.array([1.0, 0.0]) if i % 2 == 0 else jnp.array([0.0, 1.0]) for i in range(8)]


def log_prob(params, x):
    z = (x + params["bias"]) * jnp.exp(params["log_scale"])
    ld = jnp.broadcast_to(params["log_scale"].sum(), x.shape[:1])
    for mask, p in zip(MASKS, params["couplings"]):
        out = mlp(p, z * mask)
        free = 1 - mask
        s = 3 * jnp.tanh(out[:, :2] / 3) * free
        t = out[:, 2:] * free
        z = z * jnp.exp(s) + t
        ld = ld + s.sum(1)
    return -0.5 * (z**2).sum(1) - math.log(2 * math.pi) + ld


def moons(key, n):
    k1, k2, k3 = jax.random.split(key, 3)
    t = jax.random.uniform(k1, (n,)) * math.pi
    upper = jnp.arange(n) % 2 == 0
    x = jnp.where(upper, jnp.cos(t), 1 - jnp.cos(t)) + 0.1 * jax.random.normal(k2, (n,))
    y = jnp.where(upper, jnp.sin(t), 0.5 - jnp.sin(t)) + 0.1 * jax.random.normal(k3, (n,))
    return jnp.stack([2 * x - 1, 2 * y - 0.2], 1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--batch", type=int, default=1024)
    a = p.parse_args()
    key = jax.random.PRNGKey(0)
    data = moons(key, 50_000)
    params = init(jax.random.PRNGKey(1))
    opt = optax.adam(1e-3)
    state = opt.init(params)

    @jax.jit
    def step(params, state, key):
        idx = jax.random.randint(key, (a.batch,), 0, data.shape[0])
        loss, grads = jax.value_and_grad(lambda p: -log_prob(p, data[idx]).mean())(params)
        updates, state = opt.update(grads, state)
        return optax.apply_updates(params, updates), state, loss

    keys = iter(jax.random.split(jax.random.PRNGKey(2), a.warmup + a.steps))
    for _ in range(a.warmup):
        params, state, loss = step(params, state, next(keys))
        float(loss)
    t0 = time.perf_counter()
    for _ in range(a.steps):
        params, state, loss = step(params, state, next(keys))
        float(loss)  # like flowplay, read the loss back every step
    train_s = time.perf_counter() - t0

    xs = jnp.linspace(-4, 4, 200)
    ys = jnp.linspace(-3, 3, 200)
    grid = jnp.stack(jnp.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)
    lp = jax.jit(log_prob)
    chunks = [grid[i : i + 4096] for i in range(0, grid.shape[0], 4096)]
    times = []
    for _ in range(8):  # the first call compiles (two shapes: full and last chunk)
        t0 = time.perf_counter()
        out = jnp.concatenate([lp(params, c) for c in chunks]).block_until_ready()
        times.append(time.perf_counter() - t0)
    grid_s = sorted(times[1:])[3]
    print(json.dumps({
        "bench": "jax_realnvp8x128_moons_cpu",
        "jax": jax.__version__,
        "batch": a.batch,
        "train_steps_per_sec": a.steps / train_s,
        "final_loss": float(loss),
        "grid_ms": grid_s * 1e3,
        "grid_points_per_sec": out.shape[0] / grid_s,
    }))


if __name__ == "__main__":
    main()
