"""Published numbers as data: instance lists, artifact digests, and every kind
of audit verdict, each seen to say "differs" on a planted wrong number."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coherence.cli import main
from coherence.experiments import audit
from coherence.experiments.authors import FAMILIES, candidate_seeds, published_instances
from coherence.experiments.published import (
    PUBLISHED,
    Method,
    PublishedNumber,
    Source,
    artifact,
    artifacts_data,
    instance_list,
)
from coherence.experiments.runs import instance_items, published_seeds, run_item
from coherence.experiments.stats import pearson


def _keys(commit: str) -> set[tuple[str, int]]:
    return {(i.family, i.seed) for i in instance_list(commit)}


def test_instance_lists_and_their_differences() -> None:
    # docs/paper-experiments.md §3: 6c59281's list differs from 5f0aa98's in 7 of 140,
    # 1ce9489's in 8; 8fc0a62 publishes 420 instances
    base = _keys("5f0aa98")
    assert len(base) == 140
    assert len(_keys("6c59281")) == 140 and len(_keys("6c59281") - base) == 7
    assert len(_keys("1ce9489")) == 140 and len(_keys("1ce9489") - base) == 8
    assert len(_keys("8fc0a62")) == 420
    assert base | _keys("6c59281") | _keys("1ce9489") <= _keys("8fc0a62")
    with pytest.raises(ValueError, match="unknown instance list"):
        instance_list("2ec2120")


def test_420_list_regenerates_their_file() -> None:
    # their results/misalignment_instances.json (8fc0a62) is json.dumps(indent=2)
    # of (spec_name, seed) records: the list regenerates its 24252 characters
    # and the recorded digest
    listed = instance_list("8fc0a62")
    records = [{"spec_name": i.family, "seed": i.seed} for i in listed]
    text = json.dumps(records, indent=2)
    art = artifact("misalignment_instances")
    assert len(text) == art.chars == 24252
    assert hashlib.sha256(text.encode()).hexdigest() == art.sha256


@pytest.mark.parametrize("key", ["iterated_incoherence", "strong_return_improvement"])
def test_transcribed_artifacts_regenerate_their_digest(key: str) -> None:
    rec = artifacts_data()["artifacts"][key]
    text = json.dumps(rec["records"], indent=2)
    assert len(text) == rec["chars"]
    assert hashlib.sha256(text.encode()).hexdigest() == rec["sha256"]


def test_summary_csv_regenerates_its_digest() -> None:
    rec = artifacts_data()["artifacts"]["misalignment_summary"]
    text = "temperature,correlation,num_instances\r\n" + "".join(
        f"{t!r},{c!r},{n}\r\n" for t, c, n in rec["rows"]
    )
    assert len(text) == rec["chars"] == 273
    assert hashlib.sha256(text.encode()).hexdigest() == rec["sha256"]


def test_readme_ci_is_fisher_z_of_their_columns() -> None:
    # README (6c59281): r ~ 0.244, 95% CI [0.082, 0.394] on their H_hat and
    # kappa_piG columns, tanh(atanh r +- 1.96/sqrt(n - 3))
    rows = published_instances()
    r = pearson([p.h_monte_carlo for p in rows], [p.kappa_g1 for p in rows])
    lo, hi = audit._fisher(r, len(rows))
    assert (round(r, 3), round(lo, 3), round(hi, 3)) == (0.244, 0.082, 0.394)


def test_every_number_has_source_list_and_method() -> None:
    keys = [n.key for n in PUBLISHED]
    assert len(keys) == len(set(keys))
    for n in PUBLISHED:
        assert n.source.commit and n.source.file and n.source.quote
        instance_list(n.instances)
        assert n.method.describe()
    # the three numbers of the issue are on their own lists
    by = {n.key: n for n in PUBLISHED}
    assert by["readme-mis-ci"].instances == "6c59281"
    assert by["return-mean-r"].instances == "1ce9489"
    assert by["summary-mis-1"].instances == "8fc0a62"
    # README, CSV and JSON words are quoted verbatim; the paper text is cited
    # as docs/paper-experiments.md records it
    assert by["readme-mis-ci"].source.verbatim and by["return-mean-r"].source.verbatim
    assert '"Per-environment scatter with r' in by["readme-mis-ci"].source.cite()
    assert not by["paper-r-h-g1"].source.verbatim
    assert "docs/paper-experiments.md" in by["paper-r-h-g1"].source.cite()


# --- verdict kinds on synthetic tables ---------------------------------------


def _eh_tables(drop: int = 0) -> audit.Tables:
    rng = np.random.default_rng(11)
    rows = []
    for p in published_instances()[drop:]:
        exact = float(rng.random())
        rows.append(
            {
                "family": p.family,
                "seed": p.seed,
                "depth": p.depth,
                # exact H: their H_hat on most instances, off by one on some
                "h_authors": p.h_monte_carlo + (1.0 if rng.random() < 0.3 else 0.0),
                "kappa_g1_exact": exact + 0.05 * p.h_monte_carlo,
                "kappa_g1_clipped": exact * float(rng.random()),
                "kappa_prior_exact": exact,
                "kappa_prior_clipped": exact,
            }
        )
    return audit.Tables(eh=rows)


def _mis_tables() -> audit.Tables:
    rng = np.random.default_rng(12)
    rows = []
    for i in instance_list("8fc0a62"):
        rows.append(
            {
                "family": i.family,
                "seed": i.seed,
                "delta": 1.0,
                "misalignment": float(rng.random()),
                "kappa_g1_float": float(rng.random()),
                "kappa_g1_clipped": float(rng.random()),
            }
        )
    return audit.Tables(mis=rows)


_EH = PublishedNumber(
    "t",
    "r(H, kappa_1(G_1))",
    "effective-horizon",
    "0",
    Source("test", "planted", "planted"),
    "5f0aa98",
    Method(h="monte-carlo"),
)


def _planted(n: PublishedNumber, values: tuple[float, ...]) -> PublishedNumber:
    return dataclasses.replace(n, value="; ".join(f"{v:.3f}" for v in values))


@pytest.mark.parametrize(
    "variant, verdict",
    [
        ({}, audit.OWN),
        ({"h": "monte-carlo"}, audit.OWN_MC),
        ({"kappa": "clipped"}, audit.OWN_CLIP),
        ({"h": "monte-carlo", "kappa": "clipped"}, audit.OWN_MC_CLIP),
    ],
    ids=["own", "monte-carlo-H", "clip", "both"],
)
def test_verdict_kinds_effective_horizon(variant: dict[str, str], verdict: str) -> None:
    tables = _eh_tables()
    v = audit.Variant("5f0aa98", _EH.method, **variant)
    got = tables.compute(_EH, v)
    line = audit.audit_number(_planted(_EH, got), tables)
    assert line.verdict == verdict, line
    wrong = _planted(_EH, tuple(g + 0.05 for g in got))
    assert audit.audit_number(wrong, tables).verdict == audit.DIFFERS


def test_verdict_other_method_and_fisher_z() -> None:
    tables = _eh_tables()
    ci = dataclasses.replace(_EH, method=Method(interval="fisher-z", h="monte-carlo"))
    own = tables.compute(ci, audit.Variant("5f0aa98", ci.method))
    assert audit.audit_number(_planted(ci, own), tables).verdict == audit.OWN
    boot = Method(interval="bootstrap", h="monte-carlo")
    got = tables.compute(ci, audit.Variant("5f0aa98", boot))
    line = audit.audit_number(_planted(ci, got), tables)
    assert line.verdict.startswith(audit.OTHER_METHOD) and "bootstrap" in line.verdict
    wrong = _planted(ci, (got[0], got[1] - 0.05, got[2]))
    assert audit.audit_number(wrong, tables).verdict == audit.DIFFERS


def test_verdict_group_mean_by_h_not_by_decisions() -> None:
    tables = _eh_tables()
    n = dataclasses.replace(
        _EH,
        method=Method(statistic="group-mean", group_by="H", h="monte-carlo"),
        values=(4.0, 0.0),
    )
    by_dec = tables.compute(
        n, audit.Variant("5f0aa98", dataclasses.replace(n.method, group_by="decisions"))
    )
    # a number that is the mean over instances with 4 decisions, not H = 4
    planted = dataclasses.replace(n, value=f"{by_dec[0]:.3f}", values=(4.0, by_dec[0]))
    line = audit.audit_number(planted, tables)
    assert line.verdict.startswith(audit.OTHER_METHOD) and "decisions" in line.verdict
    wrong = dataclasses.replace(planted, value="9.999", values=(4.0, 9.999))
    assert audit.audit_number(wrong, tables).verdict == audit.DIFFERS


def test_verdict_other_list() -> None:
    tables = _mis_tables()
    n = PublishedNumber(
        "t",
        "r(misalignment, kappa_1(G_1))",
        "misalignment",
        "0",
        Source("test", "planted", "planted"),
        "6c59281",
        Method(),
    )
    own = tables.compute(n, audit.Variant("6c59281", n.method))
    assert audit.audit_number(_planted(n, own), tables).verdict == audit.OWN
    other = tables.compute(n, audit.Variant("8fc0a62", n.method))
    line = audit.audit_number(_planted(n, other), tables)
    assert line.verdict == f"{audit.OTHER_LIST}: 8fc0a62", line
    wrong = _planted(n, (other[0] + 0.05,))
    assert audit.audit_number(wrong, tables).verdict == audit.DIFFERS


def test_partial_results_are_refused_with_the_real_count() -> None:
    line = audit.audit_number(dataclasses.replace(_EH, value="0.2"), _eh_tables(3))
    assert line.verdict == audit.PARTIAL and "137 of 140" in line.note


# --- the authors' own experiments on their instances -------------------------


def test_iterated_and_return_improvement_match_their_artifacts() -> None:
    # their configs: det from SeedSequence([0, 0]) (q clipped), sto from
    # SeedSequence([0, 1]); return improvement both from [0, 0], both clipped
    iters = instance_items("iterated")
    assert [it["seed"] for it in iters[:5]] == candidate_seeds(0, 5)
    assert [it["seed"] for it in iters[5:]] == candidate_seeds(1, 5)
    imp = instance_items("return-improvement")
    assert [it["seed"] for it in imp] == candidate_seeds(0, 5) * 2
    assert all(it["clip"] for it in imp)
    it_rows = [r for it in iters for r in run_item(it)]
    imp_rows = [r for it in imp for r in run_item(it)]
    lines = audit.artifact_lines(it_rows, imp_rows)
    assert [ln.verdict for ln in lines] == [
        "reproduced (2 of 60 only with the clipped KL)",
        "reproduced",
        "reproduced",
    ]
    mono = audit.monotonicity_line(it_rows)
    assert mono.recomputed.startswith("10 of 25") and mono.verdict == audit.DIFFERS
    assert "08e863b" in mono.source and "not 2ec2120" in mono.source
    # a planted wrong artifact number is seen
    bad = [dict(r) for r in imp_rows]
    bad[3]["j_authors"] += 1e-6
    assert audit.artifact_lines(it_rows, bad)[2].verdict == audit.DIFFERS


def test_fresh_never_reuses_a_published_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = published_seeds()
    first = instance_list("5f0aa98")[0]
    assert (first.family, first.seed) in taken

    class Fake:
        def __init__(self) -> None:
            self.values = iter([first.seed, 123, 456])

        def integers(self, *args: Any, **kwargs: Any) -> int:
            return next(self.values)

    monkeypatch.setattr(np.random, "default_rng", lambda seed=None: Fake())
    items = instance_items("effective-horizon", fresh=2)
    assert [(it["family"], it["seed"]) for it in items] == [
        (FAMILIES[0][0], 123),
        (FAMILIES[1][0], 456),
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (["misalignment", "--ks", "1,2"], "--ks: only effective-horizon"),
        (["iterated", "--temperatures", "1"], "--temperatures: only misalignment"),
        (["effective-horizon", "--fresh-seed", "3"], "--fresh-seed"),
        (["iterated", "--fresh", "3"], "--fresh"),
    ],
    ids=["ks-unused", "temps-unused", "fresh-seed-alone", "fresh-iterated"],
)
def test_unused_options_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    out = tmp_path / "r"
    assert main(["experiments", *args, "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert not out.exists()


@pytest.mark.parametrize("index", ["140", "-1"])
def test_timing_index_out_of_range(
    capsys: pytest.CaptureFixture[str], index: str
) -> None:
    try:
        code = main(["experiments", "timing", "--index", index])
    except SystemExit as exc:  # refused by the option's own parser
        code = int(str(exc.code))
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "--index" in lines[0]


def test_manifest_records_code_parameters_and_completeness(tmp_path: Path) -> None:
    from coherence.experiments import sweep

    items = instance_items("return-improvement")
    sweep.run_sweep(items[:2], tmp_path, "ri", workers=0, progress=False)
    man = sweep.read_manifest(tmp_path, "ri")
    assert man["complete"] is False and man["instances"] == 2
    assert man["code_digest"] == sweep.code_digest()
    assert man["parameters"]["k_max"] == 5
    sweep.run_sweep(items, tmp_path, "ri", workers=0, progress=False)
    assert sweep.read_manifest(tmp_path, "ri")["complete"] is True


def test_item_key_changes_with_the_code(monkeypatch: pytest.MonkeyPatch) -> None:
    from coherence.experiments import sweep

    item = instance_items("effective-horizon")[0]
    before = sweep.item_key(item)
    monkeypatch.setattr(sweep, "code_digest", lambda: "0" * 64)
    assert sweep.item_key(item) != before


@pytest.mark.slow
def test_the_three_numbers_reproduced_on_their_lists() -> None:
    # the acceptance check (about two minutes on 2 cores): the README's
    # CI [0.082, 0.394], its misalignment 0.395 [0.245, 0.526] on 6c59281's
    # list, 1ce9489's 0.5226 / 0.5527 on its own list, 8fc0a62's 0.344 on 420
    eh = [r for it in instance_items("effective-horizon") for r in run_item(it)]
    mis = [
        r
        for it in instance_items("misalignment")
        for r in run_item(it | {"temperatures": [1.0]})
    ]
    ret = [r for it in instance_items("return-incoherence") for r in run_item(it)]
    tables = audit.Tables(eh, mis, ret)
    by = {n.key: audit.audit_number(n, tables) for n in PUBLISHED if n.delta == 1.0}
    assert by["readme-ci-h-g1"].verdict == audit.OWN_MC
    assert by["readme-ci-h-g1"].recomputed == "0.2443 [0.0817, 0.3942]"
    assert by["readme-mis-ci"].verdict == audit.OWN
    assert by["readme-mis-ci"].recomputed.startswith("0.3948")
    assert by["return-mean-r"].verdict == audit.OWN
    assert by["return-pooled-r"].verdict == audit.OWN
    assert by["summary-mis-1"].verdict == audit.OWN
    assert by["paper-mean-kappa-h3"].verdict == audit.DIFFERS
    # the 23 Monte Carlo disagreements against the estimator's exact law
    mean, sd = audit.noise_prediction(eh)
    assert (round(mean, 1), round(sd, 1)) == (21.8, 3.8)


def test_partial_runs_say_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from coherence.experiments.report import coverage_header

    args = ["experiments", "return-improvement", "--limit", "2", "--out"]
    assert main([*args, str(tmp_path), "--workers", "0", "--no-progress"]) == 0
    assert "PARTIAL: 2 of 10 instances" in capsys.readouterr().out
    rows = [{"family": "T4_A2", "seed": s} for s in candidate_seeds(0, 2)]
    header = coverage_header({"return-improvement": rows})
    assert header.endswith("return-improvement 2 of 10 (PARTIAL)")


def test_monte_carlo_law_closed_form() -> None:
    # one k, p = 1/2 at m = 1: their 500 runs pass iff >= 250 succeed,
    # P = 1 - (1 - C(500, 250) / 2^500) / 2; the rest passes at m = 2
    from fractions import Fraction
    from math import comb

    from coherence.experiments.horizon import monte_carlo_law

    fail = float((1 - Fraction(comb(500, 250), 2**500)) / 2)
    law = monte_carlo_law({1: {1: 0.5}}, 2)
    assert law[1.0] == pytest.approx(1 - fail, abs=1e-12)
    assert law[2.0] == pytest.approx(fail, abs=1e-12)
    # independent k: H_hat = min_k; k = 2 always passes at m = 1 (H = 2)
    both = monte_carlo_law({1: {1: 0.5}, 2: {1: 1.0}}, 2)
    assert both == pytest.approx({1.0: 1 - fail, 2.0: fail}, abs=1e-12)
    never = monte_carlo_law({1: dict.fromkeys((1, 2, 4), 0.0)}, 2, max_m=4)
    assert never == {float("inf"): 1.0}


def test_report_title_counts_the_verdicts() -> None:
    from coherence.experiments.report import report_title

    verdicts = [audit.OWN, audit.OWN_MC, "reproduced", audit.DIFFERS, audit.PARTIAL]
    lines = [audit.AuditLine("q", "s", "1", "1", v) for v in verdicts]
    title = report_title(lines)
    assert "3 reproduced (1 of them only with their Monte Carlo H" in title
    assert "1 differ" in title and "1 not recomputed" in title
