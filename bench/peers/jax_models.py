"""JAX's side of the comparison: the composed LSTM run eagerly (grad without jit), and
jit(grad(loss)) over lax.scan with PyTorch's equations and gate order for RNN, LSTM, GRU."""

from __future__ import annotations

from . import PARAM_NAMES, Prepared, Unavailable, checksums, recurrent_weights, sequence_input

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
    jax, jnp = load_jax()
    kind = case["kind"]
    if kind == "composed_lstm":
        return _composed_lstm(jax, jnp, case)
    if kind == "train_step":
        return _train_step(jax, jnp, case)
    raise Unavailable(f"jax: no {kind!r} case (the op microbenchmark compares tapes only)")


def _composed_loss(jax, jnp, params, x):
    w_ih, w_hh, b_ih, b_hh = params
    T, B = x.shape[0], x.shape[1]
    H = w_hh.shape[1]
    w_ih_t, w_hh_t = w_ih.T, w_hh.T
    h = jnp.zeros((B, H), jnp.float32)
    c = jnp.zeros((B, H), jnp.float32)
    hs = []
    for t in range(T):
        gates = x[t] @ w_ih_t + b_ih + h @ w_hh_t + b_hh
        i, f, g, o = jnp.split(gates, 4, axis=1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        hs.append(h)
    return jnp.stack(hs).sum()


def _composed_lstm(jax, jnp, case: dict) -> Prepared:
    """The composed LSTM, op by op, no jit: JAX's eager dispatch against the other tapes."""
    w = recurrent_weights("lstm", case["I"], case["H"])
    params = tuple(jnp.asarray(w[k]) for k in PARAM_NAMES)
    x = jnp.asarray(sequence_input(case["T"], case["B"], case["I"]))
    value_and_grad = jax.value_and_grad(lambda p: _composed_loss(jax, jnp, p, x))
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
    w = recurrent_weights(model, case["I"], H)
    params = tuple(jnp.asarray(w[k]) for k in PARAM_NAMES)
    x = jnp.asarray(sequence_input(case["T"], B, case["I"]))

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
