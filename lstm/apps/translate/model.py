"""Sequence to sequence with attention: a bidirectional LSTM encoder, an LSTM decoder and global
attention over the encoder's outputs (Luong, Pham & Manning 2015), scored additively as Bahdanau,
Cho & Bengio (2015) do or multiplicatively (Luong's "general" score), or no attention at all.

Encoder: embedding, bidirectional LSTM packed by the source lengths; its outputs h_s (S, B, 2H)
are the memory. The decoder's initial state is tanh(Linear([h_fwd; h_bwd])) of the encoder's
final states (and the same for c). Decoder: embedding of the previous target token, LSTM(H);
its output h_t queries the memory:
- additive:       e_ts = v . tanh(W_k h_s + W_q h_t + b)        (Bahdanau et al. 2015, eq. A.1.2)
- multiplicative: e_ts = h_t . (W_k h_s)                        (Luong et al. 2015, "general")
alpha_t = softmax over the source's valid steps of e_t (padding scored -1e9, so it weighs exactly
0), c_t = sum_s alpha_ts h_s, the attentional state h~_t = tanh(W_c [c_t; h_t]) and the logits
W_o h~_t. Without attention h~_t = tanh(W_c h_t): the encoder reaches the decoder only through its
final states (Sutskever et al. 2014, Cho et al. 2014), the baseline the attention is judged by.
The attention sits after the decoder's step (Luong's placement; Luong et al. evaluate Bahdanau's
additive score there as "concat"), so under teacher forcing the decoder LSTM runs over the whole
target sequence in one fused call. Parameter names follow torch.nn (bench/translate_torch.py is
the same model in torch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import minigrad as mg
from minigrad.nn import Embedding, Linear, Module

from ...layers import LSTM
from ..common.padding import valid_mask

ATTENTIONS = ("additive", "multiplicative", "none")
MASKED_SCORE = -1e9


@dataclass
class Memory:
    """What the decoder reads from an encoded batch: keys (B, S, 2H), their projection, the
    valid-step mask (B, S) and the decoder's initial (h, c), each (1, B, H)."""

    keys: mg.Tensor
    projected: mg.Tensor | None
    mask: np.ndarray
    state: tuple


class Attention(Module):
    """context (B, T, F), weights (B, T, S) = attention(query (B, T, H), memory)."""

    def __init__(self, kind: str, key_size: int, query_size: int, attention_size: int,
                 rng=None, dtype=np.float32):
        super().__init__()
        if kind not in ATTENTIONS[:2]:
            raise ValueError(f"Attention: kind must be one of {ATTENTIONS[:2]}, got {kind!r}")
        seeds = np.random.default_rng(rng).integers(0, 2**63 - 1, size=3)
        self.kind = kind
        if kind == "additive":
            self.key = Linear(key_size, attention_size, bias=False, rng=seeds[0], dtype=dtype)
            self.query = Linear(query_size, attention_size, rng=seeds[1], dtype=dtype)
            self.score = Linear(attention_size, 1, bias=False, rng=seeds[2], dtype=dtype)
        else:
            self.key = Linear(key_size, query_size, bias=False, rng=seeds[0], dtype=dtype)

    def project(self, keys):
        """The keys' projection, computed once per source batch."""
        return self.key(keys)

    def forward(self, query, memory: Memory):
        batch, steps, sources = query.shape[0], query.shape[1], memory.keys.shape[1]
        if self.kind == "additive":
            size = memory.projected.shape[-1]
            hidden = (memory.projected.reshape(batch, 1, sources, size)
                      + self.query(query).reshape(batch, steps, 1, size)).tanh()
            scores = self.score(hidden).reshape(batch, steps, sources)
        else:
            scores = query @ memory.projected.transpose(0, 2, 1)
        mask = memory.mask.reshape(batch, 1, sources)  # a Tensor in a compiled step
        weights = mg.softmax(mg.where(mask, scores, MASKED_SCORE), axis=-1)
        return weights @ memory.keys, weights

    def extra_repr(self):
        return f"{self.kind!r}"


class Seq2Seq(Module):
    """logits (B, T, V_target), weights (B, T, S) or None = model(source (B, S), lengths (B,),
    target_in (B, T)): teacher forcing, target_in = <s> y_1 ... y_{T-1}."""

    def __init__(self, source_vocab: int, target_vocab: int, embedding_size: int = 32,
                 hidden_size: int = 64, attention: str = "additive",
                 attention_size: int | None = None, impl: str = "fused", rng=None,
                 dtype=np.float32):
        super().__init__()
        for name, value in (("source_vocab", source_vocab), ("target_vocab", target_vocab),
                            ("embedding_size", embedding_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"Seq2Seq: {name} must be a positive integer, got {value!r}")
        if attention not in ATTENTIONS:
            raise ValueError(f"Seq2Seq: attention must be one of {ATTENTIONS}, got "
                             f"{attention!r}")
        seeds = np.random.default_rng(rng).integers(0, 2**63 - 1, size=8)
        h = int(hidden_size)
        self.source_vocab, self.target_vocab = int(source_vocab), int(target_vocab)
        self.embedding_size, self.hidden_size = int(embedding_size), h
        self.attention_kind = attention
        self.attention_size = int(attention_size or h)
        self.source_embedding = Embedding(source_vocab, embedding_size, rng=seeds[0], dtype=dtype)
        self.encoder = LSTM(embedding_size, h, bidirectional=True, impl=impl, rng=seeds[1],
                            dtype=dtype)
        self.bridge_h = Linear(2 * h, h, rng=seeds[2], dtype=dtype)
        self.bridge_c = Linear(2 * h, h, rng=seeds[3], dtype=dtype)
        self.target_embedding = Embedding(target_vocab, embedding_size, rng=seeds[4], dtype=dtype)
        self.decoder = LSTM(embedding_size, h, impl=impl, rng=seeds[5], dtype=dtype)
        self.attention = None
        if attention != "none":
            self.attention = Attention(attention, 2 * h, h, self.attention_size, rng=seeds[6],
                                       dtype=dtype)
        seeds_out = np.random.default_rng(seeds[7]).integers(0, 2**63 - 1, size=2)
        self.combine = Linear((3 if self.attention else 1) * h, h, rng=seeds_out[0], dtype=dtype)
        self.output = Linear(h, target_vocab, rng=seeds_out[1], dtype=dtype)

    def config(self) -> dict:
        """The constructor's arguments (what a saved model needs besides its weights)."""
        return {"source_vocab": self.source_vocab, "target_vocab": self.target_vocab,
                "embedding_size": self.embedding_size, "hidden_size": self.hidden_size,
                "attention": self.attention_kind, "attention_size": self.attention_size}

    def encode(self, source, lengths) -> Memory:
        """The memory of a padded source batch (B, S) with its lengths (B,)."""
        # source and lengths may be Tensors (a compiled step's: the program reads them)
        lengths = lengths if isinstance(lengths, mg.Tensor) else np.asarray(lengths)
        source = source if isinstance(source, mg.Tensor) else np.asarray(source)
        if source.ndim != 2 or lengths.shape != (source.shape[0],):
            raise ValueError(f"Seq2Seq.encode: source must be (B, S) and lengths (B,), got "
                             f"{source.shape} and {lengths.shape}")
        try:
            mask = valid_mask(lengths, source.shape[1], batch_first=True)
        except ValueError as e:
            raise ValueError(f"Seq2Seq.encode: {e}") from None
        outputs, (h_n, c_n) = self.encoder(self.source_embedding(source.T), lengths=lengths)
        keys = outputs.transpose(1, 0, 2)
        h0 = self.bridge_h(mg.concat([h_n[0], h_n[1]], axis=-1)).tanh()
        c0 = self.bridge_c(mg.concat([c_n[0], c_n[1]], axis=-1)).tanh()
        batch = source.shape[0]
        state = (h0.reshape(1, batch, self.hidden_size), c0.reshape(1, batch, self.hidden_size))
        projected = self.attention.project(keys) if self.attention is not None else None
        return Memory(keys, projected, mask, state)

    def decode(self, memory: Memory, target_in, state=None):
        """logits (B, T, V), weights (B, T, S) or None, and the decoder's (h, c) after
        target_in (B, T); state defaults to the memory's initial one (steps carry it)."""
        target_in = target_in if isinstance(target_in, mg.Tensor) else np.asarray(target_in)
        out, state = self.decoder(self.target_embedding(target_in.T), state or memory.state)
        query = out.transpose(1, 0, 2)
        weights = None
        if self.attention is not None:
            context, weights = self.attention(query, memory)
            query = mg.concat([context, query], axis=-1)
        return self.output(self.combine(query).tanh()), weights, state

    def forward(self, source, lengths, target_in):
        logits, weights, _ = self.decode(self.encode(source, lengths), target_in)
        return logits, weights

    def extra_repr(self):
        return f"attention={self.attention_kind!r}"
