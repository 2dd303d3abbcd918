"""The character language model (embedding, stacked LSTM, linear decoder), its bits per character
over a text, and sampling with a temperature.

Parameter names follow what the same model is in PyTorch (nn.Embedding, nn.LSTM, nn.Linear
attributes `embedding`, `lstm`, `decoder`), so a state_dict carries over name for name.
"""

from __future__ import annotations

import math

import numpy as np

import minigrad as mg
from minigrad.nn import Embedding, Linear, Module

from ...layers import LSTM

IGNORE = -100  # target id that counts for nothing (padding of evaluation streams)


class CharLM(Module):
    """ids (T, B) -> logits (T, B, V) and the LSTM's final (h, c), carried between chunks."""

    def __init__(self, vocab_size: int, embedding_size: int = 32, hidden_size: int = 128,
                 num_layers: int = 2, dropout: float = 0.0, rng=None, dtype=np.float32):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("embedding_size", embedding_size),
                            ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"CharLM: {name} must be a positive integer, got {value!r}")
        rng = np.random.default_rng(rng)
        seeds = rng.integers(0, 2**63 - 1, size=3)
        self.vocab_size, self.embedding_size = int(vocab_size), int(embedding_size)
        self.hidden_size, self.num_layers, self.dropout = int(hidden_size), int(num_layers), dropout
        self.embedding = Embedding(vocab_size, embedding_size, rng=seeds[0], dtype=dtype)
        self.lstm = LSTM(embedding_size, hidden_size, num_layers=num_layers, dropout=dropout,
                         rng=seeds[1], dtype=dtype)
        self.decoder = Linear(hidden_size, vocab_size, rng=seeds[2], dtype=dtype)

    def config(self) -> dict:
        """The constructor's arguments (what a saved model needs besides its weights)."""
        return {"vocab_size": self.vocab_size, "embedding_size": self.embedding_size,
                "hidden_size": self.hidden_size, "num_layers": self.num_layers,
                "dropout": self.dropout}

    def forward(self, ids, state=None):
        """ids (T, B) integers -> logits (T, B, vocab_size), (h_n, c_n)."""
        ids = ids if isinstance(ids, mg.Tensor) else np.asarray(ids)  # a Tensor: mg.compile
        if ids.ndim != 2:
            raise ValueError(f"CharLM: ids must be 2-d (seq_len, batch), got shape {ids.shape}")
        out, state = self.lstm(self.embedding(ids), state)
        return self.decoder(out), state


def detach_state(state):
    """The carried (h, c) cut from the tape: truncated BPTT's boundary."""
    return None if state is None else tuple(s.detach() for s in state)


def evaluation_streams(ids: np.ndarray, streams: int) -> tuple[np.ndarray, np.ndarray]:
    """Every next-character prediction of `ids` as (n, streams) inputs and targets.

    Stream b covers a contiguous piece of the text; the last pieces are padded with IGNORE
    targets, so exactly len(ids) - 1 targets count (every character but the first).
    """
    ids = np.asarray(ids)
    if len(ids) < 2:
        raise ValueError(f"bits_per_char needs at least 2 characters, got {len(ids)}")
    if streams < 1:
        raise ValueError(f"streams must be >= 1, got {streams}")
    targets_total = len(ids) - 1
    n = math.ceil(targets_total / streams)
    inputs = np.zeros(n * streams, dtype=np.int64)
    targets = np.full(n * streams, IGNORE, dtype=np.int64)
    inputs[:targets_total] = ids[:-1]
    targets[:targets_total] = ids[1:]
    return inputs.reshape(streams, n).T.copy(), targets.reshape(streams, n).T.copy()


def total_nats(model: CharLM, inputs: np.ndarray, targets: np.ndarray, chunk: int = 256,
               state=None) -> tuple[float, int, tuple]:
    """Summed -ln p(target) over the non-IGNORE targets of (n, B) streams, read in chunks with
    the state carried across; returns (nats, targets counted, final state)."""
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    try:
        with mg.no_grad():
            for start in range(0, inputs.shape[0], chunk):
                x, y = inputs[start:start + chunk], targets[start:start + chunk]
                logits, state = model(x, state)
                counted = int((y != IGNORE).sum())
                if counted:
                    loss = mg.cross_entropy(logits, y, ignore_index=IGNORE)
                    total += float(loss.item()) * counted
                    count += counted
    finally:
        model.train(was_training)
    return total, count, state


def bits_per_char(model: CharLM, ids: np.ndarray, streams: int = 16, chunk: int = 256) -> float:
    """Mean -log2 p(next character) over ids[1:], each stream starting from a zero state."""
    inputs, targets = evaluation_streams(ids, streams)
    nats, count, _ = total_nats(model, inputs, targets, chunk)
    return nats / count / math.log(2.0)


def sample(model: CharLM, prime_ids: np.ndarray, length: int, temperature: float = 1.0,
           rng=None) -> np.ndarray:
    """`length` ids drawn one at a time from softmax(logits / temperature) after the prime."""
    prime_ids = np.asarray(prime_ids, dtype=np.int64)
    if prime_ids.ndim != 1 or prime_ids.size < 1:
        raise ValueError(f"sample: the prime must be at least one character, got "
                         f"{prime_ids.size}")
    if not temperature > 0:
        raise ValueError(f"sample: temperature must be > 0, got {temperature}")
    if length < 0:
        raise ValueError(f"sample: length must be >= 0, got {length}")
    rng = np.random.default_rng(rng)
    drawn = np.empty(length, dtype=np.int64)
    was_training = model.training
    model.eval()
    try:
        with mg.no_grad():
            logits, state = model(prime_ids[:, None])
            for i in range(length):
                scaled = logits.numpy()[-1, 0].astype(np.float64) / temperature
                p = np.exp(scaled - scaled.max())
                drawn[i] = rng.choice(len(p), p=p / p.sum())
                logits, state = model(drawn[i:i + 1, None], state)
    finally:
        model.train(was_training)
    return drawn
