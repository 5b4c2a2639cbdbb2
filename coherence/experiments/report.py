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
from coherence._io import atomic_write_text, check_output_target, ensure_directory
from coherence.experiments import figures
from coherence.experiments.audit import (
    OWN,
    _tree_mdp,
    audit_instances,
    audit_summary,
    errata,
    render_audit,
)
from coherence.experiments.runs import EXPERIMENTS, instance_items
from coherence.experiments.stats import correlate
from coherence.experiments.sweep import run_sweep

__all__ = [
    "METHODS",
    "coverage",
    "coverage_header",
    "ensure_results",
    "headline_table",
    "ledger_rows",
    "report_title",
    "write_report",
]


def ensure_results(
    results: str | os.PathLike[str],
    experiments: Sequence[str] = EXPERIMENTS,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    limit: int | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The rows of each experiment on its published instances (the first
    ``limit`` of each list when given), from a resumable sweep into
    ``results``: finished instances are reused by their content key (code
    digest and parameters included), missing ones computed. A table written
    by a partial run (``--families``, ``--limit``, other parameters) is never
    read as the whole list."""
    out: dict[str, list[dict[str, Any]]] = {}
    directory = Path(results)
    for name in experiments:
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


def coverage(data: dict[str, list[dict[str, Any]]]) -> list[tuple[str, int, int]]:
    """(experiment, instances with rows, instances of its published list)."""
    out = []
    for name, rows in data.items():
        have = len({(str(r["family"]), int(r["seed"])) for r in rows})
        out.append((name, have, len(instance_items(name))))
    return out


def coverage_header(data: dict[str, list[dict[str, Any]]]) -> str:
    """One line: the real instance counts behind the audit."""
    parts = [
        f"{name} {have} of {need}" + ("" if have == need else " (PARTIAL)")
        for name, have, need in coverage(data)
    ]
    return "Instances with results: " + "; ".join(parts)


#: How the report's ledger statuses were obtained (printed beside the table).
LEDGER_STATUS_NOTE = (
    "statuses: the committed expectation (coherence/proofs/expected.json), which "
    "`coherence prove` re-derives and CI checks; this report does not re-run it"
)


def ledger_rows() -> list[dict[str, str]]:
    """(key, claim, family, status) of every ledger row, with the claim text
    and family of every row (Coq-only rows included) from
    :func:`coherence.proofs.report.ledger_summary`; statuses are the committed
    expectation (:data:`LEDGER_STATUS_NOTE`). One row saying why when the
    ledger is unavailable."""
    try:
        from coherence.proofs.report import ledger_summary

        return ledger_summary()
    except Exception as exc:  # the ledger is optional here; say why it is missing
        return [
            {
                "key": "-",
                "claim": "-",
                "family": f"ledger unavailable: {exc}",
                "status": "-",
            }
        ]


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


METHODS = (
    "Every per-instance quantity is recomputed from the instance's seed: the "
    "random tree MDPs are regenerated bit for bit (legacy MT19937 draws in the "
    "authors' order, docs/paper-experiments.md §1).",
    "Exact: kappa_delta(pi) = KL_c(pi || pi^delta) (SPEC §4) with rational "
    "policies where 1/delta is an integer; J_prob, J_count and J* as rationals; "
    "the effective horizon as exact GORP success probabilities (the m-rollout "
    "count law and the max over sequences in closed form), so H carries no "
    "Monte Carlo noise. Float64: kappa at non-integer 1/delta (~1e-12 relative), "
    "the authors' clipped trajectory KL (target probabilities floored at 1e-12), "
    "and G_k for k >= 2 (iterated, return experiments).",
    "Monte Carlo: only the authors' published H_hat (500 runs per (k, m)); it "
    "enters a recomputation only as the explanation 'their Monte Carlo H'. Its "
    "exact law (Binomial(500, p) success counts from the exact GORP "
    "probabilities, independent per (k, m)) decides whether a per-instance "
    "H_hat is Monte Carlo noise (probability >= 1e-3) and predicts how many of "
    "the 140 differ from the exact H.",
    "Instance lists: each published number is recomputed on the list of the "
    "commit that published it: 5f0aa98 (the 140 of the effective-horizon CSV), "
    "6c59281 (misalignment_vs_incoherence.json; 7 differ from 5f0aa98), "
    "1ce9489 (return_incoherence.json; 8 differ), 8fc0a62 (the 420 of "
    "results/misalignment_instances.json). Iterated incoherence and return "
    "improvement use their configs' seeds: SeedSequence([0, 0]) deterministic "
    "(q clipped to [1e-3, 1 - 1e-3]) and [0, 1] stochastic (unclipped); return "
    "improvement [0, 0] for both families, both clipped; k = 0..5.",
    "Methods: Pearson r; the Fisher-z interval tanh(atanh r +- 1.96/sqrt(n - 3)) "
    "where the number was printed by 6c59281's reporting.py; the percentile "
    "bootstrap (2000 resamples, default_rng(0)) where the report uses it; "
    "group means by effective horizon, as the paper groups them.",
    "Verdicts are computed in order: on its own list with its own method and "
    "exact inputs; then their Monte Carlo H, the clipped KL, both; then another "
    "published list; then another method. The first that reproduces the number "
    "(within half a unit of its last printed digit, or 1e-9 relative for numbers "
    "published at full precision) is printed; 'differs' when none does; 'not "
    "recomputed' when the results cover only part of the list.",
)


def _csv_text(rows: Sequence[dict[str, Any]]) -> str:
    import csv
    import io

    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in columns})
    return buf.getvalue()


def report_title(lines: Sequence[Any]) -> str:
    """A title that says what was found: the verdict counts."""
    verdicts = [str(a.verdict) for a in lines]
    rep = sum(v.startswith("reproduced") for v in verdicts)
    plain = sum(v in ("reproduced", OWN) for v in verdicts)
    diff = sum(v == "differs" for v in verdicts)
    part = sum(v.startswith("not recomputed") for v in verdicts)
    title = (
        f"coherence {__version__}: the published numbers of Karwowski and Douglas "
        f"(arXiv 2510.06545) recomputed: {rep} reproduced ({rep - plain} of them "
        f"only with their Monte Carlo H or the clipped KL), {diff} differ"
    )
    return title + (f", {part} not recomputed (partial results)" if part else "")


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
    ``out/figures``, per-instance tables as CSV in ``out/data``); ``results``
    defaults to ``out/results``."""
    for name in ("report.html", "report.md"):  # refused before any sweep runs
        check_output_target(Path(out) / name)
    directory = ensure_directory(out)
    res = Path(results) if results is not None else directory / "results"
    data = ensure_results(
        res, workers=workers, scheduler=scheduler, progress=progress, limit=limit
    )
    figdir = directory / "figures"
    figdir.mkdir(exist_ok=True)
    datadir = directory / "data"
    datadir.mkdir(exist_ok=True)
    eh = data["effective-horizon"]
    pngs = [
        (
            "Incoherence against the exact effective horizon (paper's axes); red "
            "rings: the instances whose published Monte Carlo H_hat differs",
            figures.effective_horizon_figure(eh, figdir)[0],
        ),
        (
            "Misalignment against incoherence across temperatures: exact kappa "
            "and the authors' clipped KL, 95% bootstrap bands",
            figures.misalignment_figure(data["misalignment"], figdir)[0],
        ),
        (
            "Incoherence along G_k on the authors' T4_A2 instances (geometric "
            "mean, band +- 1 sd in log space)",
            figures.iterated_figure(data["iterated"], figdir)[0],
        ),
        (
            "J_prob, J_sum and J_count along G_k (J_count = the authors' J + 1)",
            figures.returns_figure(data["return-improvement"], figdir)[0],
        ),
        (
            "The mountain race, drawn from its model (gold = 1)",
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
    downloads: list[tuple[str, str]] = []
    for name, table in [*data.items(), ("per-instance-audit", per)]:
        target = datadir / f"{name}.csv"
        atomic_write_text(target, _csv_text(table))
        downloads.append((f"data/{target.name}", f"{name} ({len(table)} rows)"))
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
        [
            a.quantity,
            a.published,
            a.recomputed,
            a.verdict,
            a.instances,
            a.method,
            a.source,
            a.note,
        ]
        for a in lines
    ]
    n_inst = len({(r["family"], r["seed"]) for r in per})
    err_rows = [[e.title, e.paper, e.evidence] for e in errs]
    led_rows = [[r["key"], r["claim"], r["family"], r["status"]] for r in ledger]
    sections: list[tuple[str, list[str], Sequence[Sequence[object]]]] = [
        (
            "Verdicts on the published numbers",
            [
                "quantity",
                "published",
                "recomputed",
                "verdict",
                "instance list (n)",
                "method",
                "source",
                "note",
            ],
            audit_rows,
        ),
        (
            f"Per-instance audit ({n_inst} of the 140 published instances)",
            ["quantity", "verdict", "instances"],
            inst_rows,
        ),
    ]
    later: list[tuple[str, list[str], Sequence[Sequence[object]]]] = [
        (
            "Headline correlations (exact H)",
            ["horizon", "kappa", "method", "r", "95% CI", "n"],
            head_rows,
        ),
        (
            "Errata, with exact evidence",
            ["erratum", "the paper", "exact evidence"],
            err_rows,
        ),
        (
            f"Claims ledger ({LEDGER_STATUS_NOTE})",
            ["key", "claim", "family", "status"],
            led_rows,
        ),
    ]
    title = report_title(lines)
    header = coverage_header(data)
    md = [f"# {title}\n", f"{header}\n"]
    ht = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;max-width:1200px;margin:auto}}"
        "table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #bbb;padding:3px 6px;vertical-align:top}"
        "img{max-width:100%}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(header)}</p>",
    ]
    for name, cols, rows in sections:
        md.append(f"## {name}\n\n" + _md_table(cols, rows))
        ht.append(f"<h2>{html.escape(name)}</h2>" + _html_table(cols, rows))
    md.append("## Methods\n\n" + "\n\n".join(METHODS) + "\n")
    ht.append("<h2>Methods</h2>" + "".join(f"<p>{html.escape(t)}</p>" for t in METHODS))
    md.append(
        "## Downloads (per-instance tables, CSV)\n\n"
        + "\n".join(f"- [{label}]({href})" for href, label in downloads)
        + "\n"
    )
    ht.append(
        "<h2>Downloads (per-instance tables, CSV)</h2><ul>"
        + "".join(
            f"<li><a href='{href}'>{html.escape(label)}</a></li>"
            for href, label in downloads
        )
        + "</ul>"
    )
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
    for name, cols, rows in later:
        md.append(f"## {name}\n\n" + _md_table(cols, rows))
        ht.append(f"<h2>{html.escape(name)}</h2>" + _html_table(cols, rows))
    # a reader (or a headless browser) sees at once whether every image loaded
    ht.append(
        "<script>window.addEventListener('load',function(){"
        "var im=Array.prototype.slice.call(document.images),ok=0;"
        "im.forEach(function(i){if(i.complete&&i.naturalWidth>0){ok++;}"
        "else{i.alt='[image failed to load] '+i.alt;}});"
        "document.body.setAttribute('data-images-loaded',ok+'/'+im.length);});"
        "</script>"
    )
    ht.append("</body></html>\n")
    md_path, html_path = directory / "report.md", directory / "report.html"
    atomic_write_text(md_path, "\n".join(md))
    atomic_write_text(html_path, "\n".join(ht))
    atomic_write_text(directory / "audit.md", header + "\n\n" + render_audit(lines))
    return html_path, md_path
