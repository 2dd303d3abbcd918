"""JAX's side of the comparison: the composed LSTM run eagerly (grad without jit), and
jit(grad(loss)) over lax.scan with PyTorch's equations and gate order for RNN, LSTM, GRU."""

from __future__ import annotations

from . import Prepared, Unavailable, array_lstm_loss, by_kind, case_arrays, checksums

STARTUP_SNIPPET = (
    "import jax, jax.numpy as jnp; "
    "f = jax.grad(lambda x: jnp.tanh(x * x).sum()); "
    "f(jnp.ones((32, 128))).block_until_ready()"
)


def load_jax():
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as e:
        raise Unavailable(f"jax not installed ({e})") from None
    jax.config.update("jax_platforms", "cpu")
    return jax, jnp


def build(case: dict) -> Prepared:
    return by_kind(case, {"composed_lstm": _composed_lstm, "train_step": _train_step},
                   *load_jax(), missing="jax: no {kind!r} case (the op microbenchmark compares "
                   "tapes only)")


def _composed_lstm(jax, jnp, case: dict) -> Prepared:
    """The composed LSTM, op by op, no jit: JAX's eager dispatch against the other tapes."""
    weights, x = case_arrays(case)
    params, x = tuple(jnp.asarray(w) for w in weights), jnp.asarray(x)
    value_and_grad = jax.value_and_grad(lambda p: array_lstm_loss(jnp, jax.nn.sigmoid, p, x))
    last = {}

    def step():
        loss, grads = value_and_grad(params)
        last["out"] = jax.block_until_ready((loss, grads))

    def check():
        loss, grads = last["out"]
        return checksums(loss, {"weight_hh": grads[1], "weight_ih": grads[0]})

    return Prepared(step=step, check=check)


def cells(jax, jnp, model: str):
    """One step of each model on a precomputed input projection xp_t = x_t @ W_ih^T + b_ih."""
    sigmoid = jax.nn.sigmoid

    def rnn(h, xp_t, w_hh, b_hh):
        h = jnp.tanh(xp_t + h @ w_hh.T + b_hh)
        return h, h

    def lstm(carry, xp_t, w_hh, b_hh):
        h, c = carry
        i, f, g, o = jnp.split(xp_t + h @ w_hh.T + b_hh, 4, axis=1)
        c = sigmoid(f) * c + sigmoid(i) * jnp.tanh(g)
        h = sigmoid(o) * jnp.tanh(c)
        return (h, c), h

    def gru(h, xp_t, w_hh, b_hh):
        x_r, x_z, x_n = jnp.split(xp_t, 3, axis=1)
        h_r, h_z, h_n = jnp.split(h @ w_hh.T + b_hh, 3, axis=1)
        r = sigmoid(x_r + h_r)
        z = sigmoid(x_z + h_z)
        n = jnp.tanh(x_n + r * h_n)
        h = (1 - z) * n + z * h
        return h, h

    return {"rnn": rnn, "lstm": lstm, "gru": gru}[model]


def _train_step(jax, jnp, case: dict) -> Prepared:
    """jit(value_and_grad) of out.sum() over lax.scan, gradients for the weights and x."""
    model, B, H = case["model"], case["B"], case["H"]
    cell = cells(jax, jnp, model)
    weights, x = case_arrays(case, model)
    params, x = tuple(jnp.asarray(w) for w in weights), jnp.asarray(x)

    def loss(params, x):
        w_ih, w_hh, b_ih, b_hh = params
        xp = x @ w_ih.T + b_ih  # the input projection of all steps in one GEMM
        h0 = jnp.zeros((B, H), jnp.float32)
        carry = (h0, h0) if model == "lstm" else h0
        _, out = jax.lax.scan(lambda c, xp_t: cell(c, xp_t, w_hh, b_hh), carry, xp)
        return out.sum()

    value_and_grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    last = {}

    def step():
        last["out"] = jax.block_until_ready(value_and_grad(params, x))

    def check():
        loss_value, (grads, dx) = last["out"]
        return checksums(loss_value, {"weight_hh": grads[1], "x": dx})

    return Prepared(step=step, check=check)
