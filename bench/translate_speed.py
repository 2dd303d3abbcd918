"""Training speed of the lstm translate model, minigrad next to PyTorch on the same model, data,
batches and settings, each library in its own process.

    python -m bench.translate_speed [--preset quick] [--attention additive] [--threads 2]
                                    [--steps 30] [--rounds 3]

A step is one teacher-forced mini-batch of `lstm translate`'s training loop: encoder, decoder,
attention, cross-entropy, backward, clipping, Adam. A worker builds the preset's model (torch:
the same weights, bench/translate_torch.py), warms up 3 steps (JIT compilation), times `steps`
consecutive steps and prints one JSON line; rounds alternate the libraries so a busy machine
slows both alike. Prints each round and the median ms per step of each library.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def worker(library: str, preset: str, attention: str, threads: int, steps: int) -> dict:
    import numpy as np

    from lstm.apps.translate import train as translate
    from lstm.apps.translate.data import PAD_ID, pad_batch

    config = translate.preset_config(preset, attention=attention)
    corpus = translate.load_corpus(config)
    model = translate.build_model(config, corpus, np.random.default_rng(0))
    source_ids, target_ids = corpus.ids("train")
    batches = []
    for start in range(0, (steps + 3) * config.batch_size, config.batch_size):
        index = np.arange(start, start + config.batch_size) % len(source_ids)
        src, lengths = pad_batch([source_ids[i] for i in index])
        tgt, _ = pad_batch([target_ids[i] for i in index], bos_eos=True)
        batches.append((src, lengths, tgt))
    if library == "torch":
        import torch

        from bench.translate_torch import from_minigrad

        torch.set_num_threads(threads)
        net = from_minigrad(model)
        opt = torch.optim.Adam(net.parameters(), lr=config.lr)

        def step(src, lengths, tgt):
            logits, _ = net(src, lengths, tgt[:, :-1])
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), torch.as_tensor(tgt[:, 1:]).reshape(-1),
                ignore_index=PAD_ID)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), config.clip)
            opt.step()
    else:
        import minigrad as mg
        from minigrad import optim

        opt = optim.Adam(model.parameters(), lr=config.lr)

        def step(src, lengths, tgt):
            logits, _ = model(src, lengths, tgt[:, :-1])
            loss = mg.cross_entropy(logits, tgt[:, 1:], ignore_index=PAD_ID)
            opt.zero_grad()
            loss.backward()
            optim.clip_grad_norm_(opt.params, config.clip)
            opt.step()
    for batch in batches[:3]:
        step(*batch)
    started = time.perf_counter()
    for batch in batches[3:]:
        step(*batch)
    return {"library": library, "ms_per_step": 1e3 * (time.perf_counter() - started) / steps,
            "attention": attention, "preset": preset, "threads": threads, "steps": steps}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--attention", default="additive")
    parser.add_argument("--libraries", default="minigrad,torch")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.preset, args.attention, args.threads,
                                args.steps)), flush=True)
        return 0
    times: dict = {}
    for _ in range(args.rounds):
        for library in args.libraries.split(","):
            env_threads = str(args.threads)
            done = subprocess.run(
                [sys.executable, "-m", "bench.translate_speed", "--worker", library,
                 "--preset", args.preset, "--attention", args.attention, "--threads",
                 env_threads, "--steps", str(args.steps)], cwd=ROOT, capture_output=True,
                text=True, check=True,
                env={**__import__("os").environ, "OMP_NUM_THREADS": env_threads,
                     "OPENBLAS_NUM_THREADS": env_threads, "NUMBA_NUM_THREADS": env_threads})
            row = json.loads(done.stdout.strip().splitlines()[-1])
            print(json.dumps(row), flush=True)
            times.setdefault(library, []).append(row["ms_per_step"])
    print(json.dumps({k: statistics.median(v) for k, v in times.items()}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
