"""flowjax twin of `flowplay bench`: flowjax's `coupling_flow` with its affine transformer,
8 coupling layers, conditioner MLP of width 128 and depth 2 (ReLU), standard normal base, Adam
lr 1e-3 (optax), batch 1024, FFJORD moons. flowjax's own parameterisation (softplus scale,
permutations between layers), so the same size and cost as flowplay's bench model, not the same
numbers. One jitted step (batch, loss, gradient, Adam); the loss is read back every step.
Prints one JSON line: train steps/s after warm-up and the 200x200 grid log-density throughput.

Not part of the test suite (flowjax is not a dependency); `benches/peers.sh` runs it when installed:
    python3 benches/flowjax_realnvp.py [--steps 100]
"""
import argparse, json, math, time

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from flowjax.bijections import Affine
from flowjax.distributions import Normal
from flowjax.flows import coupling_flow


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
    import flowjax
    data = moons(jax.random.PRNGKey(0), 50_000)
    flow = coupling_flow(
        jax.random.PRNGKey(1),
        base_dist=Normal(jnp.zeros(2)),
        transformer=Affine(),
        flow_layers=8,
        nn_width=128,
        nn_depth=2,
    )
    params, static = eqx.partition(flow, eqx.is_inexact_array)
    opt = optax.adam(1e-3)
    state = opt.init(params)

    def loss_fn(params, x):
        return -eqx.combine(params, static).log_prob(x).mean()

    @jax.jit
    def step(params, state, key):
        idx = jax.random.randint(key, (a.batch,), 0, data.shape[0])
        loss, grads = jax.value_and_grad(loss_fn)(params, data[idx])
        updates, state = opt.update(grads, state)
        return eqx.apply_updates(params, updates), state, loss

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
    lp = jax.jit(lambda p, x: eqx.combine(p, static).log_prob(x))
    chunks = [grid[i : i + 4096] for i in range(0, grid.shape[0], 4096)]
    times = []
    for _ in range(8):  # the first call compiles
        t0 = time.perf_counter()
        out = jnp.concatenate([lp(params, c) for c in chunks]).block_until_ready()
        times.append(time.perf_counter() - t0)
    grid_s = sorted(times[1:])[3]
    print(json.dumps({
        "bench": "flowjax_realnvp8x128_moons_cpu",
        "flowjax": flowjax.__version__,
        "batch": a.batch,
        "train_steps_per_sec": a.steps / train_s,
        "final_loss": float(loss),
        "grid_ms": grid_s * 1e3,
        "grid_points_per_sec": out.shape[0] / grid_s,
    }))


if __name__ == "__main__":
    main()
