"""Learning mutations: do the learners' verdicts catch planted learning bugs?

Twelve planted bugs in the sample-based learners (``coherence/gpu/learning``),
each one exact text replacement. For each, in a temporary copy of the
repository (the working tree is never touched): apply it, run ONE shipped-case
``coherence retrain`` / ``coherence anneal --check`` command (caught when it
exits 1 with a FAIL verdict) and the named test (caught when pytest reports a
failure), then revert. The unmutated copy must pass both first.

Usage::

    python tools/learning_mutations.py            # the table
    python tools/learning_mutations.py --only 3   # one mutation (1-based)
    python tools/learning_mutations.py --json out.json

Exit status: 0 when every mutation is caught by BOTH its command and its test,
1 otherwise, 2 when the unmutated copy does not pass.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutations import ROOT, Mutation, apply, copy_repository
from mutations import _env as mutation_env

GPU = "coherence/gpu/learning"
CASES = "coherence/cases/public"


@dataclass(frozen=True)
class LearningMutation(Mutation):
    """One planted learning bug: replace ``old`` (exactly once) by ``new`` in
    ``path``; ``command``: the ``coherence`` arguments (with ``--check``) that
    must exit 1; ``test``: the pytest node id that must fail."""

    command: tuple[str, ...]
    test: str

    @property
    def file(self) -> str:
        """The mutated file (for the table)."""
        return self.path


def _retrain(case: str, *extra: str) -> tuple[str, ...]:
    return ("retrain", f"{CASES}/{case}.json", "--device", "cpu", "--check", *extra)


def _anneal(case: str, *extra: str) -> tuple[str, ...]:
    return ("anneal", f"{CASES}/{case}.json", "--device", "cpu", "--check", *extra)


T_MUT = "tests/test_learning_mutations_caught.py::test_no_cell_rejects"

MUTATIONS: tuple[LearningMutation, ...] = (
    LearningMutation(
        "optimistic backup (max-ent uses log E exp V)",
        f"{GPU}/soft_q.py",
        "        m = _stage_moments(env, t, V, V_err, n, generator)\n",
        "        m = _stage_moments(env, t, torch.exp(V), V_err, n, generator)\n"
        "        m = _Moments(rho=m.rho, mean=torch.log(m.mean), sd=m.sd * 0,"
        " dead=m.dead, carried=m.carried)\n",
        _anneal("stochastic-counterexample", "--backup", "maxent", "--schedule", "4"),
        f"{T_MUT}[maxent-stochastic]",
    ),
    LearningMutation(
        "counting all episodes (not only the successful ones)",
        f"{GPU}/retrain.py",
        "flat = flat[episodes.success].reshape(-1)",
        "flat = flat.reshape(-1)",
        _retrain("mountain-race", "--rounds", "1", "--episodes", "20000"),
        f"{T_MUT}[mc-race]",
    ),
    LearningMutation(
        "missing rho^alpha on the terminal step (Z-learning)",
        f"{GPU}/soft_q.py",
        "w = torch.pow(rho_T, a)  # 0 ** 0 == 1 (SPEC §2)",
        "w = rho_T.clone()",
        _anneal("stochastic-counterexample", "--schedule", "4"),
        f"{T_MUT}[z-stochastic]",
    ),
    LearningMutation(
        "no causal mask (the transformer sees a_t when predicting it)",
        f"{GPU}/sequence_model.py",
        "split(q), split(k), split(v), is_causal=True",
        "split(q), split(k), split(v), is_causal=False",
        _retrain(
            "mountain-race",
            "--learner",
            "transformer",
            "--rounds",
            "1",
            "--episodes",
            "8000",
            "--fit-steps",
            "300",
        ),
        f"{T_MUT}[transformer-race]",
    ),
    LearningMutation(
        "outcome-token off by one (the transformer acts on o = 0)",
        f"{GPU}/sequence_model.py",
        "        tokens[:, 0] = 1\n",
        "        tokens[:, 0] = 0\n",
        _retrain(
            "mountain-race",
            "--learner",
            "transformer",
            "--rounds",
            "2",
            "--episodes",
            "8000",
            "--fit-steps",
            "300",
        ),
        f"{T_MUT}[transformer-race]",
    ),
    LearningMutation(
        "unconditioned last step (O_(T-1) ignored in success)",
        f"{GPU}/rollouts.py",
        "out: Tensor = self.step_success.all(dim=1) & self.terminal_success",
        "out: Tensor = self.step_success[:, :-1].all(dim=1) & self.terminal_success",
        _retrain("success-count-not-monotone", "--rounds", "1", "--episodes", "20000"),
        f"{T_MUT}[mc-steps]",
    ),
    LearningMutation(
        "add-one smoothing of the outcome model's counts",
        f"{GPU}/outcome_model.py",
        "counts = outcome_counts(self.env, ep.states, ep.actions, ep.success)",
        "counts = outcome_counts(self.env, ep.states, ep.actions, ep.success)"
        " + self.support[:, :, None, :]",
        _retrain(
            "mountain-race",
            "--learner",
            "tabular",
            "--rounds",
            "1",
            "--episodes",
            "8000",
        ),
        f"{T_MUT}[tabular-race]",
    ),
    LearningMutation(
        "Z-learning policy without the prior factor",
        f"{GPU}/soft_q.py",
        "        pw = p * z[t]\n",
        "        pw = z[t]\n",
        _anneal("literal-folding-nonuniform-prior", "--schedule", "1"),
        f"{T_MUT}[z-nonuniform]",
    ),
    LearningMutation(
        "max-ent policy without the inverse temperature",
        f"{GPU}/soft_q.py",
        "logits = log_p + torch.where(alive, a * Q[t], -torch.inf)",
        "logits = log_p + torch.where(alive, Q[t], -torch.inf)",
        _anneal("stochastic-counterexample", "--backup", "maxent", "--schedule", "4"),
        f"{T_MUT}[maxent-stochastic]",
    ),
    LearningMutation(
        "replace mode keeps the old rounds' data",
        f"{GPU}/outcome_model.py",
        'self.data = counts if self.mode == "replace" else self.data + counts',
        "self.data = self.data + counts",
        _retrain("mountain-race", "--learner", "tabular", "--rounds", "2"),
        f"{T_MUT}[tabular-race]",
    ),
    LearningMutation(
        "inverted optimality variable in the rollouts (O_t ~ 1 - rho)",
        f"{GPU}/rollouts.py",
        "o_probs = torch.stack([rho, 1.0 - rho], dim=-1)",
        "o_probs = torch.stack([1.0 - rho, rho], dim=-1)",
        _retrain("success-count-not-monotone", "--rounds", "1", "--episodes", "20000"),
        f"{T_MUT}[mc-steps]",
    ),
    LearningMutation(
        "the outcome model acts with its o = 0 head",
        f"{GPU}/outcome_model.py",
        "return torch.exp(logp[:, :, 1, :])",
        "return torch.exp(logp[:, :, 0, :])",
        _retrain(
            "mountain-race",
            "--learner",
            "tabular",
            "--rounds",
            "1",
            "--episodes",
            "8000",
        ),
        f"{T_MUT}[tabular-race]",
    ),
)


@dataclass(frozen=True)
class Outcome:
    """What the command and the test said about one mutation."""

    name: str
    command_caught: bool
    verdict_line: str
    test_caught: bool
    seconds: float


def _run_command(root: Path, args: tuple[str, ...]) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "coherence", *args],
        cwd=root,
        env=mutation_env(root),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("verdict:")]
    return proc.returncode, (lines[-1] if lines else proc.stderr.strip()[-200:])


def _run_test(root: Path, node: str) -> int:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            "-m",
            "slow or not slow",  # the transformer scenario is marked slow
            node,
        ],
        cwd=root,
        env=mutation_env(root),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if proc.returncode not in (0, 1):  # 5: nothing collected, 2-4: pytest errors
        raise RuntimeError(
            f"pytest {node}: exit {proc.returncode}\n{proc.stdout[-400:]}"
        )
    return proc.returncode


def judge(root: Path, mutation: LearningMutation | None, index: int) -> Outcome:
    """Run one mutation's command and test in the copy at ``root`` (the
    baseline when ``mutation`` is None: then both must pass)."""
    start = time.perf_counter()
    original = None
    target = MUTATIONS[index]
    if mutation is not None:
        original = apply(root, mutation)
    try:
        rc, line = _run_command(root, target.command)
        test_rc = _run_test(root, target.test)
    finally:
        if mutation is not None and original is not None:
            (root / mutation.path).write_text(original, encoding="utf-8")
    return Outcome(
        name=target.name if mutation is not None else f"(unmutated) {target.name}",
        command_caught=rc == 1 and "FAIL" in line,
        verdict_line=line,
        test_caught=test_rc == 1,
        seconds=time.perf_counter() - start,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the table (module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", type=int, help="run mutation N only (1-based)")
    parser.add_argument("--json", metavar="FILE", help="also write the results")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the unmutated runs"
    )
    args = parser.parse_args(argv)
    indices = [args.only - 1] if args.only else list(range(len(MUTATIONS)))
    results: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="learning-mutations-") as tmp:
        root = Path(tmp)
        copy_repository(ROOT, root)
        if not args.no_baseline:
            for i in indices:
                base = judge(root, None, i)
                if base.command_caught or base.test_caught:
                    print(f"unmutated copy fails: {base}", file=sys.stderr)
                    return 2
        for i in indices:
            out = judge(root, MUTATIONS[i], i)
            results.append(out)
            print(
                f"{i + 1:>2}. {out.name}: command "
                f"{'caught' if out.command_caught else 'MISSED'} "
                f"({out.verdict_line}); test "
                f"{'caught' if out.test_caught else 'MISSED'} "
                f"[{out.seconds:.0f} s]",
                flush=True,
            )
    if args.json:
        Path(args.json).write_text(
            json.dumps([o.__dict__ for o in results], indent=2), encoding="utf-8"
        )
    return 0 if all(o.command_caught and o.test_caught for o in results) else 1


if __name__ == "__main__":
    sys.exit(main())
