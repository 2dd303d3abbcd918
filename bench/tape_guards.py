"""What issue 20's guards cost on the eager path, measured side by side in one process.

    python -m bench.tape_guards [--rounds 15]

Cases, each timed `rounds` x 3 x 500 calls, alternating, the fastest kept: `mg.tanh(a)` (the
traceable wrapper of the mg. functions) next to the unwrapped op and the method `a.tanh()`;
`bump_version` (what an optimizer step adds per parameter); a recorded `a * b` and its
backward, whose path the version counter leaves unchanged. a, b are (32, 128) float32.
Prints one JSON line of microseconds per call.
"""

from __future__ import annotations

import argparse
import json
import timeit

import numpy as np


def main(argv=None) -> None:
    # minigrad imported here: asv imports every module of bench/ before knowing the commit has it
    import minigrad as mg
    from minigrad.autograd import bump_version
    from minigrad.ops import elementwise

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="alternating rounds per case")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    a = mg.tensor(rng.standard_normal((32, 128)).astype(np.float32), requires_grad=True)
    b = mg.tensor(rng.standard_normal((32, 128)).astype(np.float32), requires_grad=True)
    p = mg.tensor(rng.standard_normal((512, 128)).astype(np.float32), requires_grad=True)
    g = np.ones((32, 128), np.float32)
    cases = {
        "mg.tanh(a)": lambda: mg.tanh(a),
        "unwrapped tanh(a)": lambda: elementwise.tanh(a),
        "a.tanh()": lambda: a.tanh(),
        "bump_version": lambda: bump_version(p, "SGD.step"),
        "a * b": lambda: a * b,
        "(a * b).backward(g)": lambda: (a * b).backward(g),
    }
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(args.rounds):
        for name, fn in cases.items():
            best[name] = min(best[name], min(timeit.repeat(fn, number=500, repeat=3)) / 500 * 1e6)
    print(json.dumps({name: round(us, 3) for name, us in best.items()}))


if __name__ == "__main__":
    main()
