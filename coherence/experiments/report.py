"""``coherence report``: one self-contained HTML page and its Markdown twin.

Contents: the claims ledger with families (from :mod:`coherence.proofs`), the
errata with their exact evidence, the audit of the published numbers, the
headline correlation table and every figure (PNG beside the page, referenced
relatively; SVG twins alongside). Everything is regenerated from the stored
sweep tables (running a sweep first where its table is missing).
"""

from __future__ import annotations

import html
import os
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from coherence import __version__
from coherence._io import atomic_write_text, ensure_directory
from coherence.experiments import figures
from coherence.experiments.audit import (
    _tree_mdp,
    audit_instances,
    audit_summary,
    errata,
    render_audit,
)
from coherence.experiments.runs import EXPERIMENTS, instance_items
from coherence.experiments.stats import correlate
from coherence.experiments.sweep import read_table, run_sweep

__all__ = ["ensure_results", "headline_table", "ledger_rows", "write_report"]


def ensure_results(
    results: str | os.PathLike[str],
    experiments: Sequence[str] = EXPERIMENTS,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    limit: int | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The rows of each experiment on the published instances (the first
    ``limit`` of each list when given), from ``results/NAME.parquet`` or a
    (resumable) sweep that writes it."""
    out: dict[str, list[dict[str, Any]]] = {}
    directory = Path(results)
    for name in experiments:
        table = directory / f"{name}.parquet"
        if table.exists():
            out[name] = read_table(table, sweep=name)
        else:
            items = instance_items(name)
            out[name] = run_sweep(
                items if limit is None else items[:limit],
                directory,
                name,
                workers=workers,
                scheduler=scheduler,
                progress=progress,
            )
    return out


def ledger_rows() -> list[dict[str, str]]:
    """(key, claim, family, status) of every ledger row, from the committed
    expectation of :mod:`coherence.proofs`; empty when it is unavailable."""
    try:
        from coherence.proofs.ledger import all_checks
        from coherence.proofs.report import load_expected

        expected = load_expected()
        checks = {str(getattr(c, "key", "")): c for c in all_checks()}
    except Exception as exc:  # the ledger is optional here; say why it is missing
        return [
            {
                "key": "-",
                "claim": "-",
                "family": f"ledger unavailable: {exc}",
                "status": "-",
            }
        ]
    rows = []
    for key, status in expected.items():
        c = checks.get(key)
        rows.append(
            {
                "key": key,
                "claim": str(
                    getattr(c, "statement", "") or getattr(c, "title", "") or key
                ),
                "family": str(getattr(c, "family", "") or ""),
                "status": status,
            }
        )
    return rows


def headline_table(eh: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pearson and Spearman r (95% bootstrap CI, 2000 resamples, seed 0) of each
    exact horizon against kappa_1(prior) and kappa_1(G_1)."""
    out = []
    for hcol in ("h_authors", "h_laidlaw", "k_greedy"):
        for kcol in ("kappa_prior_exact", "kappa_g1_exact", "kappa_g1_clipped"):
            pts = [(float(r[hcol]), float(r[kcol])) for r in eh]
            pts = [p for p in pts if p[0] != float("inf")]
            for method in ("pearson", "spearman"):
                c = correlate([p[0] for p in pts], [p[1] for p in pts], method=method)
                out.append(
                    {
                        "horizon": hcol,
                        "kappa": kcol,
                        "method": method,
                        "r": c.r,
                        "low": c.low,
                        "high": c.high,
                        "n": c.n,
                    }
                )
    return out


def _md_table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    cells += [
        "| " + " | ".join(str(x).replace("|", "\\|") for x in r) + " |" for r in rows
    ]
    return "\n".join(cells) + "\n"


def _html_table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in r) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>\n"


def write_report(
    out: str | os.PathLike[str],
    *,
    results: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    limit: int | None = None,
) -> tuple[Path, Path]:
    """Write ``out/report.html`` and ``out/report.md`` (figures in
    ``out/figures``); ``results`` defaults to ``out/results``."""
    directory = ensure_directory(out)
    res = Path(results) if results is not None else directory / "results"
    data = ensure_results(
        res, workers=workers, scheduler=scheduler, progress=progress, limit=limit
    )
    figdir = directory / "figures"
    figdir.mkdir(exist_ok=True)
    eh = data["effective-horizon"]
    pngs = [
        (
            "Effective horizon against incoherence (exact)",
            figures.effective_horizon_figure(eh, figdir)[0],
        ),
        (
            "Misalignment against incoherence across temperatures",
            figures.misalignment_figure(data["misalignment"], figdir)[0],
        ),
        ("Incoherence along G_k", figures.iterated_figure(data["iterated"], figdir)[0]),
        (
            "Returns along G_k",
            figures.returns_figure(data["return-improvement"], figdir)[0],
        ),
        (
            "The mountain race",
            figures.mountain_race_figure(
                _tree_mdp(
                    "race", [Fraction(1), Fraction(0), Fraction(3, 4), Fraction(3, 4)]
                ),
                figdir,
            )[0],
        ),
    ]
    lines = audit_summary(
        eh,
        data["misalignment"],
        data["iterated"],
        data["return-incoherence"],
        data["return-improvement"],
    )
    per = audit_instances(eh)
    counts = Counter((r["quantity"], r["verdict"]) for r in per)
    inst_rows = [[q, v, n] for (q, v), n in sorted(counts.items())]
    errs = errata(eh)
    ledger = ledger_rows()
    head = headline_table(eh)
    head_rows = [
        [
            h["horizon"],
            h["kappa"],
            h["method"],
            f"{h['r']:.3f}",
            f"[{h['low']:.3f}, {h['high']:.3f}]",
            h["n"],
        ]
        for h in head
    ]
    audit_rows = [
        [a.quantity, a.source, a.published, a.recomputed, a.verdict, a.note]
        for a in lines
    ]
    err_rows = [[e.title, e.paper, e.evidence] for e in errs]
    led_rows = [[r["key"], r["claim"], r["family"], r["status"]] for r in ledger]
    sections: list[tuple[str, list[str], Sequence[Sequence[object]]]] = [
        (
            "Audit of the published numbers",
            ["quantity", "source", "published", "recomputed", "verdict", "note"],
            audit_rows,
        ),
        (
            "Per-instance audit (140 published instances)",
            ["quantity", "verdict", "instances"],
            inst_rows,
        ),
        (
            "Headline correlations",
            ["horizon", "kappa", "method", "r", "95% CI", "n"],
            head_rows,
        ),
        (
            "Errata, with exact evidence",
            ["erratum", "the paper", "exact evidence"],
            err_rows,
        ),
        ("Claims ledger", ["key", "claim", "family", "status"], led_rows),
    ]
    title = f"coherence {__version__}: the paper's experiments, reproduced exactly"
    md = [f"# {title}\n"]
    ht = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;max-width:1100px;margin:auto}}"
        "table{border-collapse:collapse;font-size:13px}"
        "td,th{border:1px solid #bbb;padding:3px 6px}"
        "img{max-width:100%}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for name, cols, rows in sections:
        md.append(f"## {name}\n\n" + _md_table(cols, rows))
        ht.append(f"<h2>{html.escape(name)}</h2>" + _html_table(cols, rows))
    md.append("## Figures\n")
    ht.append("<h2>Figures</h2>")
    for caption, path in pngs:
        rel = f"figures/{path.name}"
        svg = f"figures/{path.stem}.svg"
        md.append(f"### {caption}\n\n![{caption}]({rel})\n\n[SVG]({svg})\n")
        ht.append(
            f"<figure><img src='{rel}' alt='{html.escape(caption)}'><figcaption>"
            f"{html.escape(caption)} (<a href='{svg}'>SVG</a>)</figcaption></figure>"
        )
    ht.append("</body></html>\n")
    md_path, html_path = directory / "report.md", directory / "report.html"
    atomic_write_text(md_path, "\n".join(md))
    atomic_write_text(html_path, "\n".join(ht))
    atomic_write_text(directory / "audit.md", render_audit(lines))
    return html_path, md_path
