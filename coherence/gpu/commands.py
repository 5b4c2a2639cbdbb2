"""``coherence retrain``, ``coherence anneal`` and ``coherence profile``: the
learning algorithms of SPEC §5 on a case file, reported against the oracle.

Every row's verdict is a hypothesis test with a stated family-wise error rate
(``--level``, default 1e-3, Bonferroni over every cell of every row;
:mod:`coherence.gpu.learning.verdict`): ``retrain`` judges every visited cell
of round k by the Chernoff interval of its successful-action frequencies
against G of the PREVIOUS ESTIMATED policy (the transformer: every visited
successful prefix against the exact P(a_t | history, success) of its previous
acting policy), and a model learner must also meet its fit criterion;
``anneal`` judges every (t, s, a) of a stage against the exact backup of the
stage's own learned next-step values. A row is FAIL when a target lies outside
its interval, ``insufficient data`` (not a pass; with the samples that would
do) when an interval is wider than +-``--tolerance``, else pass. The distance
to the exact G_k / T_alpha, which includes the error carried from earlier
rounds or steps, is reported beside it, with kappa_1 raw and support-aware
(docs/learning.md) and J_prob of the learned policy and of the exact one.
``--check`` exits 1 unless every row passes; ``--repeats R`` runs seeds
seed..seed+R-1 and reports the median with the [min, max] range over seeds;
``--plot FILE`` draws the learning curves; ``--save-policy FILE`` writes the
last round's policy as a results file with a case beside it that
``coherence conformance check`` judges. ``--json`` prints one JSON object per
row instead of the table (infinities as "inf", CASE_FORMAT Numbers).
``profile`` reads a saved policy and prints its incoherence profile.

torch is imported inside the handlers, so ``coherence --help`` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

__all__ = [
    "MAX_EPISODES",
    "MAX_REPEATS",
    "MAX_ROUNDS",
    "MAX_SAMPLES",
    "MAX_SEED",
    "MAX_THREADS",
    "register",
]

#: Fit tolerance of each learner (added to its binomial bound): the fitted model
#: is checked against this distance from the empirical frequencies (the MLE) in
#: the tests, and it bounds a softmax's floor where a target is exactly 0 or 1.
FIT_TOLERANCE = {"mc": 0.0, "tabular": 1e-3, "mlp": 1e-3, "transformer": 1e-2}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _fraction_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def _level_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


#: Most stages of an ``anneal --schedule`` (each stage is a full learning run).
MAX_STAGES = 1000


def _schedule(text: str) -> list[Fraction]:
    from coherence._options import rational_list_option

    stages = rational_list_option("--schedule", low=Fraction(0))(text)
    if len(stages) > MAX_STAGES:
        raise argparse.ArgumentTypeError(
            f"{len(stages)} stages exceed the limit of {MAX_STAGES}"
        )
    return stages


#: Largest ``--threads`` (torch intra-op threads; far more than cores aborts
#: inside the OpenMP runtime).
MAX_THREADS = 256
#: ``--device``: a torch device type, optionally with an index.
_DEVICE = re.compile(r"(cpu|cuda|mps|xpu|meta)(:[0-9]{1,3})?", re.ASCII)


def _device(text: str) -> str:
    if not _DEVICE.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"expected a torch device such as cpu, cuda or cuda:1, got {text!r}"
        )
    return text


def _torch_device(text: str) -> Any:
    """``torch.device(text)``, checked to exist on this machine."""
    import torch

    device = torch.device(text)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            raise ValueError(
                f"--device {text!r}: this machine has {count} CUDA device(s); "
                "use --device cpu"
            )
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"--device {text!r}: MPS is unavailable; use --device cpu")
    elif device.type != "cpu":
        raise ValueError(f"--device {text!r}: unsupported here; use --device cpu")
    return device


#: Bounds of the learners' counts, checked before any work: the rollouts of a
#: round and the sampled steps of a stage are held in memory at once (numbers
#: of 10^12 asked torch for terabytes).
MAX_EPISODES = 10_000_000
MAX_SAMPLES = 10_000_000
MAX_ROUNDS = 1000
MAX_REPEATS = 1000
#: Seeds are torch and numpy seeds: 0 .. 2^63 - 1.
MAX_SEED = 2**63 - 1


def _bounded(what: str, low: int, high: int) -> Callable[[str], int]:
    from coherence._options import int_option

    return int_option(what, low=low, high=high)


def _threads(text: str) -> int:
    from coherence._options import int_option

    return int_option("--threads", low=1, high=MAX_THREADS)(text)


def _torch_needs(args: argparse.Namespace) -> tuple[str, ...]:
    """torch always; matplotlib with ``--plot``."""
    return ("torch", "matplotlib") if getattr(args, "plot", None) else ("torch",)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("case", help="case file (coherence-case/1 JSON)")
    p.add_argument(
        "--seed",
        type=_bounded("--seed", 0, MAX_SEED),
        default=0,
        help="random seed (default 0)",
    )
    p.add_argument(
        "--json", action="store_true", help="print one JSON object per row to stdout"
    )
    p.add_argument(
        "--device",
        type=_device,
        default=None,
        help="torch device (default: cuda if available, else cpu)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when a row fails its bound",
    )
    p.add_argument(
        "--level",
        type=_level_arg,
        default=1e-3,
        help="family-wise error rate of the verdict: the probability that a "
        "correct learner fails any cell of any row, split by Bonferroni over "
        "every cell of every row (default 1e-3)",
    )
    p.add_argument(
        "--tolerance",
        type=_positive_float,
        default=0.05,
        help="largest half-width of a cell's interval for a row to pass; wider: "
        "'insufficient data' with the samples needed (default 0.05)",
    )
    p.add_argument(
        "--sigmas",
        type=_positive_float,
        default=5.0,
        help="standard deviations of the reported one-sigma-style bound columns "
        "(not the verdict; default 5)",
    )
    p.add_argument(
        "--repeats",
        type=_bounded("--repeats", 1, MAX_REPEATS),
        default=1,
        help="run seeds seed..seed+R-1 and report median [min, max] (default 1)",
    )
    p.add_argument("--plot", metavar="FILE", help="write the learning curves here")
    p.add_argument(
        "--threads",
        type=_threads,
        default=1,
        help="torch intra-op threads on cpu (default 1: the tensors are small, "
        "and more threads only add synchronisation)",
    )


def register(subparsers: Any) -> None:
    """Add ``retrain``, ``anneal`` and ``profile`` to the ``coherence`` command."""
    p = subparsers.add_parser(
        "retrain",
        help="Monte Carlo re-training / outcome-conditioned fine-tuning vs G_k",
        description="Re-train on the policy's own successful rollouts for K rounds "
        "and compare each round with the oracle's G_k (SPEC §5).",
    )
    _common(p)
    p.add_argument(
        "--rounds",
        type=_bounded("--rounds", 1, MAX_ROUNDS),
        default=3,
        help="K (default 3)",
    )
    p.add_argument(
        "--episodes",
        type=_bounded("--episodes", 1, MAX_EPISODES),
        default=100_000,
        help="N episodes per round (default 100000)",
    )
    p.add_argument(
        "--learner",
        choices=("mc", "tabular", "mlp", "transformer"),
        default="mc",
        help="mc: empirical frequencies; tabular / mlp: outcome-conditioned model "
        "p(a|s,t,o); transformer: causal transformer over episode tokens "
        "(default mc)",
    )
    p.add_argument(
        "--mode",
        choices=("replace", "aggregate"),
        default="replace",
        help="model training data: newest round or all rounds",
    )
    p.add_argument(
        "--min-share",
        type=_fraction_arg,
        default=0.01,
        help="visited cells with less than this share of their step's successful "
        "visits are judged but exempt from the precision requirement (counted in "
        "the 'exempt' column; default 0.01)",
    )
    p.add_argument(
        "--fit-steps",
        type=_positive_int,
        default=None,
        help="most optimiser steps per round of a model learner (default: "
        "tabular/mlp 300; transformer 2000, stopping early once its fit "
        "criterion holds)",
    )
    p.add_argument(
        "--save-policy",
        metavar="FILE",
        help="write the last round's policy as a results file FILE (NAME.json) "
        "and the case that judges it as NAME.case.json beside it",
    )
    p.set_defaults(handler=_retrain, needs=_torch_needs)

    q = subparsers.add_parser(
        "anneal",
        help="annealed soft Q-learning (Z-learning or max-ent) vs T_alpha",
        description="Learn along a schedule alpha_1, alpha_2, ... from sampled "
        "steps, each stage warm-started from the previous one, and compare each "
        "stage with T_alpha or the max-ent optimum (SPEC §5).",
    )
    _common(q)
    q.add_argument(
        "--schedule",
        type=_schedule,
        default=_schedule("1,2,4,8"),
        help="comma-separated alphas in the order learned (default 1,2,4,8)",
    )
    q.add_argument(
        "--backup",
        choices=("z", "maxent"),
        default="z",
        help="z: exact-conditioning (Z-learning); maxent: maximum entropy (default z)",
    )
    q.add_argument(
        "--samples",
        type=_bounded("--samples", 1, MAX_SAMPLES),
        default=1 << 16,
        help="sampled steps per (t, s, a) and stage (default 65536)",
    )
    q.add_argument(
        "--warm",
        type=_non_negative_int,
        default=None,
        help="pseudo-count of the previous stage's values: a FIXED number of "
        "samples, whose influence n0 / (n0 + samples) vanishes as samples grow "
        "(default 0: the previous stage is only the initial iterate, forgotten "
        "at the first sample)",
    )
    q.set_defaults(handler=_anneal, needs=_torch_needs)

    r = subparsers.add_parser(
        "profile",
        help="incoherence profile of a saved learned policy",
        description="kappa_1 of a learned policy, kappa_1 of exact G_k and the "
        "distance between them (model-fit error vs structural incoherence).",
    )
    r.add_argument("case", help="the case file the policy was learned on")
    r.add_argument("policy", help="results file written by retrain --save-policy")
    r.add_argument(
        "--k", type=_non_negative_int, required=True, help="compare with G_k"
    )
    r.add_argument("--query", default="learned", help="answer id (default learned)")
    r.add_argument("--json", action="store_true", help="print the profile as JSON")
    r.set_defaults(handler=_profile, needs=_torch_needs)


# ------------------------------------------------------------------ helpers
def _finite_or_str(x: float | None) -> float | str | None:
    if x is None or not math.isinf(x):
        return x
    return "inf" if x > 0 else "-inf"


def _fmt(x: float | None, width: int = 8) -> str:
    if x is None:
        return f"{'-':>{width}}"
    if math.isinf(x):
        return f"{'inf' if x > 0 else '-inf':>{width}}"
    return f"{x:>{width}.4g}"


def _interval(values: Sequence[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "-"
    if len(known) == 1:
        return _fmt(known[0]).strip()
    med = statistics.median(known)
    return (
        f"{_fmt(med).strip()} [{_fmt(min(known)).strip()}, {_fmt(max(known)).strip()}]"
    )


def _check_output(path: str | None, what: str) -> Path | None:
    from coherence._io import check_output_target

    if path is None:
        return None
    out = Path(path)
    if not out.parent.is_dir():
        raise ValueError(f"{what}: directory {str(out.parent)!r} does not exist")
    if out.is_dir():
        raise ValueError(f"{what}: {path!r} is a directory")
    check_output_target(out, what)
    return out


def _check_plot(path: str | None) -> Path | None:
    out = _check_output(path, "--plot")
    if out is not None and out.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise ValueError(f"--plot: {path!r}: expected a .png, .pdf or .svg file")
    return out


def _seeds(args: argparse.Namespace) -> list[int]:
    return [args.seed + i for i in range(args.repeats)]


def _report(
    args: argparse.Namespace,
    title: str,
    header: Sequence[tuple[str, int]],
    rows_by_seed: Iterator[tuple[int, dict[str, Any]]],
    cells: Callable[[dict[str, Any]], list[str]],
    summary_keys: Sequence[str],
    total: int,
) -> list[list[dict[str, Any]]]:
    """Run, print (table or JSON lines) and return the rows per seed."""
    from tqdm import tqdm

    runs: list[list[dict[str, Any]]] = [[] for _ in range(args.repeats)]
    line = "  ".join(f"{name:>{w}}" for name, w in header)
    if not args.json:
        print(title)
        if args.repeats == 1:
            print(line)
    with tqdm(total=total, file=sys.stderr, unit="row", leave=False) as bar:
        for i, rec in rows_by_seed:
            runs[i].append(rec)
            bar.update(1)
            if args.json:
                print(
                    json.dumps(
                        {
                            k: _finite_or_str(v) if isinstance(v, float) else v
                            for k, v in rec.items()
                        }
                    ),
                    flush=True,
                )
            elif args.repeats == 1:
                tqdm.write("  ".join(cells(rec)), file=sys.stdout)
    if not args.json and args.repeats > 1:
        print(f"median [min, max] over seeds {_seeds(args)}:")
        for j in range(len(runs[0])):
            group = [run[j] for run in runs]
            passed = sum(bool(r["passed"]) for r in group)
            parts = [f"{group[0]['row_label']}"]
            for key in summary_keys:
                parts.append(f"{key} {_interval([r[key] for r in group])}")
            parts.append(f"passed {passed}/{len(group)}")
            print("  ".join(parts))
    return runs


def _verdict(args: argparse.Namespace, runs: list[list[dict[str, Any]]]) -> int:
    """Print the run's verdict; exit 1 with ``--check`` unless every row passes
    (a row that is ``insufficient data`` does not pass)."""
    failed = [
        (args.seed + i, r["row_label"])
        for i, run in enumerate(runs)
        for r in run
        if r["outcome"] == "FAIL"
    ]
    short = [
        (args.seed + i, r["row_label"], r["samples_needed"])
        for i, run in enumerate(runs)
        for r in run
        if r["outcome"] == "insufficient data"
    ]
    n = sum(len(run) for run in runs)
    if not args.json:
        scope = f"family-wise level {args.level:g}, tolerance {args.tolerance:g}"
        if failed:
            where = ", ".join(f"seed {s} {label}" for s, label in failed[:5])
            print(
                f"verdict: FAIL ({len(failed)}/{n} rows reject their targets at "
                f"{scope}: {where})"
            )
        elif short:
            need = max(x for _, _, x in short)
            where = ", ".join(f"seed {s} {label}" for s, label, _ in short[:5])
            print(
                f"verdict: insufficient data ({len(short)}/{n} rows have an interval "
                f"wider than +-{args.tolerance:g}: {where}; about "
                + (
                    f"{need} {args.unit} would do"
                    if need > 0
                    else "no count would do: no cell was judged, or the fit "
                    "error alone exceeds the tolerance"
                )
                + ")"
            )
        else:
            print(f"verdict: PASS ({n}/{n} rows within their intervals at {scope})")
    return 1 if (args.check and (failed or short)) else 0


# ------------------------------------------------------------------ retrain
def _retrain(args: argparse.Namespace) -> int:
    from coherence.reference.case import load_case

    plot = _check_plot(args.plot)
    save = _check_output(args.save_policy, "--save-policy")
    if save is not None:
        _save_name(save)  # a bad name is an error before any work
        _check_output(str(save.parent / f"{save.stem}.case.json"), "--save-policy")
    mdp = load_case(args.case).mdp
    if args.learner == "transformer":
        T, S, A = mdp.horizon, mdp.n_states, mdp.n_actions
        from coherence.gpu.learning.sequence_model import PREFIX_LIMIT

        if (S * A) ** T * S > PREFIX_LIMIT:
            raise ValueError(
                f"case: {mdp.name!r} has {(S * A) ** T * S} complete histories; the "
                f"transformer's exact prefix check handles at most {PREFIX_LIMIT}"
            )
        if args.mode == "aggregate":
            raise ValueError(
                "--mode: 'aggregate' has no exact prefix check for the "
                "transformer; use --mode replace"
            )

    import torch

    from coherence.gpu.learning import Environment, default_device
    from coherence.queries import Evaluator

    device = _torch_device(args.device) if args.device else default_device()
    torch.set_num_threads(args.threads)
    env = Environment.from_mdp(mdp, device)
    evaluator = Evaluator(mdp, "numpy")
    fit_tol = FIT_TOLERANCE[args.learner]
    args.unit = "episodes per round"
    n_tests = args.rounds * _cells_per_round(env, args.learner)
    delta = args.level / n_tests
    last_policy: dict[int, Any] = {}

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        for i, seed in enumerate(_seeds(args)):
            for rec, policy, well in _retrain_rounds(
                args, env, evaluator, seed, delta, fit_tol
            ):
                last_policy[i] = (policy, well, rec)
                yield i, rec

    header = [
        ("round", 5),
        ("cells", 5),
        ("reject", 6),
        ("excess", 8),
        ("half", 7),
        ("wide", 4),
        ("exempt", 6),
        ("fit", 7),
        ("|pi-G_k|", 8),
        ("kappa_1", 8),
        ("k1(supp)", 8),
        ("k1(G_k)", 8),
        ("J_prob", 8),
        ("J(G_k)", 8),
        ("s", 6),
        ("verdict", 7),
    ]

    def cells(r: dict[str, Any]) -> list[str]:
        return [
            f"{r['round']:>5}",
            f"{r['cells']:>5}",
            f"{r['rejected']:>6}",
            _fmt(r["worst_excess"]),
            _fmt(r["max_halfwidth"], 7),
            f"{r['insufficient']:>4}",
            f"{r['exempt']:>6}",
            _fmt(r["fit_error"], 7),
            _fmt(r["max_abs_dev_G_k"]),
            _fmt(r["kappa_1"]),
            _fmt(r["kappa_1_support"]),
            _fmt(r["kappa_1_G_k"]),
            _fmt(r["J_prob"]),
            _fmt(r["J_prob_G_k"]),
            f"{r['seconds']:>6.1f}",
            "pass" if r["outcome"] == "pass" else r["outcome"],
        ]

    target = (
        "P(a_t | history, success) of the previous round's acting policy at every "
        "successful prefix"
        if args.learner == "transformer"
        else "G(pi_(k-1)) (G of the previous ESTIMATED policy)"
    )
    title = (
        f"retrain {mdp.name}: learner {args.learner} ({args.mode}), "
        f"N = {args.episodes} episodes/round, {args.rounds} rounds, device "
        f"{device}\nverdict: family-wise level {args.level:g} (Bonferroni over "
        f"{n_tests} cells x rounds, {delta:.3g} each); every visited cell's "
        f"Chernoff interval must contain {target}; fit criterion <= {fit_tol:g}; "
        f"a cell wider than +-{args.tolerance:g} is insufficient data unless it has "
        f"< {args.min_share:g} of its step's successful visits (exempt: judged, no "
        "precision claimed)\n"
        "columns: visited cells, cells rejecting, largest distance target-interval, "
        "widest half-width (fit included), cells too wide, fit error, max |pi_k - "
        "G_k| over visited cells (carried error included; reported)"
    )
    runs = _report(
        args,
        title,
        header,
        rows(),
        cells,
        ("max_abs_dev_G_k", "max_halfwidth", "kappa_1", "J_prob", "seconds"),
        args.rounds * args.repeats,
    )
    if not args.json:
        for note in kappa_notes(runs[0]):
            print(f"note: {note}")
    if plot is not None:
        _plot_retrain(plot, mdp.name, args, runs)
        if not args.json:
            print(f"figure: {plot}")
    if save is not None:
        policy, well, rec = last_policy[0]
        case_file = _save_policy(save, mdp, policy, well, rec, args, evaluator)
        if not args.json:
            print(
                f"saved: {save} (results) and {case_file} (case); judge with: "
                f"coherence conformance check {case_file} --results {save.parent}"
            )
    return _verdict(args, runs)


def _cells_per_round(env: Any, learner: str) -> int:
    """Tests of one round, counted before the data: every (t, s, a), or for
    the transformer every (prefix, a)."""
    T, S, A = env.shape
    if learner != "transformer":
        return int(T * S * A)
    return sum(S ** (t + 1) * A**t * A for t in range(T))


def kappa_notes(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Why kappa_1 looks wrong where it does, for the rows of one seed: where
    it is infinite (which (t, s, a) makes it so), and where it rises from one
    round to the next (kappa need not fall along G_k: docs/spec.md §7 claim
    17; the exact G_k column says whether the rise is the theory's or the
    fit's)."""
    from coherence.reference.numpy_engine import KAPPA_RISES

    notes: list[str] = []
    inf_rows = [r for r in rows if math.isinf(r["kappa_1"])]
    if inf_rows:
        r = inf_rows[0]
        more = f" (and {len(inf_rows) - 1} more rounds)" if len(inf_rows) > 1 else ""
        notes.append(f"{r['row_label']}{more}: {r['kappa_1_why']}")
    for before, after in itertools.pairwise(rows):
        for key, name in (("kappa_1_G_k", "kappa_1(G_k)"), ("kappa_1", "kappa_1")):
            x, y = before[key], after[key]
            if math.isfinite(x) and math.isfinite(y) and y > x:
                exact = key == "kappa_1_G_k"
                notes.append(
                    f"{name} rises from {before['row_label']} ({x:.3g}) to "
                    f"{after['row_label']} ({y:.3g}): "
                    + (
                        "the exact G_k does this too, so it is the theory, not the "
                        f"fit: {KAPPA_RISES}; "
                        if exact
                        else "the learned policy's kappa, whose exact G_k "
                        "counterpart does not rise: sampling or fit error; "
                    )
                    + after[f"{key}_why"]
                )
                break
    return notes


def _retrain_rounds(
    args: argparse.Namespace,
    env: Any,
    evaluator: Any,
    seed: int,
    delta: float,
    fit_tol: float,
) -> Iterator[tuple[dict[str, Any], Any, Any]]:
    """(record, learned policy, claimed-precision mask (T, S)) per round of one
    seed (module docstring; coherence.gpu.learning.verdict)."""
    import numpy as np

    from coherence.gpu.learning import (
        MLPOutcomeModel,
        OutcomeConditionedLearner,
        TabularOutcomeModel,
        log_policy,
        make_generator,
        mc_retrain_round,
        reference_condition,
    )
    from coherence.gpu.learning.profile import support_kappa
    from coherence.gpu.learning.sequence_model import (
        CausalTransformer,
        SequenceLearner,
        prefix_targets,
    )
    from coherence.gpu.learning.verdict import frequency_test, kl_interval
    from coherence.reference.numpy_engine import explain_kappa
    from coherence.reference.operators import PolicySpec
    from coherence.reference.recurrences import Boltzmann

    engine = evaluator.engine("numpy")
    names = (evaluator.mdp.states, evaluator.mdp.actions)
    gen = make_generator(seed, env.device)
    T, S, A = env.shape
    support = (env.prior_policy() > 0).cpu().numpy()
    model_learner: OutcomeConditionedLearner | None = None
    seq_learner: SequenceLearner | None = None
    steps = args.fit_steps
    if args.learner in ("tabular", "mlp"):
        model: TabularOutcomeModel | MLPOutcomeModel
        if args.learner == "tabular":
            model = TabularOutcomeModel(T, S, A, device=env.device)
        else:
            model = MLPOutcomeModel(T, S, A, generator=gen, device=env.device)
        model_learner = OutcomeConditionedLearner(
            env, model, mode=args.mode, generator=gen, fit_steps=steps or 300
        )
    elif args.learner == "transformer":
        seq_learner = SequenceLearner(
            env, CausalTransformer(env, generator=gen), mode=args.mode, generator=gen
        )
    pol = env.prior_policy()
    f1 = Boltzmann(Fraction(1))
    pooled_num = np.zeros((T, S, A))
    pooled_den = np.zeros((T, S))
    for k in range(1, args.rounds + 1):
        start = time.perf_counter()
        prev = pol
        hist: float | None = None
        fit = 0.0
        if seq_learner is not None:
            beta = seq_learner.behaviour()
            max_chunks = max(1, (steps or 2000) // seq_learner.fit_steps)
            srnd = seq_learner.step(
                args.episodes,
                threshold=args.episodes + 1,
                history_threshold=100,
                fit_tolerance=fit_tol,
                max_chunks=max_chunks,
                delta=delta,
            )
            pol, visits, n_success = srnd.policy, srnd.visits, srnd.n_success
            hist, fit = srnd.history_dependence, srnd.fit_gap
            verdict = _prefix_verdict(
                env, seq_learner, prefix_targets(env, beta), delta, fit, fit_tol, args
            )
        else:
            if model_learner is not None:
                mrnd = model_learner.step(args.episodes)
                pol, visits, n_success = mrnd.policy, mrnd.visits, mrnd.n_success
                counts = mrnd.counts[:, :, 1, :].cpu().numpy()
            else:
                rnd = mc_retrain_round(
                    env, pol, args.episodes, generator=gen, round_index=k
                )
                pol, visits, n_success = rnd.policy, rnd.visits, rnd.n_success
                counts = rnd.counts.cpu().numpy()
            n = visits.cpu().numpy()
            freq = counts / np.maximum(n, 1.0)[..., None]
            target = reference_condition(engine, prev)
            if args.mode == "aggregate" and model_learner is not None:
                # pooled rounds: the counts are sums of binomials, Hoeffding's
                # theorem gives the binomial tails at the visit-weighted target
                n_new = n - pooled_den
                pooled_num += n_new[..., None] * target
                pooled_den = n.copy()
                target = np.where(
                    n[..., None] > 0, pooled_num / np.maximum(n, 1.0)[..., None], target
                )
            learned = pol.detach().cpu().numpy()
            seen = (n > 0)[..., None] & support
            fit = float(np.abs(learned - freq)[seen].max()) if seen.any() else 0.0
            verdict = frequency_test(
                freq,
                target,
                n,
                delta=delta,
                tolerance=args.tolerance,
                samples=args.episodes,
                fit_error=fit,
                fit_tolerance=fit_tol,
                support=support,
                min_share=args.min_share,
            )
        seconds = time.perf_counter() - start
        log_pi = log_policy(pol)
        log_gk = evaluator.policy(PolicySpec("G", k=k))
        g_k = np.exp(log_gk)
        n_np = visits.detach().cpu().numpy()
        visited = n_np > 0
        dist = np.abs(pol.detach().cpu().numpy() - g_k).max(-1)
        record: dict[str, Any] = {
            "row_label": f"round {k}",
            "round": k,
            "cells": verdict.n_cells,
            "rejected": verdict.n_rejected,
            "worst_excess": verdict.worst_excess,
            "max_halfwidth": verdict.max_halfwidth,
            "insufficient": verdict.n_insufficient,
            "exempt": verdict.n_exempt,
            "samples_needed": verdict.samples_needed,
            "delta": delta,
            "level": args.level,
            "tolerance": args.tolerance,
            "fit_error": fit,
            "fit_tolerance": fit_tol,
            "max_abs_dev_G_k": float(dist[visited].max()) if visited.any() else 0.0,
            "kappa_1": float(engine.kappa(log_pi, f1)),
            "kappa_1_support": support_kappa(engine, log_pi, f1),
            "kappa_1_G_k": float(engine.kappa(log_gk, f1)),
            "kappa_1_why": explain_kappa(engine, log_pi, f1, *names),
            "kappa_1_G_k_why": explain_kappa(engine, log_gk, f1, *names),
            "J_prob": float(engine.j_prob(log_pi)),
            "J_prob_G_k": float(engine.j_prob(log_gk)),
            "history_dependence": hist,
            "successes": n_success,
            "episodes": args.episodes,
            "seconds": seconds,
            "outcome": verdict.outcome,
            "passed": verdict.passed,
            "learner": args.learner,
            "mode": args.mode,
            "seed": seed,
        }
        # precision claimed where even a frequency of 1/2 has a narrow interval
        half = kl_interval(np.full(n_np.shape, 0.5), n_np, delta)
        claim = visited & (0.5 * (half[1] - half[0]) + fit <= args.tolerance)
        record["claimed_cells"] = int(claim.sum())
        yield record, pol, claim


def _prefix_verdict(
    env: Any,
    learner: Any,
    targets: list[Any],
    delta: float,
    fit: float,
    fit_tol: float,
    args: argparse.Namespace,
) -> Any:
    """The transformer's round judged at every visited successful prefix: the
    Chernoff interval of its data's frequencies must contain the exact
    P(a_t | h, success) of the previous acting policy (``targets``), and the
    model must meet its fit criterion (``fit`` <= ``fit_tol``)."""

    from coherence.gpu.learning.verdict import CellVerdict, frequency_test

    data = learner.prefix_data()
    parts = []
    for t in range(env.shape[0]):
        n_h = data.counts[t].cpu().numpy()
        if n_h.size == 0:
            continue
        freq = data.action_counts[t].cpu().numpy() / n_h[:, None]
        tgt = targets[t][data.index[t]].cpu().numpy()
        parts.append(
            frequency_test(
                freq[None],
                tgt[None],
                n_h[None],
                delta=delta,
                tolerance=args.tolerance,
                samples=args.episodes,
                fit_error=fit,
                fit_tolerance=fit_tol,
                min_share=args.min_share,
            )
        )
    if not parts:
        return CellVerdict(0, 0, 0.0, 0.0, 0, 0, args.tolerance, delta, fit, fit_tol)
    return CellVerdict(
        n_cells=sum(v.n_cells for v in parts),
        n_rejected=sum(v.n_rejected for v in parts),
        worst_excess=max(v.worst_excess for v in parts),
        max_halfwidth=max(v.max_halfwidth for v in parts),
        n_insufficient=sum(v.n_insufficient for v in parts),
        samples_needed=max(v.samples_needed for v in parts),
        tolerance=args.tolerance,
        delta=delta,
        fit_error=fit,
        fit_tolerance=fit_tol,
        n_exempt=sum(v.n_exempt for v in parts),
    )


def _save_name(path: Path) -> str:
    from coherence.reference.case import results_path

    if path.suffix != ".json" or path.name.endswith(".case.json"):
        raise ValueError(
            f"--save-policy: {str(path)!r}: expected NAME.json (NAME.case.json "
            "is written beside it)"
        )
    name = path.stem
    if results_path(path.parent, name) != path.parent / f"{name}.json":
        raise ValueError(
            f"--save-policy: {name!r} is not a plain case name (letters, digits, "
            "'.', '_', '-')"
        )
    return name


def _save_policy(
    path: Path,
    mdp: Any,
    policy: Any,
    well: Any,
    rec: dict[str, Any],
    args: argparse.Namespace,
    evaluator: Any,
) -> Path:
    """Write the results file and its case; returns the case file's path.

    The case asks for the policy G_K (K = the last round) with tolerance
    abs = --tolerance at every (t, s) that was well visited; at the other (t, s)
    the learner makes no claim, and the case's expected answer there is the
    learned value itself (listed in the case's ``source``)."""
    import numpy as np

    from coherence import __version__
    from coherence.reference.case import (
        Case,
        Query,
        Results,
        Tolerance,
        write_case,
        write_results,
    )
    from coherence.reference.operators import PolicySpec

    name = _save_name(path)
    k = rec["round"]
    probs = policy.detach().to("cpu").double().numpy()
    g_k = np.exp(evaluator.policy(PolicySpec("G", k=k)))
    T, S, A = probs.shape
    st, ac = mdp.states, mdp.actions
    learned = {
        str(t): {
            st[s]: {ac[a]: float(probs[t, s, a]) for a in range(A)} for s in range(S)
        }
        for t in range(T)
    }
    excluded = [
        f"t={t} s={st[s]}" for t in range(T) for s in range(S) if not well[t, s]
    ]
    expected = {
        str(t): {
            st[s]: {
                ac[a]: float(g_k[t, s, a] if well[t, s] else probs[t, s, a])
                for a in range(A)
            }
            for s in range(S)
        }
        for t in range(T)
    }
    query = Query(
        id="learned",
        quantity="policy",
        policy=PolicySpec("G", k=k),
        exact=False,
        tolerance=Tolerance(rel=0.0, abs=args.tolerance),
    )
    case = Case(
        mdp=dataclasses.replace(mdp, name=name),
        queries=(query,),
        expected={"learned": expected},
        description=(
            f"The policy learned by coherence retrain --learner {args.learner} "
            f"on {mdp.name} (N = {args.episodes}, round {k}, seed {rec['seed']}) "
            f"against G_{k}: within abs {args.tolerance:g} at every (t, s) whose "
            f"Chernoff interval (level {rec['delta']:.3g}) at frequency 1/2 is "
            f"within +-{args.tolerance:g}; at the (t, s) listed in "
            "source.no_claim the expected value is the learned value itself."
        ),
        source={"case": mdp.name, "no_claim": excluded},
    )
    results = Results(
        case=name,
        implementation=f"coherence {__version__} retrain --learner {args.learner}",
        answers={"learned": learned},
    )
    case_path = path.parent / f"{name}.case.json"
    write_case(case_path, case)
    write_results(path, results)
    return case_path


def _plot_retrain(
    path: Path, name: str, args: argparse.Namespace, runs: list[list[dict[str, Any]]]
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = [r["round"] for r in runs[0]]

    def band(key: str) -> tuple[list[float], list[float], list[float]]:
        med, lo, hi = [], [], []
        for j in range(len(rounds)):
            vals = [run[j][key] for run in runs if run[j][key] is not None]
            vals = [v for v in vals if math.isfinite(v)] or [math.nan]
            med.append(statistics.median(vals))
            lo.append(min(vals))
            hi.append(max(vals))
        return med, lo, hi

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    med, lo, hi = band("max_abs_dev_G_k")
    ax = axes[0]
    ax.plot(rounds, med, "o-", label="max |pi_k - G_k| (median)")
    ax.fill_between(rounds, lo, hi, alpha=0.3, label=f"range over {len(runs)} seed(s)")
    ax.axhline(args.tolerance, color="k", ls="--", lw=1, label="tolerance")
    ax.set_xlabel("round k")
    ax.set_ylabel("deviation at well-visited (t, s)")
    ax.legend(fontsize=8)
    for ax, key, label in (
        (axes[1], "kappa_1", "kappa_1"),
        (axes[2], "J_prob", "J_prob"),
    ):
        med, lo, hi = band(key)
        exact, _, _ = band(f"{key}_G_k")
        ax.plot(rounds, med, "o-", label=f"learned ({args.learner})")
        ax.fill_between(rounds, lo, hi, alpha=0.3)
        ax.plot(rounds, exact, "s--", color="k", label="exact G_k")
        ax.set_xlabel("round k")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    for ax in axes:
        ax.set_xticks(rounds)
    fig.suptitle(f"retrain {name}: {args.learner}, N = {args.episodes} per round")
    fig.tight_layout()
    from coherence._io import atomic_write_with

    atomic_write_with(path, lambda tmp: fig.savefig(tmp, format=path.suffix[1:]))
    plt.close(fig)


# ------------------------------------------------------------------ anneal
def _anneal(args: argparse.Namespace) -> int:
    from coherence.reference.case import load_case

    plot = _check_plot(args.plot)
    mdp = load_case(args.case).mdp

    import numpy as np
    import torch

    from coherence.gpu.learning import (
        Environment,
        anneal,
        default_device,
        make_generator,
    )
    from coherence.gpu.learning.profile import support_kappa
    from coherence.gpu.learning.retrain import log_policy
    from coherence.gpu.learning.soft_q import interval_count, stage_test
    from coherence.queries import Evaluator
    from coherence.reference.operators import PolicySpec
    from coherence.reference.recurrences import Boltzmann

    device = _torch_device(args.device) if args.device else default_device()
    torch.set_num_threads(args.threads)
    env = Environment.from_mdp(mdp, device)
    evaluator = Evaluator(mdp, "numpy")
    engine = evaluator.engine("numpy")
    warm = 0 if args.warm is None else args.warm
    f1 = Boltzmann(Fraction(1))
    args.unit = "samples per (t, s, a)"
    n_tests = len(args.schedule) * interval_count(env)
    delta = args.level / n_tests

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        for i, seed in enumerate(_seeds(args)):
            stages = anneal(
                env,
                [float(a) for a in args.schedule],
                backup=args.backup,
                samples=args.samples,
                warm=warm,
                sigmas=args.sigmas,
                delta=delta,
                generator=make_generator(seed, device),
            )
            start = time.perf_counter()
            for k, (alpha, res) in enumerate(
                zip(args.schedule, stages, strict=True), 1
            ):
                seconds = time.perf_counter() - start
                test = stage_test(env, res, args.tolerance)
                log_pi = log_policy(res.policy)
                t_alpha = np.exp(evaluator.policy(PolicySpec("T", alpha=alpha)))
                maxent = np.exp(engine.maxent_policy(alpha))
                target = t_alpha if args.backup == "z" else maxent
                got = res.policy.detach().cpu().numpy()
                yield (
                    i,
                    {
                        "row_label": f"stage {k}",
                        "stage": k,
                        "alpha": float(alpha),
                        "backup": args.backup,
                        "rejected": test.n_rejected,
                        "worst_excess": test.worst_excess,
                        "max_halfwidth": test.max_halfwidth,
                        "insufficient": test.n_insufficient,
                        "undetermined": test.n_undetermined,
                        "samples_needed": test.samples_needed,
                        "delta": delta,
                        "level": args.level,
                        "tolerance": args.tolerance,
                        "max_abs_dev_target": float(np.abs(got - target).max()),
                        "max_abs_dev_T_alpha": float(np.abs(got - t_alpha).max()),
                        "max_abs_dev_maxent": float(np.abs(got - maxent).max()),
                        "propagated_bound": float(res.policy_bound.max()),
                        "kappa_1": float(engine.kappa(log_pi, f1)),
                        "kappa_1_support": support_kappa(engine, log_pi, f1),
                        "J_prob": float(engine.j_prob(log_pi)),
                        "J_prob_target": _j_prob_of(engine, target),
                        "samples": args.samples,
                        "warm": warm if k > 1 else 0,
                        "seconds": seconds,
                        "outcome": test.outcome(),
                        "passed": test.outcome() == "pass",
                        "seed": seed,
                    },
                )
                start = time.perf_counter()

    target_name = "T_alpha" if args.backup == "z" else "max-ent optimum"
    header = [
        ("stage", 5),
        ("alpha", 6),
        ("reject", 6),
        ("excess", 8),
        ("half", 7),
        ("wide", 4),
        ("undet", 5),
        ("|pi-target|", 11),
        ("kappa_1", 8),
        ("k1(supp)", 8),
        ("J_prob", 8),
        ("J(target)", 9),
        ("s", 6),
        ("verdict", 7),
    ]

    def cells(r: dict[str, Any]) -> list[str]:
        return [
            f"{r['stage']:>5}",
            _fmt(r["alpha"], 6),
            f"{r['rejected']:>6}",
            _fmt(r["worst_excess"]),
            _fmt(r["max_halfwidth"], 7),
            f"{r['insufficient']:>4}",
            f"{r['undetermined']:>5}",
            _fmt(r["max_abs_dev_target"], 11),
            _fmt(r["kappa_1"]),
            _fmt(r["kappa_1_support"]),
            _fmt(r["J_prob"]),
            _fmt(r["J_prob_target"], 9),
            f"{r['seconds']:>6.1f}",
            "pass" if r["outcome"] == "pass" else r["outcome"],
        ]

    title = (
        f"anneal {mdp.name}: backup {args.backup} vs {target_name}, "
        f"{args.samples} sampled steps per (t, s, a) and stage, warm start "
        f"pseudo-count {warm}\nverdict: family-wise level {args.level:g} "
        f"(Bonferroni over {n_tests} sample means, {delta:.3g} each); at every "
        "(t, s, a) the interval of the learned value and policy must contain the "
        "exact backup of the stage's own learned next-step values; a policy "
        f"interval wider than +-{args.tolerance:g} is insufficient data; undet: "
        "(t, s) whose success probability the data cannot tell from 0 (judged, "
        f"no precision claimed)\n|pi-target|: max distance to the exact "
        f"{target_name} (carried error included; reported)"
    )
    runs = _report(
        args,
        title,
        header,
        rows(),
        cells,
        ("max_abs_dev_target", "max_halfwidth", "kappa_1", "J_prob", "seconds"),
        len(args.schedule) * args.repeats,
    )
    if plot is not None:
        _plot_anneal(plot, mdp.name, args, runs)
        if not args.json:
            print(f"figure: {plot}")
    return _verdict(args, runs)


def _plot_anneal(
    path: Path, name: str, args: argparse.Namespace, runs: list[list[dict[str, Any]]]
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [r["stage"] for r in runs[0]]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    for run in runs:
        axes[0].plot(stages, [r["max_abs_dev_target"] for r in run], "o-", alpha=0.7)
        axes[0].plot(stages, [r["max_halfwidth"] for r in run], "k:", alpha=0.7)
        axes[1].plot(stages, [r["J_prob"] for r in run], "o-", alpha=0.7)
    axes[1].plot(stages, [r["J_prob_target"] for r in runs[0]], "s--", color="k")
    axes[0].set_ylabel("max |pi - target| (dotted: interval half-width)")
    axes[1].set_ylabel("J_prob (dashed: target)")
    for ax in axes:
        ax.set_xlabel("stage")
        ax.set_xticks(stages)
    fig.suptitle(f"anneal {name}: {args.backup}, schedule {args.schedule}")
    fig.tight_layout()
    from coherence._io import atomic_write_with

    atomic_write_with(path, lambda tmp: fig.savefig(tmp, format=path.suffix[1:]))
    plt.close(fig)


# ------------------------------------------------------------------ profile
def _profile(args: argparse.Namespace) -> int:
    from coherence.reference.case import load_case, load_results

    mdp = load_case(args.case).mdp
    results = load_results(args.policy)  # both read before the heavy imports

    import numpy as np

    from coherence.gpu.learning.profile import incoherence_profile

    answer = results.answers.get(args.query)
    if answer is None:
        raise ValueError(
            f"--query: {args.policy!r} has no answer {args.query!r}; it has "
            f"{', '.join(sorted(results.answers)) or 'none'}"
        )
    T = mdp.horizon
    try:
        probs = np.array(
            [
                [[float(answer[str(t)][s][a]) for a in mdp.actions] for s in mdp.states]
                for t in range(T)
            ]
        )
    except (KeyError, TypeError, ValueError):
        raise ValueError(
            f"policy: answer {args.query!r} of {args.policy!r} is not a policy table "
            f"of {mdp.name!r} (steps 0..{T - 1}, its states and actions)"
        ) from None
    prof = incoherence_profile(mdp, probs, args.k)
    why = _profile_notes(mdp, probs, args.k)
    data = dataclasses.asdict(prof) | {"kappa_gap": prof.kappa_gap}
    if args.json:
        print(json.dumps({k: _finite_or_str(v) for k, v in data.items()}))
        return 0
    print(f"incoherence profile of {args.policy} against G_{args.k} on {mdp.name}:")
    print(f"  kappa_1(learned) raw    {_fmt(prof.kappa_learned, 10)}")
    print(
        f"  kappa_1(learned) supp.  {_fmt(prof.kappa_support, 10)}  (mass on "
        "actions with Q = -inf removed: docs/learning.md)"
    )
    print(f"  kappa_1(G_{args.k})            {_fmt(prof.kappa_exact, 10)}")
    print(f"  gap (fit adds, raw)     {_fmt(prof.kappa_gap, 10)}")
    print(
        f"  max |learned - G_{args.k}| on visited (t, s)  "
        f"{_fmt(prof.distance_visited, 10)}"
    )
    print(
        f"  occupancy-weighted |learned - G_{args.k}|    "
        f"{_fmt(prof.distance_occupancy, 10)}"
    )
    print(f"  max |learned - G_{args.k}| everywhere     {_fmt(prof.distance, 10)}")
    print(f"  KL_c(learned || G_{args.k})   {_fmt(prof.causal_kl, 10)}")
    print(
        f"  J_prob learned / G_{args.k}   {_fmt(prof.j_prob_learned, 10)} / "
        f"{_fmt(prof.j_prob_exact, 1).strip()}"
    )
    for line in why:
        print(f"  note: {line}")
    return 0


def _profile_notes(mdp: Any, probs: Any, k: int) -> list[str]:
    """Where kappa_1 of the learned policy and of exact G_k come from."""
    import numpy as np

    from coherence.queries import Evaluator
    from coherence.reference.numpy_engine import explain_kappa
    from coherence.reference.operators import PolicySpec
    from coherence.reference.recurrences import Boltzmann

    evaluator = Evaluator(mdp, "numpy")
    engine = evaluator.engine("numpy")
    f1 = Boltzmann(Fraction(1))
    with np.errstate(divide="ignore"):
        learned = np.log(probs)
    exact = evaluator.policy(PolicySpec("G", k=k), "numpy")
    return [
        f"learned: {explain_kappa(engine, learned, f1, mdp.states, mdp.actions)}",
        f"G_{k}: {explain_kappa(engine, exact, f1, mdp.states, mdp.actions)}",
    ]


def _j_prob_of(engine: Any, probs: Any) -> float:
    """J_prob of a probability table (log 0 = -inf without a warning)."""
    import numpy as np

    with np.errstate(divide="ignore"):
        return float(engine.j_prob(np.log(probs)))
