"""CLI: ``coherence experiments NAME|audit|timing`` and ``coherence report``."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

from coherence._io import plain_stem
from coherence._options import float_option, int_option
from coherence.experiments.authors import FAMILIES
from coherence.experiments.runs import EXPERIMENTS, instance_items, with_parameters

__all__ = ["MAX_FRESH", "MAX_RUNS", "parse_ks", "parse_temperatures", "register"]

#: Largest ``timing --runs`` (Monte Carlo runs per (k, m)).
MAX_RUNS = 1_000_000
#: Most fresh instances of one sweep (``--fresh``; the published lists hold
#: 140).
MAX_FRESH = 100_000


def parse_ks(text: str) -> list[int]:
    """``--ks 1,2,3`` -> [1, 2, 3]; each k a positive integer."""
    try:
        ks = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(
            f"--ks: expected comma-separated integers, got {text!r}"
        ) from None
    if not ks or any(k <= 0 for k in ks):
        raise ValueError(f"--ks: every k must be a positive integer, got {text!r}")
    return ks


def parse_temperatures(text: str) -> list[float]:
    """``--temperatures 0.1,1,8`` -> floats; non-empty, each > 0 and finite."""
    try:
        temps = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(
            f"--temperatures: expected comma-separated numbers, got {text!r}"
        ) from None
    if not temps:
        raise ValueError("--temperatures: the temperature list is empty")
    if any(not (math.isfinite(t) and t > 0) for t in temps):
        raise ValueError(f"--temperatures: every temperature must be > 0, got {text!r}")
    return temps


def _families(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [x.strip() for x in text.split(",") if x.strip()]
    known = [f[0] for f in FAMILIES]
    for n in names:
        if n not in known:
            raise ValueError(
                f"--families: unknown family {n!r}; expected one of {', '.join(known)}"
            )
    if not names:
        raise ValueError("--families: the family list is empty")
    return names


def _items(args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.ks is not None and args.experiment != "effective-horizon":
        raise ValueError(
            f"--ks: only effective-horizon uses GORP k values, not {args.experiment}"
        )
    if args.temperatures is not None and args.experiment != "misalignment":
        raise ValueError(
            f"--temperatures: only misalignment takes temperatures, "
            f"not {args.experiment}"
        )
    if args.fresh_seed is not None and not args.fresh:
        raise ValueError("--fresh-seed: given without --fresh N")
    families = _families(args.families)
    ks = parse_ks(args.ks) if args.ks is not None else None
    temps = (
        parse_temperatures(args.temperatures) if args.temperatures is not None else None
    )
    if args.fresh < 0:
        raise ValueError(f"--fresh: expected a non-negative integer, got {args.fresh}")
    items = instance_items(
        args.experiment, fresh=args.fresh, fresh_seed=args.fresh_seed or 0
    )
    if families is not None:
        items = [it for it in items if it["family"] in families]
    if args.limit is not None:
        if args.limit <= 0:
            raise ValueError(f"--limit: expected a positive integer, got {args.limit}")
        items = items[: args.limit]
    return with_parameters(items, ks=ks, temperatures=temps)


def _run(args: argparse.Namespace) -> int:
    from coherence.experiments.sweep import check_scheduler, run_sweep

    name = args.name or (
        args.experiment + (f"-fresh{args.fresh}" if args.fresh else "")
    )
    plain_stem(name)  # a table name stays inside --out
    if args.scheduler is not None:
        check_scheduler(args.scheduler, timeout=args.scheduler_timeout).close()
    items = _items(args)
    start = time.perf_counter()
    rows = run_sweep(
        items,
        args.out,
        name,
        workers=args.workers,
        scheduler=args.scheduler,
        scheduler_timeout=args.scheduler_timeout,
        chunk=args.chunk,
        progress=not args.no_progress,
    )
    wall = time.perf_counter() - start
    full = len(instance_items(args.experiment)) if not args.fresh else len(items)
    scope = (
        "the whole published list"
        if len(items) == full and not (args.ks or args.temperatures)
        else f"PARTIAL: {len(items)} of {full} instances or non-default parameters"
        if not args.fresh
        else f"{len(items)} fresh instances"
    )
    print(
        f"{name}: {len(items)} instances ({scope}), {len(rows)} rows, "
        f"{wall:.1f} s -> {Path(args.out) / name}.parquet, .csv, .manifest.json"
    )
    return 0


def _audit(args: argparse.Namespace) -> int:
    from coherence.experiments.audit import (
        audit_instances,
        audit_summary,
        errata,
        render_audit,
    )
    from coherence.experiments.report import coverage_header, ensure_results
    from coherence.experiments.sweep import check_scheduler

    if args.scheduler is not None:
        check_scheduler(args.scheduler, timeout=args.scheduler_timeout).close()
    data = ensure_results(
        args.out,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=not args.no_progress,
    )
    eh = data["effective-horizon"]
    lines = audit_summary(
        eh,
        data["misalignment"],
        data["iterated"],
        data["return-incoherence"],
        data["return-improvement"],
    )
    per = audit_instances(eh)
    print(coverage_header(data))
    print(render_audit(lines))
    print(
        f"Per-instance audit, {len({(r['family'], r['seed']) for r in per})} "
        "instances (published vs exact; 1e-9 relative):"
    )
    from collections import Counter

    for (q, v), n in sorted(
        Counter((r["quantity"], r["verdict"]) for r in per).items()
    ):
        print(f"  {q:12s} {v:45s} {n}")
    print("\nErrata:")
    for e in errata(eh):
        print(f"- {e.title}: the paper says {e.paper}; exact: {e.evidence}")
    return 0


def _timing(args: argparse.Namespace) -> int:
    from coherence.experiments.authors import authors_tree, published_instances
    from coherence.experiments.horizon import effective_horizon, monte_carlo_horizon

    rows = published_instances()
    if not 0 <= args.index < len(rows):
        raise ValueError(
            f"--index: expected 0 <= index <= {len(rows) - 1}, got {args.index}"
        )
    if args.runs <= 0:
        raise ValueError(f"--runs: expected a positive integer, got {args.runs}")
    row = rows[args.index]
    tree = authors_tree(row.actions, row.depth, row.seed)
    t0 = time.perf_counter()
    exact = effective_horizon(tree)
    t1 = time.perf_counter()
    mc, _ = monte_carlo_horizon(tree, runs=args.runs, seed=0)
    t2 = time.perf_counter()
    print(
        f"{row.family} seed {row.seed}: exact H = "
        f"{exact.h['authors']:g} in {t1 - t0:.2f} s; "
        f"Monte Carlo ({args.runs} runs per (k, m)) H = {mc:g} in {t2 - t1:.2f} s; "
        f"ratio Monte Carlo / exact = {(t2 - t1) / (t1 - t0):.1f}"
    )
    return 0


def _report(args: argparse.Namespace) -> int:
    from coherence.experiments.report import write_report
    from coherence.experiments.sweep import check_scheduler

    if args.scheduler is not None:
        check_scheduler(args.scheduler, timeout=args.scheduler_timeout).close()
    html_path, md_path = write_report(
        args.out,
        results=args.results,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=not args.no_progress,
    )
    print(f"wrote {html_path} and {md_path}")
    return 0


def _sweep_needs(args: argparse.Namespace) -> tuple[str, ...]:
    """pyarrow writes the tables; a ``--scheduler`` needs dask's client."""
    scheduler = ("dask", "distributed") if getattr(args, "scheduler", None) else ()
    return ("pyarrow", *scheduler)


def _report_needs(args: argparse.Namespace) -> tuple[str, ...]:
    """The audit and the report run sweeps (pyarrow) and draw figures."""
    return ("matplotlib", *_sweep_needs(args))


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workers",
        type=int_option("--workers", low=0, high=1024),
        default=None,
        help="processes (0: in this process; default: CPU count)",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on a Dask distributed scheduler",
    )
    p.add_argument(
        "--scheduler-timeout",
        type=float_option("--scheduler-timeout", low=0.0, low_open=True, high=3600),
        default=5.0,
        metavar="SECONDS",
        help="bound on the whole --scheduler handshake (default 5)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def register(subparsers: Any) -> None:
    """Add ``experiments`` (one subcommand per experiment, ``audit``, ``timing``)
    and ``report``."""
    exp = subparsers.add_parser("experiments", help="the paper's experiments, exactly")
    sub = exp.add_subparsers(dest="experiments_command", required=True)
    for name in EXPERIMENTS:
        p = sub.add_parser(name, help=f"run the {name} sweep")
        p.add_argument("--out", required=True, help="results directory")
        p.add_argument(
            "--fresh",
            type=int_option("--fresh", low=0, high=MAX_FRESH),
            default=0,
            help="N fresh instances instead of the published ones",
        )
        p.add_argument(
            "--fresh-seed",
            type=int,
            default=None,
            help="seed of the fresh draws (default 0; with --fresh only)",
        )
        p.add_argument(
            "--families",
            default=None,
            help="comma-separated families (e.g. T2_A2,T3_A2)",
        )
        p.add_argument(
            "--limit",
            type=int_option("--limit"),
            default=None,
            help="first N instances only",
        )
        p.add_argument("--ks", default=None, help="GORP k values, e.g. 1,2,3,4")
        p.add_argument("--temperatures", default=None, help="comma-separated deltas")
        p.add_argument(
            "--chunk",
            type=int_option("--chunk", low=1),
            default=4,
            help="instances per task",
        )
        p.add_argument(
            "--name", default=None, help="table name (default: the experiment)"
        )
        _common(p)
        p.set_defaults(handler=_run, experiment=name, needs=_sweep_needs)
    a = sub.add_parser("audit", help="recompute every published number, with a verdict")
    a.add_argument(
        "--out", required=True, help="results directory (sweeps run there if missing)"
    )
    _common(a)
    a.set_defaults(handler=_audit, needs=_report_needs)
    t = sub.add_parser(
        "timing", help="exact GORP vs the Monte Carlo estimator, one instance"
    )
    t.add_argument(
        "--index",
        type=int_option("--index", low=0),
        default=0,
        help="published instance index (0..139)",
    )
    t.add_argument(
        "--runs", type=int_option("--runs", low=1, high=MAX_RUNS), default=500
    )
    t.set_defaults(handler=_timing)
    r = subparsers.add_parser(
        "report", help="HTML + Markdown report of the experiments"
    )
    r.add_argument("--out", required=True, help="report directory")
    r.add_argument(
        "--results", default=None, help="results directory (default: OUT/results)"
    )
    _common(r)
    r.set_defaults(handler=_report, needs=_report_needs)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(0)
