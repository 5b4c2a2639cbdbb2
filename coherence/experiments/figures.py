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
    """kappa_1(prior) and kappa_1(G_1) (y) against the exact effective horizon H
    (x, the authors' GORP variant), as the paper's axes; the instances whose
    published Monte Carlo H_hat differs from the exact H are ringed, with a
    grey tick at their H_hat; least-squares line and Pearson r with its 95%
    bootstrap CI (2000 resamples, seed 0)."""
    from coherence.experiments.authors import published_instances

    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    h = np.array([float(r["h_authors"]) for r in rows])
    h_mc = {(p.family, p.seed): p.h_monte_carlo for p in published_instances()}
    mc = np.array([h_mc.get((str(r["family"]), int(r["seed"])), np.nan) for r in rows])
    off = np.isfinite(mc) & (np.abs(mc - h) > 1e-9)
    fams = sorted({str(r["family"]) for r in rows})
    for ax, col, title in zip(
        axes, ("kappa_prior_exact", "kappa_g1_exact"), ("p", "G_1"), strict=True
    ):
        k = np.array([float(r[col]) for r in rows])
        for i, fam in enumerate(fams):
            sel = np.array([str(r["family"]) == fam for r in rows])
            ax.scatter(
                h[sel], k[sel], s=16, label=fam, alpha=0.85, marker="os^vDP*"[i % 7]
            )
        if off.any():
            ax.scatter(
                h[off],
                k[off],
                s=90,
                facecolors="none",
                edgecolors="red",
                lw=1.2,
                label=f"Monte Carlo H_hat differs ({int(off.sum())})",
            )
            ax.scatter(
                mc[off], k[off], s=30, marker="|", color="grey", label="their H_hat"
            )
        ok = np.isfinite(h)
        if ok.sum() >= 3:
            slope, icpt = np.polyfit(h[ok], k[ok], 1)
            xs = np.linspace(h[ok].min(), h[ok].max(), 50)
            ax.plot(xs, slope * xs + icpt, "k--", lw=1)
            c = correlate(list(h[ok]), list(k[ok]))
            ax.set_title(
                f"r(H, kappa_1({title})) = {c.r:.3f} [{c.low:.3f}, {c.high:.3f}], "
                f"n = {int(ok.sum())}",
                fontsize=9,
            )
        ax.set_xlabel("effective horizon H (exact; authors' GORP variant)")
        ax.set_ylabel(f"kappa_1({title}) = KL_c({title} || Boltzmann_1)  [nats]")
    axes[1].legend(fontsize=6, ncol=2)
    return _save(fig, out, "effective_horizon_vs_incoherence")


def misalignment_figure(rows: Sequence[dict[str, Any]], out: Path) -> list[Path]:
    """Pearson r(misalignment, kappa_delta(G_1)) against delta, exact kappa
    (solid, circles, shaded band) and the authors' clipped KL (dashed,
    squares, hatched band), 95% bootstrap bands; the curves coincide where
    no target trajectory falls below the clip (large delta)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    deltas = sorted({float(r["delta"]) for r in rows})
    n = len({(str(r["family"]), int(r["seed"])) for r in rows})
    styles = (
        ("kappa_g1_float", "exact kappa (SPEC §4)", "-", "o", "C0", None),
        (
            "kappa_g1_clipped",
            "their clipped KL (target >= 1e-12)",
            "--",
            "s",
            "C3",
            "//",
        ),
    )
    for col, label, ls, marker, color, hatch in styles:
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
        ax.plot(
            ds,
            rs,
            ls=ls,
            marker=marker,
            color=color,
            label=label,
            mfc="none" if hatch else color,
        )
        if hatch:
            ax.fill_between(
                ds, lo, hi, facecolor="none", edgecolor=color, hatch=hatch, lw=0
            )
        else:
            ax.fill_between(ds, lo, hi, color=color, alpha=0.15)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xscale("log")
    ax.set_xlabel("temperature delta (log scale)")
    ax.set_ylabel("Pearson r(misalignment, kappa_delta(G_1)), 95% CI")
    ax.set_title(f"misalignment vs incoherence, n = {n} instances", fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, out, "misalignment_vs_temperature")


def iterated_figure(rows: Sequence[dict[str, Any]], out: Path) -> list[Path]:
    """kappa_delta(G_k) along k per delta on a log axis: the geometric mean over
    the instances and a band of exp(mean log kappa +- sd log kappa) (computed
    in log space, so it never leaves the axis), deterministic and stochastic
    panels."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, stochastic in zip(axes, (False, True), strict=True):
        groups: dict[float, dict[int, list[float]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for r in rows:
            if bool(r["stochastic"]) == stochastic and float(r["kappa"]) > 0:
                groups[float(r["delta"])][int(r["k"])].append(float(r["kappa"]))
        for i, d in enumerate(sorted(groups, reverse=True)):
            ks = sorted(groups[d])
            logs = [np.log(groups[d][k]) for k in ks]
            mean = np.array([np.mean(v) for v in logs])
            sd = np.array([np.std(v) for v in logs])
            line = ax.plot(
                ks, np.exp(mean), marker="osD^v"[i % 5], label=f"delta = {d:g}"
            )
            ax.fill_between(
                ks,
                np.exp(mean - sd),
                np.exp(mean + sd),
                color=line[0].get_color(),
                alpha=0.15,
            )
        ax.set_yscale("log")
        ax.set_xlabel("k (policy G_k; G_0 = prior)")
        ax.set_ylabel("kappa_delta(G_k) [nats], geometric mean +- 1 sd (log)")
        n = len({int(r["seed"]) for r in rows if bool(r["stochastic"]) == stochastic})
        ax.set_title(
            ("stochastic, q unclipped" if stochastic else "deterministic, q clipped")
            + f", {n} instances",
            fontsize=9,
        )
        if groups:
            ax.legend(fontsize=7)
    return _save(fig, out, "iterated_incoherence")


def returns_figure(rows: Sequence[dict[str, Any]], out: Path) -> list[Path]:
    """J_prob, J_sum and J_count (SPEC §3) along G_k, one line per instance;
    J_count counts the terminal step too: it is the authors' J + 1."""
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    series: dict[tuple[str, int, bool], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        series[(str(r["family"]), int(r["seed"]), bool(r["stochastic"]))].append(r)
    labels = {
        "jprob": "J_prob = P(every step succeeds)",
        "jsum": "J_sum = E[sum_t log q(s_t, a_t)]",
        "jcount": "J_count = E[# successful steps] + 1 (= authors' J + 1)",
    }
    for ax, col in zip(axes, ("jprob", "jsum", "jcount"), strict=True):
        for (_, _, stochastic), pts in series.items():
            pts = sorted(pts, key=lambda r: int(r["k"]))
            ax.plot(
                [int(r["k"]) for r in pts],
                [float(r[col]) for r in pts],
                color="C1" if stochastic else "C0",
                ls="--" if stochastic else "-",
                marker="s" if stochastic else "o",
                ms=3,
                alpha=0.8,
                lw=1,
            )
        ax.set_ylabel(labels[col], fontsize=8)
        ax.set_xlabel("k (policy G_k; G_0 = prior)")
    axes[0].plot([], [], color="C0", marker="o", label="deterministic")
    axes[0].plot([], [], color="C1", ls="--", marker="s", label="stochastic")
    axes[0].legend(fontsize=8)
    fig.suptitle(
        "returns along G_k on the authors' T4_A2 instances (q clipped)", fontsize=9
    )
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
