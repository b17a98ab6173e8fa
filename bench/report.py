"""The report: Markdown tables (median and min-max over repetitions) and PNG plots."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.profile import markdown as profile_markdown
from bench.stats import spread

try:  # the `bench` extra; without it the report has no plots
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:  # pragma: no cover
    plt = None  # type: ignore[assignment]

Results = dict[str, Any]  # {"api": [...], "decision": [...], "scale": [...], "meta": {...}}
Getter = Callable[[dict[str, Any]], float | None]

# Targets of issue 8.
TARGET_WRITES_PER_STEP = 2
TARGET_READS_PER_STEP = 0
TARGET_RATIO = 3.0
TARGET_LAG_P99 = 1.0
TARGET_RSS_MB = 300.0


def _values(runs: Sequence[dict[str, Any]], operator: str, get: Getter) -> list[float]:
    out = []
    for run in runs:
        if run.get("operator") != operator:
            continue
        value = get(run)
        if value is not None:
            out.append(float(value))
    return out


def cell(values: Sequence[float], digits: int = 2, unit: str = "") -> str:
    """"median (min-max)" of the repetitions; the median alone when they agree."""
    median, low, high = spread(values)
    if math.isnan(median):
        return "-"
    text = f"{median:.{digits}f}{unit}"
    if len(values) == 1 or f"{low:.{digits}f}" == f"{high:.{digits}f}":
        return text
    return f"{text} ({low:.{digits}f}-{high:.{digits}f})"


def ratios(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """b/a for the repetitions run side by side (the i-th of each)."""
    return [y / x for x, y in zip(a, b, strict=False) if x]


def _row(name: str, runs: Sequence[dict[str, Any]], get: Getter, digits: int = 2,
         ratio: bool = True) -> tuple[str, list[float], list[float]]:
    ours = _values(runs, "ours", get)
    theirs = _values(runs, "flagger", get)
    pairs = ratios(ours, theirs)
    ratio_cell = cell(pairs, 1, "x") if ratio and pairs else "-"
    return f"| {name} | {cell(ours, digits)} | {cell(theirs, digits)} | {ratio_cell} |", \
        ours, theirs


def _get(*path: str) -> Getter:
    def get(run: dict[str, Any]) -> float | None:
        value: Any = run
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return float(value) if isinstance(value, int | float) else None
    return get


def api_section(runs: Sequence[dict[str, Any]],
                lean: Sequence[dict[str, Any]] = ()) -> list[str]:
    lines = ["## API economy: one Canary, full promotion, requests per analysis step", "",
             "| per analysis step | ours | Flagger | Flagger ÷ ours |", "|---|---|---|---|"]
    rows = [
        ("requests (operator's own, steps 10→50)", _get("step_exact", "requests")),
        ("writes (operator's own, steps 10→50)", _get("step_exact", "writes")),
        ("reads: get+list (operator's own, steps 10→50)", _get("step_exact", "reads")),
        ("requests over the whole promotion ÷ steps (operator's own)",
         _get("promotion_exact", "requests")),
        ("requests over the whole promotion ÷ steps (all clients - baseline)",
         _get("promotion_everyone_minus_baseline", "requests")),
    ]
    for name, get in rows:
        lines.append(_row(name, runs, get)[0])
    if lean:
        for name, get in rows[:2]:
            values = _values(lean, "ours", get)
            lines.append(f"| {name.replace('operator', 'ours with STEP_EVENTS=false', 1)} | "
                         f"{cell(values)} | | |")
    keys = sorted({k for r in runs for k in r.get("step_exact_by_request", {})})
    if keys:
        lines += ["", "Per analysis step, by verb and resource (operator's own requests):", "",
                  "| request | ours | Flagger |", "|---|---|---|"]
        for key in keys:
            ours = _values(runs, "ours", _get("step_exact_by_request", key))
            theirs = _values(runs, "flagger", _get("step_exact_by_request", key))
            lines.append(f"| `{key}` | {cell(ours) if ours else '0'} | "
                         f"{cell(theirs) if theirs else '0'} |")
    return lines


def decision_section(api: Sequence[dict[str, Any]], decision: Sequence[dict[str, Any]],
                     spec: dict[str, Any]) -> list[str]:
    interval = float(spec.get("interval_seconds", 10))
    steps = int(spec.get("steps", 5))
    lines = ["## Time to decision", "",
             f"Spec: interval {interval:g} s, {steps} steps to maxWeight, threshold "
             f"{spec.get('threshold')}. Minimum promotion {steps * interval:g} s (steps x "
             f"interval); minimum rollback {spec.get('threshold', 0) * interval:g} s "
             "(threshold x interval).", "",
             "| seconds | ours | Flagger | Flagger ÷ ours |", "|---|---|---|---|"]
    rows: list[tuple[str, Sequence[dict[str, Any]], Getter, int]] = [
        ("tick duration p50 (flagger_canary_duration_seconds)", api,
         _get("tick_seconds_p50"), 3),
        ("tick duration p99 (flagger_canary_duration_seconds)", api,
         _get("tick_seconds_p99"), 3),
        ("healthy: image bump → first weight (10%)", api,
         lambda r: r["weight_change_times"][0] if r.get("weight_change_times") else None, 1),
        ("healthy: image bump → Succeeded", api, _get("promotion_seconds"), 1),
        ("100% errors: image bump → Failed (rolled back)", decision,
         _get("rollback_seconds"), 1),
        ("100% errors: rollback ÷ its minimum", decision, _get("rollback_ratio"), 2),
    ]
    for name, runs, get, digits in rows:
        lines.append(_row(name, runs, get, digits)[0])
    return lines


def scale_section(runs: Sequence[dict[str, Any]]) -> list[str]:
    counts = sorted({sum(1 for r in runs if r["n"] == n and r["operator"] == o)
                     for n in {r["n"] for r in runs} for o in {r["operator"] for r in runs}})
    lines = ["## Scale: N Canaries progressing at once (interval 10 s, healthy)", "",
             f"Runs per N and operator: {', '.join(map(str, counts))} (a lab each). Lag and "
             "CPU are taken from the image bump of all N to the last Succeeded.", "",
             "| N | figure | ours | Flagger | Flagger ÷ ours |", "|---|---|---|---|---|"]
    for n in sorted({int(r["n"]) for r in runs}):
        at_n = [r for r in runs if int(r["n"]) == n]
        for name, get, digits in (
            ("Canaries Succeeded", _get("succeeded"), 0),
            ("step lag p50 (s)", _get("step_lag_p50"), 2),
            ("step lag p99 (s)", _get("step_lag_p99"), 2),
            ("bump → all Succeeded (s)", _get("promotion_seconds"), 0),
            ("operator CPU seconds (progression)", _get("cpu_seconds"), 1),
            ("operator CPU cores (mean)", _get("cpu_cores"), 2),
            ("operator peak RSS (MB)", _get("peak_rss_mb"), 0),
            ("Prometheus queries/s", _get("prometheus_qps"), 1),
            ("initialization of all N (s)", _get("init_seconds"), 0),
        ):
            scrape = {str(r.get("scrape_interval", "1s")) for r in at_n}
            label = f"{n} (scrape {', '.join(sorted(scrape))})"
            lines.append(_row(name, at_n, get, digits)[0].replace("| ", f"| {label} | ", 1))
    return lines


def machine_section(runs: Sequence[dict[str, Any]]) -> list[str]:
    """Where the machine's CPU went during the progression, per lab component, at each
    operator's largest N (runs recorded before the breakdown existed are left out)."""
    measured = [r for r in runs if r.get("lab_cores")]
    if not measured:
        return []
    lines = ["## Where the CPU went during the progression", "",
             "Mean cores busy per lab process from the image bump to the last Succeeded "
             "(the operator is one of them), at each operator's largest N.", ""]
    columns = []
    for operator in ("ours", "flagger"):
        mine = [r for r in measured if r["operator"] == operator]
        if mine:
            columns.append(max(mine, key=lambda r: int(r["n"])))
    names = sorted({name for r in columns for name in r["lab_cores"]},
                   key=lambda name: -max(r["lab_cores"].get(name, 0.0) for r in columns))
    header = " | ".join(f"{r['operator']}, N={r['n']}" for r in columns)
    lines += [f"| process | {header} |", "|---|" + "---|" * len(columns)]
    for name in names:
        cells = " | ".join(f"{r['lab_cores'].get(name, 0.0):.2f}" for r in columns)
        lines.append(f"| {name} | {cells} |")
    total = " | ".join(f"**{sum(r['lab_cores'].values()):.2f} of {r['machine_cores']}**"
                       for r in columns)
    lines.append(f"| all | {total} |")
    return lines


def targets_section(results: Results) -> list[str]:
    api, scale = results.get("api", []), results.get("scale", [])
    lines = ["## Targets (issue 8)", ""]

    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("met" if ok else "**not met**")

    writes = spread(_values(api, "ours", _get("step_exact", "writes")))[0]
    reads = spread(_values(api, "ours", _get("step_exact", "reads")))[0]
    ours = _values(api, "ours", _get("step_exact", "requests"))
    theirs = _values(api, "flagger", _get("step_exact", "requests"))
    ratio = spread(ratios(ours, theirs))[0]
    lean = spread(_values(results.get("api_lean", []), "ours", _get("step_exact", "writes")))[0]
    lines.append(f"- ≤ {TARGET_WRITES_PER_STEP} API writes per step: "
                 f"{verdict(None if math.isnan(writes) else writes <= TARGET_WRITES_PER_STEP)}"
                 f" ({writes:.2f} with Flagger's Event per step"
                 + ("" if math.isnan(lean) else
                    f"; {verdict(lean <= TARGET_WRITES_PER_STEP)} with STEP_EVENTS=false, "
                    f"{lean:.2f}") + ")")
    lines.append(f"- 0 API reads per step: "
                 f"{verdict(None if math.isnan(reads) else reads <= TARGET_READS_PER_STEP)}"
                 f" ({reads:.2f})")
    lines.append(f"- ≥ {TARGET_RATIO:g}x fewer requests per step than Flagger: "
                 f"{verdict(None if math.isnan(ratio) else ratio >= TARGET_RATIO)}"
                 f" ({ratio:.1f}x)")
    big = [r for r in scale if r.get("operator") == "ours"]
    if big:
        n = max(int(r["n"]) for r in big)
        at_n = [r for r in big if int(r["n"]) == n]
        lag = spread([float(r["step_lag_p99"]) for r in at_n])[0]
        rss = spread([float(r["peak_rss_mb"]) for r in at_n])[0]
        scope = "" if n >= 2000 else f" (measured at N={n}, not 2,000)"
        lines.append(f"- p99 step lag < {TARGET_LAG_P99:g} s{scope}: "
                     f"{verdict(lag < TARGET_LAG_P99)} ({lag:.2f} s)")
        lines.append(f"- operator RSS < {TARGET_RSS_MB:g} MB{scope}: "
                     f"{verdict(rss < TARGET_RSS_MB)} ({rss:.0f} MB)")
    return lines


def markdown(results: Results) -> str:
    meta = results.get("meta", {})
    spec = meta.get("spec", {})
    lines = ["# Benchmarks: canary-operator against Flagger v1.44.0", "",
             f"{meta.get('when', '')} on {meta.get('machine', 'this machine')}; "
             f"{meta.get('repeat', 1)} repetition(s) per figure, shown as median "
             "(min-max). Ratios pair the i-th run of each operator. Each operator runs on "
             "a lab of its own with the same spec and the same simulated traffic.", ""]
    if results.get("api"):
        lines += [*api_section(results["api"], results.get("api_lean", [])), ""]
    if results.get("api") or results.get("decision"):
        lines += [*decision_section(results.get("api", []), results.get("decision", []),
                                    spec), ""]
    if results.get("scale"):
        lines += [*scale_section(results["scale"]), ""]
        machine = machine_section(results["scale"])
        if machine:
            lines += [*machine, ""]
    lines += [*targets_section(results), ""]
    for note in meta.get("notes", []):
        lines.append(f"- {note}")
    return "\n".join(lines).rstrip() + "\n"


SUMMARY_ROWS = (
    "| requests (operator", "| writes (", "| reads:", "| requests over the whole promotion",
    "| tick duration p99", "| healthy: image bump → Succeeded", "| 100% errors: image bump",
)
SUMMARY_SCALE = ("Canaries Succeeded", "step lag p99", "operator CPU seconds",
                 "operator peak RSS", "Prometheus queries/s")


def summary(results: Results) -> str:
    """The few lines kept in git: the headline rows with their spread, and the targets."""
    keep: list[str] = []
    in_notes = in_machine = False
    for line in markdown(results).splitlines():
        if line.startswith("Per analysis step, by verb"):
            in_notes = True
        elif line.startswith("## "):
            in_notes = False
            in_machine = line.startswith("## Where the CPU went")
        if in_notes:
            continue
        if in_machine and line.startswith("|"):
            keep.append(line)
        elif (line.startswith(("# ", "## ", "- ≤", "- 0 API", "- ≥", "- p99", "- operator RSS",
                             "| per analysis step", "| seconds", "| N |", "|---"))
                or line.startswith(SUMMARY_ROWS)
                or (line.startswith("| ") and any(f"| {k}" in line for k in SUMMARY_SCALE))):
            keep.append(line if not line.startswith("## ") else f"\n{line}\n")
    return "\n".join(keep).strip() + "\n\nFull report: bench/results/report.md (make bench).\n"


def plots(results: Results, out: Path) -> list[Path]:
    """PNG plots next to the report; none when matplotlib is missing."""
    if plt is None:
        return []
    written: list[Path] = []
    colours = {"ours": "tab:blue", "flagger": "tab:orange"}
    api = results.get("api", [])
    if api:
        keys = sorted({k for r in api for k in r.get("step_exact_by_request", {})})
        fig, ax = plt.subplots(figsize=(9, 4.5))
        width = 0.4
        for i, operator in enumerate(("ours", "flagger")):
            medians, lows, highs = [], [], []
            for key in keys:
                values = _values(api, operator, _get("step_exact_by_request", key)) or [0.0]
                median, low, high = spread(values)
                medians.append(median)
                lows.append(median - low)
                highs.append(high - median)
            positions = [k + (i - 0.5) * width for k in range(len(keys))]
            ax.bar(positions, medians, width, yerr=[lows, highs], label=operator,
                   color=colours[operator], capsize=3)
        ax.set_xticks(range(len(keys)), keys, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel("requests per analysis step")
        ax.set_title("kube-apiserver requests per step (median, min-max)")
        ax.legend()
        fig.tight_layout()
        written.append(out / "api_per_step.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    scale = results.get("scale", [])
    if scale:
        figures = (("step_lag_p99", "p99 step lag (s)"), ("cpu_seconds", "CPU seconds"),
                   ("peak_rss_mb", "peak RSS (MB)"), ("prometheus_qps", "Prometheus queries/s"))
        fig, axes = plt.subplots(1, len(figures), figsize=(14, 3.6))
        for ax, (key, label) in zip(axes, figures, strict=True):
            for operator in ("ours", "flagger"):
                ns = sorted({int(r["n"]) for r in scale if r["operator"] == operator})
                if not ns:
                    continue
                stats = [spread([float(r[key]) for r in scale
                                 if r["operator"] == operator and int(r["n"]) == n])
                         for n in ns]
                ax.errorbar(ns, [s[0] for s in stats],
                            yerr=[[s[0] - s[1] for s in stats], [s[2] - s[0] for s in stats]],
                            marker="o", capsize=3, label=operator, color=colours[operator])
            ax.set_xlabel("Canaries")
            ax.set_title(label, fontsize=10)
        axes[0].legend()
        fig.tight_layout()
        written.append(out / "scale.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    return written


def write(results: Results, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    report = out / "report.md"
    text = markdown(results)
    for profile in sorted(out.glob("profile-n*.txt")):
        text += "\n## Profile of our operator (py-spy)\n\n" + profile_markdown(profile)
    images = plots(results, out)
    if images:
        text += "\n" + "\n".join(f"![{p.stem}]({p.name})" for p in images) + "\n"
    report.write_text(text)
    (out / "latest-summary.md").write_text(summary(results))
    return report
