"""Figures of the experiments (matplotlib, PNG and SVG), drawn from stored rows.

Each function takes the rows of a sweep table (:func:`.sweep.read_table`) and
an output directory, and returns the paths it wrote. Nothing is typed in: the
mountain race is drawn from its :class:`~coherence.reference.model.MDP`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from coherence._io import atomic_write_with
from coherence.experiments.stats import correlate

__all__ = [
    "effective_horizon_figure",
    "iterated_figure",
    "misalignment_figure",
    "mountain_race_figure",
    "returns_figure",
]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, out: Path, stem: str) -> list[Path]:
    paths = []
    fig.tight_layout()
    for ext in ("png", "svg"):
        path = out / f"{stem}.{ext}"

        def write(tmp: str, ext: str = ext) -> None:
            fig.savefig(
                tmp,
                format=ext,
                dpi=100,
                metadata={"Date": None} if ext == "svg" else None,
            )

        atomic_write_with(path, write)
        paths.append(path)
    _plt().close(fig)
    return paths


def effective_horizon_figure(rows: Sequence[dict[str, Any]], out: Path) -> list[Path]:
    """Exact H (authors' GORP) against kappa_1(prior) and kappa_1(G_1), with a
    least-squares line and Pearson r with its 95% bootstrap CI."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    h = np.array([float(r["h_authors"]) for r in rows])
    for ax, col, title in zip(
        axes, ("kappa_prior_exact", "kappa_g1_exact"), ("prior", "G_1"), strict=True
    ):
        k = np.array([float(r[col]) for r in rows])
        fams = sorted({str(r["family"]) for r in rows})
        for fam in fams:
            sel = np.array([str(r["family"]) == fam for r in rows])
            ax.scatter(k[sel], h[sel], s=14, label=fam, alpha=0.8)
        ok = np.isfinite(h)
        if ok.sum() >= 3:
            slope, icpt = np.polyfit(k[ok], h[ok], 1)
            xs = np.linspace(k[ok].min(), k[ok].max(), 50)
            ax.plot(xs, slope * xs + icpt, "k-", lw=1)
            c = correlate(list(h[ok]), list(k[ok]))
            ax.set_title(
                f"H vs kappa_1({title}): r = {c.r:.3f} [{c.low:.3f}, {c.high:.3f}]"
            )
        ax.set_xlabel(f"kappa_1({title}) (exact)")
        ax.set_ylabel("effective horizon H (exact)")
    axes[1].legend(fontsize=7, ncol=2)
    return _save(fig, out, "effective_horizon_vs_incoherence")


def misalignment_figure(rows: Sequence[dict[str, Any]], out: Path) -> list[Path]:
    """Pearson r(misalignment, kappa_delta(G_1)) against delta, exact and
    clipped, with 95% bootstrap bands."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    deltas = sorted({float(r["delta"]) for r in rows})
    for col, label in (
        ("kappa_g1_float", "exact kappa"),
        ("kappa_g1_clipped", "clipped KL"),
    ):
        rs, lo, hi, ds = [], [], [], []
        for d in deltas:
            sel = [r for r in rows if abs(float(r["delta"]) - d) < 1e-12]
            try:
                c = correlate(
                    [float(r["misalignment"]) for r in sel],
                    [float(r[col]) for r in sel],
                )
            except ValueError:
                continue
            ds.append(d)
            rs.append(c.r)
            lo.append(c.low)
            hi.append(c.high)
        ax.plot(ds, rs, marker="o", label=label)
        ax.fill_between(ds, lo, hi, alpha=0.2)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xscale("log")
    ax.set_xlabel("temperature delta")
    ax.set_ylabel("Pearson r (95% bootstrap CI)")
    ax.set_title("misalignment vs kappa_delta(G_1)")
    ax.legend()
    return _save(fig, out, "misalignment_vs_temperature")


def iterated_figure(rows: Sequence[dict[str, Any]], out: Path) -> list[Path]:
    """kappa_delta(G_k) along k per delta: mean and +- one standard deviation
    over the instances, deterministic and stochastic panels."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=False)
    for ax, stochastic in zip(axes, (False, True), strict=True):
        groups: dict[float, dict[int, list[float]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for r in rows:
            if bool(r["stochastic"]) == stochastic:
                groups[float(r["delta"])][int(r["k"])].append(float(r["kappa"]))
        for d in sorted(groups, reverse=True):
            ks = sorted(groups[d])
            mean = np.array([np.mean(groups[d][k]) for k in ks])
            sd = np.array([np.std(groups[d][k]) for k in ks])
            ax.plot(ks, mean, marker=".", label=f"delta = {d:g}")
            # a log axis: the band's lower edge is floored at 1e-6
            ax.fill_between(ks, np.maximum(mean - sd, 1e-6), mean + sd, alpha=0.15)
        ax.set_yscale("log")
        ax.set_xlabel("k (G_k)")
        ax.set_ylabel("kappa_delta(G_k)")
        ax.set_title("stochastic" if stochastic else "deterministic (q clipped)")
        if groups:
            ax.legend(fontsize=7)
    return _save(fig, out, "iterated_incoherence")


def returns_figure(rows: Sequence[dict[str, Any]], out: Path) -> list[Path]:
    """J_prob, J_sum and J_count along G_k, one line per instance."""
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    series: dict[tuple[str, int, bool], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        series[(str(r["family"]), int(r["seed"]), bool(r["stochastic"]))].append(r)
    for ax, col in zip(axes, ("jprob", "jsum", "jcount"), strict=True):
        for (_, _, stochastic), pts in series.items():
            pts = sorted(pts, key=lambda r: int(r["k"]))
            ax.plot(
                [int(r["k"]) for r in pts],
                [float(r[col]) for r in pts],
                color="C1" if stochastic else "C0",
                alpha=0.7,
                lw=1,
            )
        ax.set_title({"jprob": "J_prob", "jsum": "J_sum", "jcount": "J_count"}[col])
        ax.set_xlabel("k (G_k)")
    axes[0].plot([], [], color="C0", label="deterministic")
    axes[0].plot([], [], color="C1", label="stochastic")
    axes[0].legend(fontsize=8)
    return _save(fig, out, "return_improvement")


def mountain_race_figure(mdp: Any, out: Path) -> list[Path]:
    """The mountain race tree (SPEC §6) with each leaf's terminal success
    probability read from ``mdp`` (gold = 1)."""
    from fractions import Fraction

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    pos = {
        "root": (0.5, 0.9),
        "x": (0.25, 0.55),
        "y": (0.75, 0.55),
        "l0": (0.1, 0.15),
        "l1": (0.4, 0.15),
        "l2": (0.6, 0.15),
        "l3": (0.9, 0.15),
    }
    names = {
        "root": "start",
        "x": "ridge",
        "y": "forest",
        "l0": "gold",
        "l1": "chasm",
        "l2": "finish",
        "l3": "finish",
    }
    edges = [
        ("root", "x"),
        ("root", "y"),
        ("x", "l0"),
        ("x", "l1"),
        ("y", "l2"),
        ("y", "l3"),
    ]
    for a, b in edges:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        ax.annotate(
            "",
            xy=(x1, y1 + 0.06),
            xytext=(x0, y0 - 0.06),
            arrowprops={"arrowstyle": "->"},
        )
    for s, (x, y) in pos.items():
        label = names[s]
        if s.startswith("l"):
            p = Fraction(mdp.terminal_success[mdp.state_index(s)])
            label += f"\nP(R) = {p}"
        ax.text(
            x, y, label, ha="center", va="center", bbox={"boxstyle": "round", "fc": "w"}
        )
    ax.set_axis_off()
    ax.set_title("mountain race (terminal success probabilities from the model)")
    return _save(fig, out, "mountain_race")
