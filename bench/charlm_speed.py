"""Training speed of the character language model, in characters per second, minigrad next to
PyTorch on the same model, data and settings, each library in its own process.

    python -m bench.charlm_speed [--preset quick|default]
                                 [--libraries minigrad,minigrad-compile,torch]
                                 [--threads 1] [--steps 20] [--warmup 3] [--rounds 3]
                                 [--clock wall|cpu] [--out FILE.json]

One step is what `lstm charlm` trains with: a (bptt, batch) chunk of the stdlib corpus's training
streams through embedding -> stacked LSTM -> linear decoder, mean cross-entropy, backward, gradient
norm clipped at 1, an Adam update, the (h, c) carried to the next chunk detached (``minigrad-
compile``: the same step under ``mg.compile``; ``minigrad-units``, ``minigrad-compile-units``:
with the fused recurrences' threads split by hidden units, docs/fused_kernels.md). A worker warms
up (JIT compilation, first calls), times `steps` consecutive steps and prints one JSON line;
rounds alternate the libraries so a busy machine slows both alike. ``--clock cpu`` times each
step by the process's CPU time (all its threads) instead of the wall clock: on a saturated
machine that is the usable figure, with one thread (more threads add the time their OpenMP or
pool threads spin waiting).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def training_batches(config: dict):
    """The vocabulary size and the (inputs, targets) stream matrices of the training text."""
    from lstm.apps.charlm.data import Vocabulary, load_corpus, stream_matrix

    corpus = load_corpus()
    vocab = Vocabulary.from_text(corpus.train)
    inputs, targets = stream_matrix(vocab.encode(corpus.train), config["batch_size"])
    return len(vocab), inputs.astype("int64"), targets.astype("int64")


def _minigrad_model(config: dict, vocab_size: int):
    import minigrad as mg
    from lstm.apps.charlm.model import CharLM

    model = CharLM(vocab_size, config["embedding_size"], config["hidden_size"],
                   config["num_layers"], rng=0)
    return model, mg.optim.Adam(model.parameters(), lr=config["lr"])


def compiled_train_step(model, opt, clip: float = 1.0):
    """`lstm charlm`'s training step under mg.compile: (ids, targets, h, c) tensors -> (loss,
    h_n, c_n detached)."""
    import minigrad as mg

    @mg.compile
    def train(x, y, h, c):
        out, (h_n, c_n) = model.lstm(model.embedding(x), (h, c))
        loss = mg.cross_entropy(model.decoder(out), y)
        opt.zero_grad()
        loss.backward()
        mg.optim.clip_grad_norm_(opt.params, clip)
        opt.step()
        return loss, h_n.detach(), c_n.detach()

    return train


def minigrad_compiled_steps(config: dict, vocab_size: int, inputs, targets):
    """The same step under mg.compile: the ids and targets as tensors, the carried (h, c)
    starting at zeros (what state None means) and returned detached."""
    import minigrad as mg

    model, opt = _minigrad_model(config, vocab_size)
    shape = (config["num_layers"], config["batch_size"], config["hidden_size"])
    carried = {"state": (mg.zeros(shape), mg.zeros(shape))}
    train = compiled_train_step(model, opt)

    def step(i: int) -> float:
        rows = slice(i * config["bptt"], (i + 1) * config["bptt"])
        loss, *state = train(mg.tensor(inputs[rows]), mg.tensor(targets[rows]),
                             *carried["state"])
        carried["state"] = tuple(state)
        return float(loss.item())

    step.compiled = train  # for bench.charlm_profile: its programs
    return step, mg.__version__


def minigrad_steps(config: dict, vocab_size: int, inputs, targets):
    """A callable running training step i of lstm.apps.charlm.train's loop."""
    import minigrad as mg
    from lstm.apps.charlm.model import detach_state
    from minigrad import optim

    model, opt = _minigrad_model(config, vocab_size)
    carried = {"state": None}

    def step(i: int) -> float:
        rows = slice(i * config["bptt"], (i + 1) * config["bptt"])
        logits, state = model(inputs[rows], carried["state"])
        loss = mg.cross_entropy(logits, targets[rows])
        opt.zero_grad()
        loss.backward()
        optim.clip_grad_norm_(opt.params, 1.0)
        opt.step()
        carried["state"] = detach_state(state)
        return float(loss.item())

    return step, mg.__version__


def torch_steps(config: dict, vocab_size: int, inputs, targets):
    """The same step with torch.nn.Embedding + nn.LSTM + nn.Linear and torch.optim.Adam."""
    import torch

    torch.manual_seed(0)
    embedding = torch.nn.Embedding(vocab_size, config["embedding_size"])
    lstm = torch.nn.LSTM(config["embedding_size"], config["hidden_size"], config["num_layers"])
    decoder = torch.nn.Linear(config["hidden_size"], vocab_size)
    params = [*embedding.parameters(), *lstm.parameters(), *decoder.parameters()]
    opt = torch.optim.Adam(params, lr=config["lr"])
    x_all, y_all = torch.from_numpy(inputs), torch.from_numpy(targets)
    carried = {"state": None}

    def step(i: int) -> float:
        rows = slice(i * config["bptt"], (i + 1) * config["bptt"])
        out, state = lstm(embedding(x_all[rows]), carried["state"])
        logits = decoder(out)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab_size),
                                                 y_all[rows].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        carried["state"] = tuple(s.detach() for s in state)
        return float(loss)

    return step, torch.__version__


BUILDERS = {"minigrad": minigrad_steps, "minigrad-compile": minigrad_compiled_steps,
            "torch": torch_steps}
# the same steps with the fused recurrences' threads split by hidden units (cpu_runtime.set_split)
BUILDERS.update({name + "-units": BUILDERS[name] for name in ("minigrad", "minigrad-compile")})


def worker(library: str, config: dict) -> dict:
    """Warm up, then time config['steps'] consecutive training steps."""
    if library == "torch":
        import torch

        torch.set_num_threads(config["threads"])
    if library.endswith("-units"):
        from minigrad.compiler.cpu_runtime import set_split

        set_split("units")
    vocab_size, inputs, targets = training_batches(config)
    step, version = BUILDERS[library](config, vocab_size, inputs, targets)
    for i in range(config["warmup"]):
        step(i)
    seconds, loss = [], None
    clock = time.process_time if config.get("clock") == "cpu" else time.perf_counter
    for i in range(config["warmup"], config["warmup"] + config["steps"]):
        started = clock()
        loss = step(i)
        seconds.append(clock() - started)
    chars = config["batch_size"] * config["bptt"]
    median = statistics.median(seconds)
    return {"library": library, "version": version, "step_median_s": median,
            "step_min_s": min(seconds), "chars_per_s": chars / median,
            "chars_per_s_total": chars * len(seconds) / sum(seconds), "last_loss": loss,
            "steps": len(seconds), "clock": config.get("clock", "wall")}


def run(config: dict, libraries: list[str], rounds: int) -> list[dict]:
    """Every library once per round, each in a fresh process; the workers' JSON lines."""
    from bench.peers.machine import worker_env

    rows = []
    for round_index in range(rounds):
        for library in libraries:
            done = subprocess.run(
                [sys.executable, "-m", "bench.charlm_speed", "--worker", library,
                 json.dumps(config)], capture_output=True, text=True, cwd=ROOT,
                env=worker_env(ROOT, config["threads"]), timeout=3600)
            if done.returncode != 0:
                raise RuntimeError(f"{library} worker failed:\n{done.stderr[-2000:]}")
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append({**row, "round": round_index})
            print(f"round {round_index}: {library} {row['chars_per_s']:,.0f} chars/s",
                  file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict]) -> str:
    """Markdown: median over rounds of each library's chars/s, and its ratio to torch's (the
    issue's target) and to the first library listed (minigrad's eager step when it ran)."""
    best = {}
    for library in dict.fromkeys(r["library"] for r in rows):
        best[library] = statistics.median(r["chars_per_s"] for r in rows
                                          if r["library"] == library)
    first = next(iter(best))
    base = "minigrad" if "minigrad" in best else first
    lines = [f"| library | characters / s (median of rounds) | vs {base} | vs torch |",
             "|---|---|---|---|"]
    for library, value in best.items():
        vs_torch = f"{value / best['torch']:.2f}x" if "torch" in best else "-"
        lines.append(f"| {library} | {value:,.0f} | {value / best[base]:.2f}x | {vs_torch} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from bench.peers.machine import bench_parser, cpu_busy, machine_meta

    parser = bench_parser(__doc__, 2, preset="quick", threads=1,
                          metavar=("LIBRARY", "CONFIG_JSON"))
    parser.add_argument("--libraries", default="minigrad,torch")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="time steps by the wall clock or by the process's CPU time")
    args = parser.parse_args(argv)
    if args.worker:
        library, config = args.worker
        print(json.dumps(worker(library, json.loads(config))), flush=True)
        return 0
    from lstm.apps.charlm.cli import PRESETS

    libraries = [name for name in args.libraries.split(",") if name]
    unknown = sorted(set(libraries) - set(BUILDERS))
    if unknown or args.steps < 1 or args.rounds < 1 or args.threads < 1:
        parser.error(f"libraries from {sorted(BUILDERS)} (unknown: {unknown}); steps, rounds "
                     "and threads >= 1")
    config = {k: v for k, v in PRESETS[args.preset].items() if k != "ngram_max_order"}
    config.update(threads=args.threads, steps=args.steps, warmup=args.warmup, clock=args.clock)
    busy = cpu_busy()
    rows = run(config, libraries, args.rounds)
    meta = {**machine_meta(ROOT, [], args.threads), "cpu_busy_before": busy,
            "cpu_busy_after": cpu_busy(), "config": config,
            "command": "python -m bench.charlm_speed " + " ".join(argv or sys.argv[1:])}
    print(table(rows))
    print(json.dumps(meta, sort_keys=True))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
