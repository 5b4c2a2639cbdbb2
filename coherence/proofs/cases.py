"""Counterexample cases shipped with REFUTED ledger entries.

Each REFUTED entry builds its counterexample as a ``coherence-case/1`` case
whose queries exhibit the failure; the expected answers come from the reference
oracle (the exact engine, its float quantities included; the float64 engine
only for ``maxent``, which is not rational), never typed by hand. The committed
file ``coherence/proofs/cases/<name>.json`` must equal the regenerated one;
``coherence prove --write-cases DIR`` writes the regenerated files into DIR
(never into the installed package) for review and copying.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from coherence._numbers import same_json
from coherence.proofs.outcome import Settings
from coherence.reference.case import Answer, Case, Query, case_to_json, write_case
from coherence.reference.model import MDP

__all__ = ["CASE_DIR", "CaseBuild", "build_case", "case_path", "settle_case"]

CASE_DIR = Path(__file__).resolve().parent / "cases"


def case_path(name: str, directory: Path | None = None) -> Path:
    """The file of case ``name``: in ``directory``, or the committed one."""
    return (CASE_DIR if directory is None else directory) / f"{name}.json"


class CaseBuild:
    """A built case and its expected answers by query id."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.expected: Mapping[str, Answer] = case.expected

    def __getitem__(self, query_id: str) -> Any:
        """The expected answer of query ``query_id``."""
        return self.expected[query_id]

    @property
    def relpath(self) -> str:
        """The committed file, relative to the repository root."""
        return f"coherence/proofs/cases/{self.case.name}.json"


def build_case(
    name: str,
    queries: Sequence[Mapping[str, Any]],
    mdp: MDP | None = None,
    **named: Any,
) -> CaseBuild:
    """The case ``name`` with the oracle's answers to ``queries`` as expected
    answers; the MDP is ``mdp`` (renamed) or built from the named form of
    CASE_FORMAT given as keyword arguments."""
    from coherence.queries import Evaluator

    if mdp is None:
        model = MDP.build(name=name, **named)
    elif named:
        raise ValueError(f"mdp: give an MDP or its named form, not both ({named})")
    else:
        model = dataclasses.replace(mdp, name=name)
    parsed = tuple(Query.from_json(dict(q), i) for i, q in enumerate(queries))
    exact, floats = Evaluator(model, "exact"), Evaluator(model, "numpy")
    expected = {
        q.id: (floats if q.policy.operator == "maxent" else exact).answer(q)
        for q in parsed
    }
    return CaseBuild(Case(mdp=model, queries=parsed, expected=expected))


def settle_case(built: CaseBuild, settings: Settings) -> str | None:
    """Compare the committed file with the regenerated case, or write the case
    into ``settings.write_cases`` when that directory is given.

    Returns None when they agree (or the case was written), else the reason.
    """
    if settings.write_cases is not None:
        target = case_path(built.case.name, settings.write_cases)
        write_case(target, built.case)
        return None
    path = case_path(built.case.name)
    if not path.exists():
        return f"{built.relpath} is missing (run `coherence prove --write-cases`)"
    committed = json.loads(path.read_text(encoding="utf-8"))
    regenerated = json.loads(json.dumps(case_to_json(built.case)))
    if not same_json(committed, regenerated):
        return (
            f"{built.relpath} differs from the regenerated counterexample "
            "(run `coherence prove --write-cases` and review the diff)"
        )
    return None
