"""flowjax twin of `flowplay bench`: flowjax's `coupling_flow` with its affine transformer,
8 coupling layers, conditioner MLP of width 128 and depth 2 (ReLU), standard normal base, Adam
lr 1e-3 (optax), batch 1024, FFJORD moons. flowjax's own parameterisation (softplus scale,
permutations between layers), so the same size and cost as flowplay's bench model, not the same
numbers. One jitted step (batch, loss, gradient, Adam); the loss is read back every step.
Prints one JSON line: train steps/s after warm-up and the 200x200 grid log-density throughput.

Not part of the test suite (flowjax is not a dependency); `benches/peers.sh` runs it when installed:
    python3 benches/flowjax_realnvp.py [--steps 100]
"""
import equinox as eqx
import jax
import jax.numpy as jnp
from flowjax.bijections import Affine
from flowjax.distributions import Normal
from flowjax.flows import coupling_flow

import jax_harness


def main():
    import flowjax

    a = jax_harness.args()
    flow = coupling_flow(
        jax.random.PRNGKey(1),
        base_dist=Normal(jnp.zeros(2)),
        transformer=Affine(),
        flow_layers=8,
        nn_width=128,
        nn_depth=2,
    )
    params, static = eqx.partition(flow, eqx.is_inexact_array)

    def log_prob(params, x):
        return eqx.combine(params, static).log_prob(x)

    loss_fn = lambda p, x: -log_prob(p, x).mean()
    jax_harness.run("flowjax_realnvp8x128_moons_cpu", flowjax.__version__, a, params, loss_fn,
                    log_prob, apply_updates=eqx.apply_updates)


if __name__ == "__main__":
    main()
