"""Plain-JAX twin of `flowplay bench`: RealNVP with 8 affine couplings (alternating masks,
conditioner MLP 2->128->128->4, s = 3 tanh(raw/3)), an ActNorm in front, standard normal base,
Adam lr 1e-3 (optax), batch 1024, FFJORD moons. The whole step (sampling the batch, loss,
gradient, Adam) is one jitted function; the loss is read back every step, as flowplay does.
Prints one JSON line: train steps/s after warm-up and the 200x200 grid log-density throughput.

Not part of the test suite (JAX is not a dependency); `benches/peers.sh` runs it when installed:
    python3 benches/jax_realnvp.py [--steps 100]
"""
import math

import jax
import jax.numpy as jnp

import jax_harness


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


def main():
    a = jax_harness.args()
    params = init(jax.random.PRNGKey(1))
    loss_fn = lambda p, x: -log_prob(p, x).mean()
    jax_harness.run("jax_realnvp8x128_moons_cpu", jax.__version__, a, params, loss_fn, log_prob)


if __name__ == "__main__":
    main()
