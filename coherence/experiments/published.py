"""The authors' published numbers as data: source, instance list and method.

Each number of docs/paper-experiments.md §3 is a :class:`PublishedNumber`: where it
was published (commit, file, quote), the instance list of the commit that
produced it, and the method that produced it (Pearson r, a Fisher-z or
bootstrap interval, a per-instance mean, a grouped mean and its grouping key).
:mod:`.audit` recomputes each on its own list with its own method first.

The instance lists (:func:`instance_list`) are

* ``5f0aa98``: the 140 effective-horizon instances of the artifact CSV
  (:func:`.authors.published_instances`);
* ``6c59281``: the 140 instances of ``misalignment_vs_incoherence.json``
  (7 differ from 5f0aa98's);
* ``1ce9489``: the 140 instances of ``results/return_incoherence.json``
  (8 differ from 5f0aa98's);
* ``8fc0a62``: the 420 instances of ``results/misalignment_instances.json``.

Each is stored as the positions of its seeds in the family's candidate
stream (:func:`.authors.candidate_seeds`), in
``data/authors_artifacts.json`` beside the transcribed artifact numbers and
their provenance (commit, path, SHA-256 of the file's text).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from coherence.experiments.authors import (
    FAMILIES,
    candidate_seeds,
    published_instances,
)

__all__ = [
    "LISTS",
    "PUBLISHED",
    "Artifact",
    "Instance",
    "Method",
    "PublishedNumber",
    "Source",
    "artifact",
    "artifacts_data",
    "instance_list",
]

REPOSITORY = "github.com/jkarwowski/incoherence"
#: The instance lists, by the commit that published them.
LISTS = ("5f0aa98", "6c59281", "1ce9489", "8fc0a62")


@dataclass(frozen=True)
class Instance:
    """One instance of a published list: family, T, A and seed."""

    family: str
    depth: int
    actions: int
    seed: int


@cache
def artifacts_data() -> dict[str, Any]:
    """The shipped transcription ``data/authors_artifacts.json``."""
    text = (
        resources.files("coherence.experiments")
        .joinpath("data/authors_artifacts.json")
        .read_text(encoding="utf-8")
    )
    data: dict[str, Any] = json.loads(text)
    return data


@dataclass(frozen=True)
class Artifact:
    """One of the authors' artifact files: where it is and its digest."""

    key: str
    commit: str
    path: str
    sha256: str | None
    chars: int | None

    def cite(self) -> str:
        """``repo@commit path`` with the digest when recorded."""
        digest = f" (sha256 {self.sha256[:12]}...)" if self.sha256 else ""
        return f"{REPOSITORY}@{self.commit[:7]} {self.path}{digest}"


def artifact(key: str) -> Artifact:
    """The artifact record ``key`` of the transcription."""
    rec = artifacts_data()["artifacts"].get(key)
    if rec is None:
        raise ValueError(f"artifact: unknown artifact {key!r}")
    return Artifact(
        key, str(rec["commit"]), str(rec["path"]), rec.get("sha256"), rec.get("chars")
    )


def _positions(text: str) -> list[int]:
    """``"0-9,11"`` -> [0, 1, ..., 9, 11] (ranges inclusive)."""
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


@cache
def instance_list(commit: str) -> tuple[Instance, ...]:
    """The instance list published at ``commit`` (one of :data:`LISTS`)."""
    if commit not in LISTS:
        raise ValueError(
            f"list: unknown instance list {commit!r}; "
            f"expected one of {', '.join(LISTS)}"
        )
    if commit == "5f0aa98":
        return tuple(
            Instance(p.family, p.depth, p.actions, p.seed)
            for p in published_instances()
        )
    positions = artifacts_data()["instance_lists"][commit]["positions"]
    out: list[Instance] = []
    for index, (family, depth, actions) in enumerate(FAMILIES):
        pos = _positions(str(positions[family]))
        stream = candidate_seeds(index, max(pos) + 1)
        out.extend(Instance(family, depth, actions, stream[i]) for i in pos)
    return tuple(out)


@dataclass(frozen=True)
class Source:
    """Where a number was published: commit, file and the words around it
    (``verbatim``: copied from the file; otherwise the claim as
    docs/paper-experiments.md §3 records it)."""

    commit: str
    file: str
    quote: str
    verbatim: bool = False

    def cite(self) -> str:
        """``commit file: "quote"`` (verbatim) or the recorded claim."""
        if self.verbatim:
            return f'{self.commit} {self.file}: "{self.quote}"'
        return (
            f"{self.commit} {self.file} "
            f"(as docs/paper-experiments.md §3 records it: {self.quote})"
        )


@dataclass(frozen=True)
class Method:
    """How a published number was computed.

    ``statistic``: ``pearson`` (r), ``mean-r`` (mean of per-instance r),
    ``pooled-r``, ``group-mean`` (mean kappa grouped by ``group_by``) or
    ``sign`` (all r negative); ``interval``: ``fisher-z``
    (tanh(atanh r +- 1.96 / sqrt(n - 3))), ``bootstrap`` (``resamples``
    percentile resamples of ``default_rng(seed)``) or None; ``h``: the
    effective horizon the authors used (``monte-carlo``: their published
    H_hat; ``exact``) where H enters."""

    statistic: str = "pearson"
    interval: str | None = None
    resamples: int = 2000
    seed: int = 0
    group_by: str | None = None
    h: str | None = None

    def describe(self) -> str:
        """One line for the report's method column."""
        parts = [self.statistic]
        if self.interval == "fisher-z":
            parts.append("Fisher z: tanh(atanh r +- 1.96/sqrt(n-3))")
        elif self.interval == "bootstrap":
            parts.append(
                f"bootstrap {self.resamples} resamples, default_rng({self.seed})"
            )
        if self.group_by:
            parts.append(f"grouped by {self.group_by}")
        if self.h:
            h = "their Monte Carlo H_hat" if self.h == "monte-carlo" else "exact"
            parts.append(f"H = {h}")
        return "; ".join(parts)


@dataclass(frozen=True)
class PublishedNumber:
    """One published number: what, the value as printed, where, on which
    instances, by which method, and how close a recomputation must come
    (``digits``: half a unit of the last printed digit; ``rel``: 1e-9
    relative, for numbers published at full precision)."""

    key: str
    quantity: str
    experiment: str
    value: str
    source: Source
    instances: str
    method: Method
    delta: float = 1.0
    tolerance: str = "digits"
    kappa: str = "g1"
    values: tuple[float, ...] = field(default=())

    def targets(self) -> tuple[float, ...]:
        """The published values as floats (a CI gives r? and its two ends)."""
        if self.values:
            return self.values
        text = self.value.strip("[]")
        return tuple(float(x) for x in text.replace(";", ",").split(","))


_README6 = "README.md (6c59281; carried into 2ec2120)"
_CSV = "paper/artifacts/data/effective_horizon_summary.csv (08e863b..5f0aa98)"
_PAPER = "paper text"
_FZ = Method(interval="fisher-z", h="monte-carlo")


def _summary_rows() -> dict[float, float]:
    rows = artifacts_data()["artifacts"]["misalignment_summary"]["rows"]
    return {float(t): float(c) for t, c, _ in rows}


def _published() -> tuple[PublishedNumber, ...]:
    eh = "effective-horizon"
    mis = "misalignment"
    out = [
        PublishedNumber(
            "paper-r-h-prior",
            "r(H, kappa_1(prior))",
            eh,
            "-0.016",
            Source("08e863b", _PAPER, "r(H, kappa(prior)) = -0.016"),
            "5f0aa98",
            Method(h="monte-carlo"),
            kappa="prior",
        ),
        PublishedNumber(
            "paper-r-h-g1",
            "r(H, kappa_1(G_1))",
            eh,
            "0.32",
            Source("08e863b", _PAPER, "r(H, kappa(G_1)) = 0.32"),
            "5f0aa98",
            Method(h="monte-carlo"),
        ),
        PublishedNumber(
            "csv-r-h-prior",
            "r(H, kappa_1(prior))",
            eh,
            "0.198",
            Source(
                "5f0aa98", _CSV, "r = 0.198 from its H_hat and kappa_uniform columns"
            ),
            "5f0aa98",
            Method(h="monte-carlo"),
            kappa="prior",
        ),
        PublishedNumber(
            "csv-r-h-g1",
            "r(H, kappa_1(G_1))",
            eh,
            "0.244",
            Source("5f0aa98", _CSV, "r = 0.244 from its H_hat and kappa_piG columns"),
            "5f0aa98",
            Method(h="monte-carlo"),
        ),
        PublishedNumber(
            "readme-ci-h-prior",
            "r(H, kappa_1(prior)) and 95% CI",
            eh,
            "0.198; 0.033, 0.352",
            Source(
                "6c59281",
                _README6,
                "Correlation r≈0.198 with 95% CI [0.033, 0.352]",
                True,
            ),
            "5f0aa98",
            _FZ,
            kappa="prior",
        ),
        PublishedNumber(
            "readme-ci-h-g1",
            "r(H, kappa_1(G_1)) and 95% CI",
            eh,
            "0.244; 0.082, 0.394",
            Source(
                "6c59281",
                _README6,
                "Correlation r≈0.244 with 95% CI [0.082, 0.394]",
                True,
            ),
            "5f0aa98",
            _FZ,
        ),
        PublishedNumber(
            "paper-mean-kappa-h3",
            "mean kappa_1(G_1) at effective horizon 3",
            eh,
            "2.8e-2",
            Source(
                "08e863b", _PAPER, "mean kappa(G_1) about 2.8e-2 at effective horizon 3"
            ),
            "5f0aa98",
            Method(statistic="group-mean", group_by="H", h="monte-carlo"),
            values=(3.0, 2.8e-2),
        ),
        PublishedNumber(
            "paper-mean-kappa-h11",
            "mean kappa_1(G_1) at effective horizon 11",
            eh,
            "1.1e-1",
            Source("08e863b", _PAPER, "1.1e-1 at effective horizon 11"),
            "5f0aa98",
            Method(statistic="group-mean", group_by="H", h="monte-carlo"),
            values=(11.0, 1.1e-1),
        ),
        PublishedNumber(
            "paper-mis-1",
            "r(misalignment, kappa_1(G_1))",
            mis,
            "0.44",
            Source("08e863b", _PAPER, "r peaks at 0.44 at delta = 1"),
            "5f0aa98",
            Method(),
        ),
        PublishedNumber(
            "paper-mis-0.8",
            "r(misalignment, kappa_0.8(G_1))",
            mis,
            "0.28",
            Source("08e863b", _PAPER, "0.28 at delta = 0.8"),
            "5f0aa98",
            Method(),
            delta=0.8,
        ),
        PublishedNumber(
            "csv-mis-1",
            "r(misalignment, kappa_1(G_1))",
            mis,
            "0.369",
            Source("08e863b", "artifact CSV", "0.369 at delta = 1"),
            "5f0aa98",
            Method(),
        ),
        PublishedNumber(
            "csv-mis-0.8",
            "r(misalignment, kappa_0.8(G_1))",
            mis,
            "0.306",
            Source("08e863b", "artifact CSV", "0.306 at delta = 0.8"),
            "5f0aa98",
            Method(),
            delta=0.8,
        ),
        PublishedNumber(
            "csv-mis-negative",
            "r(misalignment, kappa_delta(G_1)) < 0 for delta in {2, 4, 8}",
            mis,
            "negative",
            Source(
                "08e863b",
                "artifact CSV",
                "negative for delta >= 2",
            ),
            "5f0aa98",
            Method(statistic="sign"),
            values=(2.0, 4.0, 8.0),
        ),
        PublishedNumber(
            "readme-mis-ci",
            "r(misalignment, kappa_1(G_1)) and 95% CI",
            mis,
            "0.395; 0.245, 0.526",
            Source(
                "6c59281",
                _README6,
                "Per-environment scatter with r≈0.395 and 95% CI [0.245, 0.526]",
                True,
            ),
            "6c59281",
            Method(interval="fisher-z"),
        ),
    ]
    summary = _summary_rows()
    for t in sorted(summary):
        out.append(
            PublishedNumber(
                f"summary-mis-{t:g}",
                f"r(misalignment, kappa_{t:g}(G_1))",
                mis,
                repr(summary[t]),
                Source(
                    "8fc0a62",
                    "results/misalignment_summary.csv",
                    f"{t!r},{summary[t]!r},420",
                    True,
                ),
                "8fc0a62",
                Method(),
                delta=t,
                tolerance="rel",
            )
        )
    ret = artifacts_data()["artifacts"]["return_incoherence"]
    for key, stat, label in (
        (
            "mean_correlation",
            "mean-r",
            "mean per-instance r(J_sum, -kappa_1) along G_0..G_4",
        ),
        ("pooled_correlation", "pooled-r", "pooled r(J_sum, -kappa_1) along G_0..G_4"),
    ):
        out.append(
            PublishedNumber(
                f"return-{stat}",
                label,
                "return-incoherence",
                repr(float(ret[key])),
                Source(
                    "1ce9489",
                    "results/return_incoherence.json",
                    f'"{key}": {ret[key]!r}',
                    True,
                ),
                "1ce9489",
                Method(statistic=stat),
                tolerance="rel",
            )
        )
    return tuple(out)


#: Every published summary number of docs/paper-experiments.md §3.
PUBLISHED: tuple[PublishedNumber, ...] = _published()
