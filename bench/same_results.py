"""Whether two results files hold the same runs with the same results, timing aside: the check
that a refactoring left the experiments' behaviour unchanged (issue 19).

    python -m bench.same_results BASE/results.jsonl NEW/results.jsonl [--ignore-keys]

Rows are matched by kind and config (not by their position: parallel workers finish in any
order). Fields that say when or how fast a run went, not what it computed, are left out of the
comparison: `finished_at`, `wall_time_s`, `threads`, `versions` and the result's `wall_time`
(a training run's; the gradient-flow records hold no time). `--ignore-keys` also leaves out
the rows' `key` (for a change that renames run keys: say so when it is used). Prints one JSON
line per difference and a summary line; exit status 0 when the files agree, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys

ROW_TIMING = ("finished_at", "wall_time_s", "threads", "versions")
RESULT_TIMING = ("wall_time",)


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True)


def comparable(row: dict, ignore_keys: bool = False) -> dict:
    """The row without its timing fields (and without its key if `ignore_keys`)."""
    out = {k: v for k, v in row.items() if k not in ROW_TIMING and not (ignore_keys and k == "key")}
    result = out.get("result")
    if isinstance(result, dict):
        out["result"] = {k: v for k, v in result.items() if k not in RESULT_TIMING}
    return out


def read(path: str) -> dict[str, dict]:
    """{kind + config: row} of a results file (a repeated run: its last row)."""
    rows = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                rows[row["kind"] + " " + _canonical(row.get("config"))] = row
    return rows


def differences(base: dict[str, dict], new: dict[str, dict], ignore_keys: bool) -> list[dict]:
    out = [{"only_in": "base", "run": k} for k in base.keys() - new.keys()]
    out += [{"only_in": "new", "run": k} for k in new.keys() - base.keys()]
    for run in sorted(base.keys() & new.keys()):
        a, b = comparable(base[run], ignore_keys), comparable(new[run], ignore_keys)
        if a != b:
            fields = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
            out.append({"run": run, "fields": fields})
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base")
    parser.add_argument("new")
    parser.add_argument("--ignore-keys", action="store_true",
                        help="leave the rows' run keys out of the comparison")
    args = parser.parse_args(argv)
    base, new = read(args.base), read(args.new)
    found = differences(base, new, args.ignore_keys)
    for difference in found:
        print(json.dumps(difference))
    print(json.dumps({"base_rows": len(base), "new_rows": len(new), "differences": len(found),
                      "keys_compared": not args.ignore_keys}))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
