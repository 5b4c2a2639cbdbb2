"""``coherence retrain`` and ``coherence anneal``: the learning algorithms of
SPEC §5 on a case file, reported round by round against the oracle.

Per round both print (tqdm progress bar on stderr) kappa_1 = KL_c(pi || pi^{Q,1})
and J_prob of the learned policy (float64 reference engine), and the largest
absolute deviation from the oracle's target (G_k, or T_alpha) over the
well-visited (t, s); ``--json`` writes one JSON object per round to stdout
(infinities as the strings "inf" / "-inf", CASE_FORMAT Numbers).
torch is imported inside the handlers, so ``coherence --help`` stays fast.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from fractions import Fraction
from typing import Any

__all__ = ["register"]


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


def _schedule(text: str) -> list[Fraction]:
    try:
        alphas = [Fraction(part.strip()) for part in text.split(",") if part.strip()]
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers such as 1,2,4,8, got {text!r}"
        ) from None
    if not alphas or any(a < 0 for a in alphas):
        raise argparse.ArgumentTypeError(f"expected alphas >= 0, got {text!r}")
    if any(b < a for a, b in itertools.pairwise(alphas)):
        raise argparse.ArgumentTypeError(f"schedule must be non-decreasing: {text!r}")
    return alphas


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("case", help="case file (coherence-case/1 JSON)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--json", action="store_true", help="print one JSON object per round to stdout"
    )
    p.add_argument(
        "--device",
        default=None,
        help="torch device (default: cuda if available, else cpu)",
    )
    p.add_argument(
        "--min-visits",
        type=_positive_int,
        default=100,
        help="a (t, s) is well visited with at least this many successful "
        "visits (default 100)",
    )


def register(subparsers: Any) -> None:
    """Add ``retrain`` and ``anneal`` to the ``coherence`` command."""
    p = subparsers.add_parser(
        "retrain",
        help="Monte Carlo re-training / outcome-conditioned fine-tuning vs G_k",
        description="Re-train on the policy's own successful rollouts for K rounds "
        "and compare each round with the oracle's G_k (SPEC §5).",
    )
    _common(p)
    p.add_argument("--rounds", type=_positive_int, default=3, help="K (default 3)")
    p.add_argument(
        "--episodes",
        type=_positive_int,
        default=100_000,
        help="N episodes per round (default 100000)",
    )
    p.add_argument(
        "--learner",
        choices=("mc", "tabular", "mlp"),
        default="mc",
        help="mc: empirical frequencies; tabular / mlp: outcome-"
        "conditioned model p(a|s,t,o) (default mc)",
    )
    p.add_argument(
        "--mode",
        choices=("replace", "aggregate"),
        default="replace",
        help="model training data: newest round or all rounds",
    )
    p.set_defaults(handler=_retrain)

    q = subparsers.add_parser(
        "anneal",
        help="annealed soft Q-learning (Z-learning or max-ent) vs T_alpha",
        description="Learn along a schedule alpha_1 <= alpha_2 <= ... from sampled "
        "transitions and compare each stage with T_alpha (SPEC §5).",
    )
    _common(q)
    q.add_argument(
        "--schedule",
        type=_schedule,
        default=_schedule("1,2,4,8"),
        help="comma-separated non-decreasing alphas (default 1,2,4,8)",
    )
    q.add_argument(
        "--backup",
        choices=("z", "maxent"),
        default="z",
        help="z: exact-conditioning (Z-learning); maxent: maximum entropy (default z)",
    )
    q.add_argument(
        "--samples",
        type=_positive_int,
        default=1 << 16,
        help="next-state samples per (t, s, a) (default 65536)",
    )
    q.set_defaults(handler=_anneal)


def _emit(
    args: argparse.Namespace, bar: Any, record: dict[str, Any], short: dict[str, float]
) -> None:
    bar.set_postfix({k: f"{v:.4g}" for k, v in short.items()}, refresh=False)
    bar.update(1)
    if args.json:
        print(json.dumps(record), flush=True)


def _retrain(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from tqdm import tqdm

    from coherence import backends
    from coherence.gpu.learning import (
        Environment,
        MLPOutcomeModel,
        OutcomeConditionedLearner,
        TabularOutcomeModel,
        binomial_deviation,
        default_device,
        log_policy,
        make_generator,
        max_abs_deviation,
        mc_retrain_round,
        reference_condition,
    )
    from coherence.gpu.learning.retrain import finite_or_str
    from coherence.queries import compute_policy
    from coherence.reference.case import load_case
    from coherence.reference.operators import PolicySpec
    from coherence.reference.recurrences import Boltzmann

    mdp = load_case(args.case).mdp
    device = torch.device(args.device) if args.device else default_device()
    env = Environment.from_mdp(mdp, device)
    engine = backends.create("numpy", mdp)
    gen = make_generator(args.seed, device)
    T, S, A = env.shape
    learner: OutcomeConditionedLearner | None = None
    if args.learner != "mc":
        model: TabularOutcomeModel | MLPOutcomeModel
        if args.learner == "tabular":
            model = TabularOutcomeModel(T, S, A, device=device)
        else:
            model = MLPOutcomeModel(T, S, A, generator=gen, device=device)
        learner = OutcomeConditionedLearner(env, model, mode=args.mode, generator=gen)
    pol = env.prior_policy()
    with tqdm(
        total=args.rounds, desc=f"retrain {mdp.name}", file=sys.stderr, unit="round"
    ) as bar:
        for k in range(1, args.rounds + 1):
            prev = pol
            if learner is None:
                rnd = mc_retrain_round(
                    env, pol, args.episodes, generator=gen, round_index=k
                )
                pol, visits, n_success = rnd.policy, rnd.visits, rnd.n_success
            else:
                mrnd = learner.step(args.episodes)
                pol, visits, n_success = mrnd.policy, mrnd.visits, mrnd.n_success
            log_pi = log_policy(pol)
            well = visits.detach().cpu().numpy() >= args.min_visits
            g_k = np.exp(compute_policy(engine, PolicySpec("G", k=k)))
            dev_k = max_abs_deviation(pol, g_k, well)
            prev_dev = binomial_deviation(
                pol,
                reference_condition(engine, prev),
                visits,
                min_visits=args.min_visits,
            )
            kappa = engine.kappa(log_pi, Boltzmann(Fraction(1)))
            j_prob = engine.j_prob(log_pi)
            record = {
                "round": k,
                "kappa_1": finite_or_str(kappa),
                "J_prob": j_prob,
                "max_abs_dev_G_k": dev_k,
                "max_abs_dev_G_prev": prev_dev.max_abs,
                "max_sigma_ratio_G_prev": prev_dev.max_ratio,
                "well_visited": int(well.sum()),
                "successes": n_success,
                "episodes": args.episodes,
                "learner": args.learner,
                "mode": args.mode,
                "seed": args.seed,
            }
            _emit(args, bar, record, {"kappa1": kappa, "J": j_prob, "dev": dev_k})
    return 0


def _anneal(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from tqdm import tqdm

    from coherence import backends
    from coherence.gpu.learning import (
        Environment,
        anneal,
        default_device,
        log_policy,
        make_generator,
        max_abs_deviation,
    )
    from coherence.gpu.learning.retrain import finite_or_str
    from coherence.queries import compute_policy
    from coherence.reference.case import load_case
    from coherence.reference.operators import PolicySpec
    from coherence.reference.recurrences import Boltzmann

    mdp = load_case(args.case).mdp
    device = torch.device(args.device) if args.device else default_device()
    env = Environment.from_mdp(mdp, device)
    engine = backends.create("numpy", mdp)
    gen = make_generator(args.seed, device)
    stages = anneal(
        env,
        [float(a) for a in args.schedule],
        backup=args.backup,
        samples=args.samples,
        generator=gen,
    )
    with tqdm(
        total=len(args.schedule),
        desc=f"anneal {mdp.name}",
        file=sys.stderr,
        unit="stage",
    ) as bar:
        for k, (alpha, res) in enumerate(zip(args.schedule, stages, strict=True), 1):
            log_pi = log_policy(res.policy)
            t_alpha = np.exp(compute_policy(engine, PolicySpec("T", alpha=alpha)))
            maxent = np.exp(engine.maxent_policy(alpha))
            dev_t = max_abs_deviation(res.policy, t_alpha)
            dev_m = max_abs_deviation(res.policy, maxent)
            target = t_alpha if args.backup == "z" else maxent
            sd = res.policy_sd.detach().cpu().numpy()
            diff = np.abs(res.policy.detach().cpu().numpy() - target)
            ratio = float((diff / (5 * sd + 1e-9)).max())
            kappa = engine.kappa(log_pi, Boltzmann(Fraction(1)))
            j_prob = engine.j_prob(log_pi)
            record = {
                "stage": k,
                "alpha": float(alpha),
                "backup": args.backup,
                "kappa_1": finite_or_str(kappa),
                "J_prob": j_prob,
                "max_abs_dev_T_alpha": dev_t,
                "max_abs_dev_maxent": dev_m,
                "max_5sigma_ratio_target": ratio,
                "samples": args.samples,
                "seed": args.seed,
            }
            _emit(
                args,
                bar,
                record,
                {"alpha": float(alpha), "kappa1": kappa, "J": j_prob, "devT": dev_t},
            )
    return 0
