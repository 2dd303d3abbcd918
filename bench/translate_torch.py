"""The `lstm translate` model in PyTorch, for the comparison table of
docs/applications_translate.md and the parity test (tests/lstm/apps/test_translate_torch.py).

Same architecture and parameter names as lstm.apps.translate.model.Seq2Seq (so one state_dict
loads into both), same data, same initial weights (copied from the minigrad model built with
the run's seed), same batches in the same order (the same numpy generator), Adam, gradient
clipping, the epoch best on validation exact match kept; scored with torch's own greedy and
beam-search decoders (the beam's width from the config, as ours).

    python -m bench.translate_torch [--preset default] [--attention additive,multiplicative,none]
                                    [--seeds 0] [--threads 2] [--out DIR] [lstm translate's options]

appends one row of kind "translate_torch" per run to DIR/results.jsonl. Never imported by lstm.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time

import numpy as np

KIND = "translate_torch"
SWEEP = ("attention", "seed")  # one run per attention x seed, as lstm translate


@functools.cache
def _torch_model():
    """The torch classes, defined on first use (asv imports bench/ without torch)."""
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    class Attention(nn.Module):
        def __init__(self, kind: str, key_size: int, query_size: int, attention_size: int):
            super().__init__()
            self.kind = kind
            if kind == "additive":
                self.key = nn.Linear(key_size, attention_size, bias=False)
                self.query = nn.Linear(query_size, attention_size)
                self.score = nn.Linear(attention_size, 1, bias=False)
            else:
                self.key = nn.Linear(key_size, query_size, bias=False)

        def forward(self, query, keys, projected, mask):
            if self.kind == "additive":
                scores = self.score(torch.tanh(projected[:, None] + self.query(query)[:, :, None]))
                scores = scores.squeeze(-1)
            else:
                scores = query @ projected.transpose(1, 2)
            scores = scores.masked_fill(~mask[:, None, :], -1e9)
            weights = torch.softmax(scores, dim=-1)
            return weights @ keys, weights


    class TorchSeq2Seq(nn.Module):
        def __init__(self, source_vocab, target_vocab, embedding_size, hidden_size, attention,
                     attention_size):
            super().__init__()
            h = hidden_size
            self.hidden_size = h
            self.source_embedding = nn.Embedding(source_vocab, embedding_size)
            self.encoder = nn.LSTM(embedding_size, h, bidirectional=True)
            self.bridge_h, self.bridge_c = nn.Linear(2 * h, h), nn.Linear(2 * h, h)
            self.target_embedding = nn.Embedding(target_vocab, embedding_size)
            self.decoder = nn.LSTM(embedding_size, h)
            self.attention = (Attention(attention, 2 * h, h, attention_size)
                              if attention != "none" else None)
            self.combine = nn.Linear((3 if self.attention else 1) * h, h)
            self.output = nn.Linear(h, target_vocab)

        def encode(self, source, lengths):
            source, lengths = torch.as_tensor(source), torch.as_tensor(lengths)
            packed = pack_padded_sequence(self.source_embedding(source.T), lengths,
                                          enforce_sorted=False)
            out, (h_n, c_n) = self.encoder(packed)
            out, _ = pad_packed_sequence(out, total_length=source.shape[1])
            keys = out.transpose(0, 1)
            h0 = torch.tanh(self.bridge_h(torch.cat([h_n[0], h_n[1]], -1)))[None]
            c0 = torch.tanh(self.bridge_c(torch.cat([c_n[0], c_n[1]], -1)))[None]
            projected = self.attention.key(keys) if self.attention is not None else None
            mask = torch.arange(source.shape[1])[None, :] < lengths[:, None]
            return keys, projected, mask, (h0.contiguous(), c0.contiguous())

        def decode(self, memory, target_in, state=None):
            keys, projected, mask, initial = memory
            out, state = self.decoder(self.target_embedding(torch.as_tensor(target_in).T),
                                      state or initial)
            query, weights = out.transpose(0, 1), None
            if self.attention is not None:
                context, weights = self.attention(query, keys, projected, mask)
                query = torch.cat([context, query], -1)
            return self.output(torch.tanh(self.combine(query))), weights, state

        def forward(self, source, lengths, target_in):
            logits, weights, _ = self.decode(self.encode(source, lengths), target_in)
            return logits, weights

    return TorchSeq2Seq


def from_minigrad(model, dtype=None):
    """The torch model with the weights of a minigrad Seq2Seq (float32 unless dtype)."""
    import torch

    dtype = dtype or torch.float32
    c = model.config()
    reference = _torch_model()(c["source_vocab"], c["target_vocab"], c["embedding_size"],
                             c["hidden_size"], c["attention"], c["attention_size"]).to(dtype)
    state = {k: torch.tensor(np.asarray(v), dtype=dtype) for k, v in model.state_dict().items()}
    reference.load_state_dict(state, strict=True)
    return reference


def greedy(model, source, lengths, max_len: int) -> np.ndarray:
    import torch

    with torch.no_grad():
        return _greedy(torch, model, source, lengths, max_len)


def _greedy(torch, model, source, lengths, max_len: int) -> np.ndarray:
    from lstm.apps.translate.data import BOS_ID, EOS_ID, PAD_ID

    memory = model.encode(source, lengths)
    batch = len(lengths)
    ids = np.full((batch, max_len), PAD_ID, np.int64)
    previous, state, done = torch.full((batch, 1), BOS_ID), None, np.zeros(batch, bool)
    for t in range(max_len):
        logits, _, state = model.decode(memory, previous, state)
        token = logits[:, 0].argmax(-1).numpy()
        ids[:, t] = np.where(done, PAD_ID, token)
        done |= token == EOS_ID
        if done.all():
            break
        previous = torch.as_tensor(token)[:, None]
    return ids


def beam_search(model, source, lengths, width: int, max_len: int):
    """ids (B, max_len) and summed log probability (B,) of each sentence's best finished (or,
    at max_len, best) prefix: the rule of lstm.apps.translate.decode.beam_search (no length
    normalisation; a finished prefix extends only by padding, at no cost; ties to the lower
    beam and token), written with torch's own operations."""
    import torch

    with torch.no_grad():
        ids, score = _beam_search(torch, model, source, lengths, width, max_len)
    return ids.numpy(), score.numpy()


def _beam_search(torch, model, source, lengths, width: int, max_len: int):
    from lstm.apps.translate.data import BOS_ID, EOS_ID, PAD_ID

    keys, projected, mask, (h, c) = model.encode(source, lengths)
    batch = len(lengths)
    copies = torch.arange(batch).repeat_interleave(width)  # every sentence `width` times
    memory = (keys[copies], None if projected is None else projected[copies], mask[copies],
              (h[:, copies], c[:, copies]))
    score = torch.zeros(batch, width, dtype=torch.float64)
    score[:, 1:] = -torch.inf  # one live prefix at the start: the copies would tie
    prefix = torch.full((batch, width, max_len), PAD_ID, dtype=torch.int64)
    ended = torch.zeros(batch, width, dtype=torch.bool)
    token, state = torch.full((batch * width, 1), BOS_ID, dtype=torch.int64), None
    for t in range(max_len):
        logits, _, state = model.decode(memory, token, state)
        logp = torch.log_softmax(logits[:, 0].double(), dim=-1).view(batch, width, -1)
        vocab = logp.shape[-1]
        pad_only = torch.full((vocab,), -torch.inf, dtype=torch.float64)
        pad_only[PAD_ID] = 0.0
        logp = torch.where(ended[:, :, None], pad_only, logp)
        total, order = torch.sort((score[:, :, None] + logp).view(batch, -1), dim=1,
                                  descending=True, stable=True)
        score, order = total[:, :width], order[:, :width]
        parent, word = order.div(vocab, rounding_mode="floor"), order.remainder(vocab)
        prefix = prefix.gather(1, parent[:, :, None].expand(-1, -1, max_len)).clone()
        prefix[:, :, t] = word
        ended = ended.gather(1, parent) | (word == EOS_ID)
        if bool(ended.all()):
            break
        rows = (parent + width * torch.arange(batch)[:, None]).flatten()
        state = (state[0][:, rows], state[1][:, rows])
        token = word.masked_fill(word == PAD_ID, EOS_ID).reshape(-1, 1)
    best = torch.where(ended, score, score - 1e18).argmax(dim=1)
    return prefix[torch.arange(batch), best], score[torch.arange(batch), best]


def translate(model, corpus, sources, beam_width: int = 1, batch_size: int = 256) -> list[str]:
    """Detokenised translations of token lists `sources`: greedy, or beam search of
    `beam_width` (> 1)."""
    from lstm.apps.translate.data import detokenize, pad_batch
    from lstm.apps.translate.train import max_target_len

    texts = []
    model.eval()
    for start in range(0, len(sources), batch_size):
        part = [corpus.source_vocab.encode(s) for s in sources[start:start + batch_size]]
        src, lengths = pad_batch(part)
        if beam_width == 1:
            ids = greedy(model, src, lengths, max_target_len(corpus))
        else:
            ids = beam_search(model, src, lengths, beam_width, max_target_len(corpus))[0]
        texts += [detokenize(corpus.target_vocab.decode(row)) for row in ids]
    model.train()
    return texts


def train(config) -> dict:
    """One run of `config` (a TranslateConfig) in torch; the scores of minigrad's (greedy and
    beam search of config.beam_width)."""
    import torch
    from torch import nn

    from lstm.apps.translate.data import PAD_ID, detokenize, pad_batch
    from lstm.apps.translate.train import build_model, load_corpus, scores

    corpus = load_corpus(config)
    rng = np.random.default_rng(config.seed)
    model = from_minigrad(build_model(config, corpus, rng))
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    source_ids, target_ids = corpus.ids("train")
    val_refs = [detokenize(t) for _, t in corpus.val]
    best, curve, started = (-1.0, 0, None), [], time.perf_counter()
    for epoch in range(config.epochs):
        order, losses = rng.permutation(len(source_ids)), []
        for start in range(0, len(order), config.batch_size):
            index = order[start:start + config.batch_size]
            src, lengths = pad_batch([source_ids[i] for i in index])
            tgt, _ = pad_batch([target_ids[i] for i in index], bos_eos=True)
            logits, _ = model(src, lengths, tgt[:, :-1])
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                               torch.as_tensor(tgt[:, 1:]).reshape(-1),
                                               ignore_index=PAD_ID)
            opt.zero_grad()
            loss.backward()
            if config.clip:
                nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            opt.step()
            losses.append(loss.item())
        val = scores(translate(model, corpus, [s for s, _ in corpus.val]), val_refs)
        curve.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)),
                      "val_exact_match": val["exact_match"]})
        if val["exact_match"] > best[0]:
            best = (val["exact_match"], epoch + 1,
                    {k: v.clone() for k, v in model.state_dict().items()})
    model.load_state_dict(best[2])
    train_time = time.perf_counter() - started
    test_sources = [s for s, _ in corpus.test]
    references = [detokenize(t) for _, t in corpus.test]
    beam = translate(model, corpus, test_sources, config.beam_width)
    return {**scores(translate(model, corpus, test_sources), references),
            **{k + "_beam": v for k, v in scores(beam, references).items()},
            "val_exact_match": best[0], "best_epoch": best[1], "curve": curve,
            "train_time": train_time, "epoch_time": train_time / config.epochs,
            "torch": torch.__version__, "threads": torch.get_num_threads()}


def main(argv=None) -> int:
    from lstm.apps.common.cli import add_config_options, configs_from_args
    from lstm.apps.common.runs import run_missing
    from lstm.apps.translate.model import ATTENTIONS
    from lstm.apps.translate.train import PRESETS, TranslateConfig
    from lstm.runs.results_io import make_row

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_config_options(parser, TranslateConfig, PRESETS, SWEEP, "default")  # lstm translate's
    parser.set_defaults(attention=ATTENTIONS)
    parser.add_argument("--threads", type=int, default=2, help="torch's threads")
    parser.add_argument("--out", default="results", help="output directory")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)

    def train_row(config, key):
        result = train(config)
        print(json.dumps({**config.to_dict(), **{k: v for k, v in result.items()
                                                if k != "curve"}}), flush=True)
        return make_row(KIND, config.to_dict(), result, wall_time_s=result["train_time"])

    run_missing(configs_from_args(TranslateConfig, PRESETS, args, SWEEP),
                os.path.join(args.out, "results.jsonl"), KIND, train_row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
