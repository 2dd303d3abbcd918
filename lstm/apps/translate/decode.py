"""Greedy and beam-search decoding of a Seq2Seq model (no tape).

Beam search keeps the `width` highest-scoring prefixes of every sentence (score: the summed log
probability, no length normalisation); a prefix that emitted </s> is finished and carried along
unchanged. With width 1 it takes the argmax at every step: greedy decoding.
"""

from __future__ import annotations

import contextlib

import numpy as np

import minigrad as mg

from .data import BOS_ID, EOS_ID, PAD_ID
from .model import Memory, Seq2Seq


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


@contextlib.contextmanager
def _no_tape(model: Seq2Seq):
    """Eval mode and no tape inside; the model's mode restored after."""
    was_training = model.training
    model.eval()
    try:
        with mg.no_grad():
            yield
    finally:
        model.train(was_training)


def greedy(model: Seq2Seq, source, lengths, max_len: int):
    """ids (B, max_len) (PAD after each </s>) and the attention weights (B, max_len, S) or None."""
    if max_len < 1:
        raise ValueError(f"greedy: max_len must be >= 1, got {max_len}")
    with _no_tape(model):
        memory = model.encode(source, lengths)
        batch = memory.mask.shape[0]
        ids = np.full((batch, max_len), PAD_ID, np.int64)
        weights = [] if model.attention is not None else None
        previous, state = np.full((batch, 1), BOS_ID, np.int64), None
        done = np.zeros(batch, bool)
        for t in range(max_len):
            logits, alpha, state = model.decode(memory, previous, state)
            token = logits.numpy()[:, 0].argmax(-1)
            ids[:, t] = np.where(done, PAD_ID, token)
            if weights is not None:
                weights.append(alpha.numpy()[:, 0])
            done |= token == EOS_ID
            if done.all():
                break
            previous = token[:, None]
    if weights is not None:
        weights = np.stack(weights, axis=1)
    return ids, weights


def _select(memory: Memory, index: np.ndarray) -> Memory:
    take = lambda t: mg.tensor(t.numpy()[index])  # noqa: E731
    projected = None if memory.projected is None else take(memory.projected)
    h, c = memory.state
    return Memory(take(memory.keys), projected, memory.mask[index],
                  (mg.tensor(h.numpy()[:, index]), mg.tensor(c.numpy()[:, index])))


def beam_search(model: Seq2Seq, source, lengths, width: int, max_len: int):
    """ids (B, max_len) of each sentence's best finished (or, at max_len, best) prefix, and its
    summed log probability (B,)."""
    if width < 1 or max_len < 1:
        raise ValueError(f"beam_search: width and max_len must be >= 1, got {width}, {max_len}")
    with _no_tape(model):
        memory = model.encode(source, lengths)
        batch = memory.mask.shape[0]
        rows = np.repeat(np.arange(batch), width)
        memory = _select(memory, rows)
        scores = np.full((batch, width), -np.inf)
        scores[:, 0] = 0.0
        tokens = np.full((batch, width, max_len), PAD_ID, np.int64)
        finished = np.zeros((batch, width), bool)
        previous, state = np.full((batch * width, 1), BOS_ID, np.int64), memory.state
        for t in range(max_len):
            logits, _, state = model.decode(memory, previous, state)
            logp = _log_softmax(logits.numpy()[:, 0]).reshape(batch, width, -1)
            vocab = logp.shape[-1]
            logp[finished] = -np.inf  # a finished prefix only extends by PAD, at no cost
            logp[finished, PAD_ID] = 0.0
            candidates = (scores[:, :, None] + logp).reshape(batch, width * vocab)
            best = np.argsort(-candidates, axis=1, kind="stable")[:, :width]
            beam, token = best // vocab, best % vocab
            scores = np.take_along_axis(candidates, best, axis=1)
            tokens = np.take_along_axis(tokens, beam[:, :, None], axis=1)
            tokens[:, :, t] = token
            finished = np.take_along_axis(finished, beam, axis=1) | (token == EOS_ID)
            if finished.all():
                break
            flat = (np.arange(batch)[:, None] * width + beam).ravel()
            h, c = state
            state = (mg.tensor(h.numpy()[:, flat]), mg.tensor(c.numpy()[:, flat]))
            previous = np.where(token == PAD_ID, EOS_ID, token).reshape(-1, 1)
        # prefer finished prefixes; among them (or among all, if none finished) the best score
        ranked = np.where(finished, scores, scores - 1e18)
        pick = ranked.argmax(axis=1)
    return tokens[np.arange(batch), pick], scores[np.arange(batch), pick]
