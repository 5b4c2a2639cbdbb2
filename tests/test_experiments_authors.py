"""The authors' random tree family: bit-for-bit regeneration and the case form."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from coherence.experiments.authors import (
    FAMILIES,
    authors_tree,
    authors_tree_case,
    candidate_seeds,
    draw_order,
    published_instances,
)
from coherence.experiments.measures import exact_engine, optimal_q, tree_mdp
from coherence.reference.case import case_from_json


def test_draw_order_is_dfs_longest_first() -> None:
    # DFS(t) = [a + s for s in DFS(t-1) + [""] for a in 0..A-1]
    # (docs/paper-experiments.md §1)
    assert draw_order(2, 2) == ["00", "10", "01", "11", "0", "1", ""]


def test_q_values_are_the_legacy_stream_in_draw_order() -> None:
    tree = authors_tree(3, 2, 12345)
    stream = np.random.RandomState(12345).random_sample(3 * len(tree.q))
    flat = [x for s in draw_order(3, 2) for x in tree.q[s]]
    assert flat == list(stream)


def test_stochastic_draws_transitions_first() -> None:
    tree = authors_tree(2, 1, 7, stochastic=True)
    order = draw_order(2, 1)
    stream = list(
        np.random.RandomState(7).random_sample(4 * len(order) + 2 * len(order))
    )
    weights = [w for s in order for row in tree.weights[s] for w in row]
    assert weights == stream[: 4 * len(order)]
    assert [x for s in order for x in tree.q[s]] == stream[4 * len(order) :]
    row = tree.transition("", 1)
    w = [Fraction(x) for x in tree.weights[""][1]]
    assert row == {"0": w[0] / sum(w), "1": w[1] / sum(w)}
    assert tree.transition("0", 0) == {"end": Fraction(1)}


@pytest.mark.parametrize("index", [0, 5, 17])
def test_published_returns_reproduced_from_the_seed(index: int) -> None:
    # their J (expected success count, no terminal step) and J* from the artifact
    # CSV: a single wrong draw would change them far beyond 1e-12
    p = published_instances()[index]
    tree = authors_tree(p.actions, p.depth, p.seed)
    engine = exact_engine(tree_mdp(tree))
    j = float(engine.j_count(engine.prior_policy())) - 1.0
    assert j == pytest.approx(p.j_prior, rel=1e-12)
    assert float(max(optimal_q(tree)[""])) == pytest.approx(p.j_star, rel=1e-12)


def test_case_reads_back_with_provenance() -> None:
    case = authors_tree_case(2, 2, 3653403231)
    json.dumps(case)  # plain JSON
    read = case_from_json(case)
    mdp = read.mdp
    assert mdp.horizon == 3  # T + 1 decisions
    assert mdp.states[0] == "root" and mdp.states[-1] == "end"
    assert set(mdp.states) == {"root", "0", "1", "00", "01", "10", "11", "end"}
    source = case["source"]
    assert isinstance(source, dict) and source["seed"] == 3653403231
    tree = authors_tree(2, 2, 3653403231)
    assert mdp.success[0][mdp.state_index("01")][1] == Fraction(tree.q["01"][1])


def test_clip_and_stochastic_case() -> None:
    tree = authors_tree(2, 3, 11, clip=(0.25, 0.75))
    assert all(0.25 <= x <= 0.75 for row in tree.q.values() for x in row)
    assert any(x in (0.25, 0.75) for row in tree.q.values() for x in row)
    mdp = case_from_json(authors_tree_case(2, 3, 11, stochastic=True)).mdp
    assert not mdp.is_deterministic


def test_published_list_and_candidate_seeds() -> None:
    rows = published_instances()
    assert len(rows) == 140
    for index, (family, depth, actions) in enumerate(FAMILIES):
        seeds = [p.seed for p in rows if p.family == family]
        assert len(seeds) == 20
        assert {(p.depth, p.actions) for p in rows if p.family == family} == {
            (depth, actions)
        }
        # kept seeds are an ordered subsequence of their candidate stream
        stream = iter(candidate_seeds(index, 200))
        assert all(any(c == s for c in stream) for s in seeds)


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((0, 2, 1), {}, "actions"),
        ((11, 2, 1), {}, "actions"),
        ((2, -1, 1), {}, "depth"),
        ((2, 2, -1), {}, "seed"),
        ((2, 2, 2**32), {}, "seed"),
        ((2, 2, 1), {"clip": (0.9, 0.1)}, "clip"),
        ((2, 2, 1.5), {}, "seed"),
    ],
    ids=["A0", "A11", "depth", "seed-neg", "seed-big", "clip-order", "seed-float"],
)
def test_bad_input(
    args: tuple[object, ...], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as info:
        authors_tree_case(*args, **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
