"""`python -m bench` (`make bench`): run the scenarios, write `bench/results/`."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import api_economy, decision_time, report, scale
from bench.harness import OPERATORS, BenchLab, Operator, default_data_dir, say
from bench.workload import Spec

SCENARIOS = ("api", "decision", "scale")
NOTES = (
    "Operator's own requests: the operator runs as a ServiceAccount of its own; "
    "FlowSchemas per verb and resource count its requests exactly "
    "(apiserver_flowcontrol_dispatched_requests_total).",
    "All clients - baseline: apiserver_request_total over the promotion minus a "
    "baseline with the operator stopped (a window as long as the first promotion "
    "of each lab, used as a rate for the later ones); it includes the Deployment "
    "controller's, the scheduler's and kwok's work for the rollouts, the same for "
    "both operators.",
    "Per analysis step (steps 10->50): the operator's requests between the moments "
    "the watch saw weight 10 and weight 50, divided by the 4 steps between them.",
    "Step lag: time between two successive canary-weight changes of a "
    "VirtualService, seen on a watch, minus the interval.",
    "A scale run that does not finish stops at its timeout (interval x (steps + 8) x 2 "
    "+ 60 s + 0.4 s per Canary); its 'bump -> all Succeeded' is then that timeout and its lag "
    "covers the steps that were taken.",
    "Flagger has no listen-address flag: its -port binds every interface "
    "(the only component of the lab that does).",
)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--repeat", type=int, default=3,
                        help="repetitions of the API economy and decision scenarios")
    parser.add_argument("--scale-repeat", type=int, default=None,
                        help="repetitions of each scale run (default: --repeat)")
    parser.add_argument("--operators", default=",".join(OPERATORS),
                        help="comma-separated: ours, flagger")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help="comma-separated: api, decision, scale")
    parser.add_argument("--scale-n", default="100,500",
                        help="comma-separated numbers of Canaries (e.g. 100,500,1000,2000)")
    parser.add_argument("--interval", type=float, default=10.0,
                        help="analysis interval in seconds (Flagger's floor is 10)")
    parser.add_argument("--lean-repeat", type=int, default=None,
                        help="API economy runs of ours with STEP_EVENTS=false (default: "
                             "--repeat; 0 for none)")
    parser.add_argument("--metric-window", default="30s")
    parser.add_argument("--profile-n", type=int, default=0,
                        help="py-spy our operator during the scale run with this N")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="where the labs keep their state (default: a temp dir)")
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--scrape-interval", default="1s",
                        help="how often Prometheus scrapes the mesh simulator in the scale "
                             "runs (the lab's default 1s overloads it at N=500 on 2 cores)")
    parser.add_argument("--baseline-seconds", type=float, default=None,
                        help="length of the baseline window (default: the promotion's)")
    parser.add_argument("--merge", type=Path, nargs="*", default=None,
                        help="no run: merge these results.json files into one report")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, Any]:
    operators: list[Operator] = [o for o in OPERATORS if o in args.operators.split(",")]
    scenarios = set(args.scenarios.split(","))
    spec = Spec(interval_seconds=args.interval, metric_window=args.metric_window)
    work = args.work_dir or Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"api": [], "api_lean": [], "decision": [], "scale": [], "meta": {
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {platform.system()} {platform.machine()}",
        "repeat": args.repeat,
        "spec": {**asdict(spec), "steps": spec.steps},
        "notes": list(NOTES),
    }}
    if scenarios & {"api", "decision"}:
        for operator in operators:
            with BenchLab(operator, work, args.data_dir) as bench:
                baseline = None
                for repetition in range(args.repeat):
                    say(f"{operator}: repetition {repetition + 1}/{args.repeat}")
                    if "api" in scenarios:
                        figures = api_economy.run(bench, spec, baseline,
                                                  args.baseline_seconds)
                        baseline = figures.pop("baseline")
                        results["api"].append(figures)
                        save(args.out, results)
                    if "decision" in scenarios:
                        results["decision"].append(decision_time.run(bench, spec))
                        save(args.out, results)
                lean = args.repeat if args.lean_repeat is None else args.lean_repeat
                if operator == "ours" and "api" in scenarios and lean:
                    # The same lab and baseline, without the routine Event of each step.
                    bench.operator_env = {"CANARY_OPERATOR_STEP_EVENTS": "false"}
                    for repetition in range(lean):
                        say(f"ours, STEP_EVENTS=false: repetition {repetition + 1}/{lean}")
                        figures = api_economy.run(bench, spec, baseline, args.baseline_seconds)
                        figures.pop("baseline")
                        results.setdefault("api_lean", []).append(figures)
                        save(args.out, results)
                    bench.operator_env = {}
    if "scale" in scenarios:
        repeat = args.scale_repeat or args.repeat
        for n in (int(v) for v in args.scale_n.split(",") if v):
            for repetition in range(repeat):
                for operator in operators:
                    profile = (args.out / f"profile-n{n}.txt"
                               if operator == "ours" and n == args.profile_n and repetition == 0
                               else None)
                    say(f"scale n={n} {operator}: repetition {repetition + 1}/{repeat}")
                    results["scale"].append(scale.run(operator, work, n, spec, profile,
                                                      args.scrape_interval, args.data_dir))
                    save(args.out, results)
    return results


def save(out: Path, results: dict[str, Any]) -> None:
    """results.json after every scenario run, so a stopped run keeps what it measured."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")


def merge(paths: list[Path]) -> dict[str, Any]:
    """Results of runs made apart (e.g. one per operator) as one."""
    merged: dict[str, Any] = {"api": [], "api_lean": [], "decision": [], "scale": [],
                              "meta": {}}
    for path in paths:
        part = json.loads(path.read_text())
        for key in ("api", "api_lean", "decision", "scale"):
            merged[key] += part.get(key, [])
        merged["meta"] = merged["meta"] or part.get("meta", {})
    merged["meta"]["notes"] = list(NOTES)
    return merged


def main(argv: list[str] | None = None) -> int:
    # Stopped by a signal (even from a background job, where SIGINT starts ignored): end
    # through SystemExit so every lab is torn down.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    args = parse(argv)
    results = merge(args.merge) if args.merge else run(args)
    save(args.out, results)
    path = report.write(results, args.out)
    print(path.read_text())
    say(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
