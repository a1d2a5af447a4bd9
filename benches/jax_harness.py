"""What the JAX twins of `flowplay bench` share (`jax_realnvp.py`, `flowjax_realnvp.py`): the
FFJORD moons data, the arguments, the timed training loop around a jitted step (the loss read
back every step, as flowplay does) and the 200x200 grid log-density timing, printed as one JSON
line in `flowplay bench`'s field names."""
import argparse, json, math, time

import jax
import jax.numpy as jnp
import optax


def moons(key, n):
    k1, k2, k3 = jax.random.split(key, 3)
    t = jax.random.uniform(k1, (n,)) * math.pi
    upper = jnp.arange(n) % 2 == 0
    x = jnp.where(upper, jnp.cos(t), 1 - jnp.cos(t)) + 0.1 * jax.random.normal(k2, (n,))
    y = jnp.where(upper, jnp.sin(t), 0.5 - jnp.sin(t)) + 0.1 * jax.random.normal(k3, (n,))
    return jnp.stack([2 * x - 1, 2 * y - 0.2], 1)


def args():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--batch", type=int, default=1024)
    return p.parse_args()


def run(name, version, a, params, loss_fn, log_prob, apply_updates=optax.apply_updates):
    """Trains `params` on `loss_fn(params, x)` with Adam (lr 1e-3), batch `a.batch` of moons,
    times `a.steps` steps after `a.warmup`, then times `log_prob(params, x)` on the grid."""
    data = moons(jax.random.PRNGKey(0), 50_000)
    opt = optax.adam(1e-3)
    state = opt.init(params)

    @jax.jit
    def step(params, state, key):
        idx = jax.random.randint(key, (a.batch,), 0, data.shape[0])
        loss, grads = jax.value_and_grad(loss_fn)(params, data[idx])
        updates, state = opt.update(grads, state)
        return apply_updates(params, updates), state, loss

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
        "bench": name,
        "version": version,
        "batch": a.batch,
        "train_steps_per_sec": a.steps / train_s,
        "final_loss": float(loss),
        "grid_ms": grid_s * 1e3,
        "grid_points_per_sec": out.shape[0] / grid_s,
    }))
