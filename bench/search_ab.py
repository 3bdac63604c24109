"""Two (or more) server configurations of /v1/search, side by side: rounds of fresh uvicorn servers, the variants
taking turns within each round, so the machine's drift hits every variant alike.

    python -m bench.search_ab --variant on= --variant off=LIRA_SPELL_DENSE=false [--rounds 3] [--requests 300]
                              [--json OUT]

A variant is ``NAME=`` (the defaults) or ``NAME=VAR=VALUE[,VAR=VALUE...]`` (environment for its server);
``CHECKOUT=DIR`` serves it from another checkout (``git worktree add DIR COMMIT``: before/after a change). Each round
and variant: a warm-up, then ``--requests`` distinct queries at concurrency 1 and as many at concurrency 8 (the
queries differ between rounds, not between variants of a round). Prints p50/p95 at c=1 and QPS at c=8 per round
and the medians over rounds.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from bench.common import run_level, shopper_queries, uvicorn_server


def parse_variant(spec: str) -> tuple[str, dict[str, str]]:
    name, sep, env = spec.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"a variant is NAME= or NAME=VAR=VALUE[,VAR=VALUE...], got {spec!r}")
    pairs = {}
    for item in filter(None, env.split(",")):
        var, eq, value = item.partition("=")
        if not eq or not var:
            raise argparse.ArgumentTypeError(f"{spec!r}: {item!r} is not VAR=VALUE")
        pairs[var] = value
    return name, pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", type=parse_variant, action="append", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    variants = dict(args.variant)
    if len(variants) < 2:
        raise SystemExit("error: give at least two --variant")

    r = args.requests
    per_round = 2 * r
    queries = shopper_queries(30 + args.rounds * per_round)
    warmup = queries[:30]
    rows: dict[str, list[dict]] = {name: [] for name in variants}
    for n in range(args.rounds):
        level1 = queries[30 + n * per_round : 30 + n * per_round + r]
        level8 = queries[30 + n * per_round + r : 30 + (n + 1) * per_round]
        for name, env in variants.items():
            with uvicorn_server(env) as url:
                run_level(url, warmup, 1)
                c1 = run_level(url, level1, 1)
                c8 = run_level(url, level8, 8)
            row = {
                "c1_p50_ms": c1["p50_ms"],
                "c1_p95_ms": c1["p95_ms"],
                "c8_qps": c8["qps"],
                "errors": c1["errors"] + c8["errors"],
            }
            rows[name].append(row)
            print(
                f"round {n + 1} {name:>8}: c=1 p50 {row['c1_p50_ms']} ms  p95 {row['c1_p95_ms']} ms  "
                f"c=8 {row['c8_qps']} QPS  errors {row['errors']}",
                flush=True,
            )
    summary = {
        name: {
            key: round(statistics.median(row[key] for row in runs), 2) for key in ("c1_p50_ms", "c1_p95_ms", "c8_qps")
        }
        | {"errors": sum(x["errors"] for x in runs)}
        for name, runs in rows.items()
    }
    for name, s in summary.items():
        print(
            f"median {name:>8}: c=1 p50 {s['c1_p50_ms']} ms  p95 {s['c1_p95_ms']} ms  c=8 {s['c8_qps']} QPS  "
            f"errors {s['errors']}"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"variants": {k: v for k, v in variants.items()}, "rounds": rows, "median": summary}, indent=2)
        )


if __name__ == "__main__":
    main()
