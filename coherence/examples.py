"""The worked examples of SPEC §6 as MDP builders (the same MDPs as the public
conformance cases of the same names)."""

from __future__ import annotations

from fractions import Fraction

from coherence.reference.model import MDP

__all__ = ["mountain_race", "stochastic_counterexample"]


def mountain_race(
    gold: object = "1",
    chasm: object = "0",
    forest: tuple[object, object] = ("3/4", "3/4"),
) -> MDP:
    """Deterministic, uniform prior, T = 2: root -> {ridge (up), forest (down)};
    ridge -> {gold, chasm}; forest -> {finish1, finish2}; terminal success
    probabilities gold, chasm, forest[0], forest[1] (0 elsewhere)."""
    transitions = {
        "root": {"up": {"ridge": "1"}, "down": {"forest": "1"}},
        "ridge": {"up": {"gold": "1"}, "down": {"chasm": "1"}},
        "forest": {"up": {"finish1": "1"}, "down": {"finish2": "1"}},
    }
    for leaf in ("gold", "chasm", "finish1", "finish2"):
        transitions[leaf] = {a: {leaf: "1"} for a in ("up", "down")}
    return MDP.build(
        name="mountain-race",
        states=["root", "ridge", "forest", "gold", "chasm", "finish1", "finish2"],
        actions=["up", "down"],
        horizon=2,
        transitions=transitions,
        initial={"root": "1"},
        terminal_success={
            "root": "0",
            "ridge": "0",
            "forest": "0",
            "gold": gold,
            "chasm": chasm,
            "finish1": forest[0],
            "finish2": forest[1],
        },
    )


def stochastic_counterexample() -> MDP:
    """Uniform prior over {a1, a2}, T = 1: a1 -> s1 w.p. 3/4, s2 w.p. 1/4; a2 -> s1,
    s2 w.p. 1/2 each; terminal success 1/3 at s1, 2/3 at s2 (0 at root)."""
    return MDP.build(
        name="stochastic-counterexample",
        states=["root", "s1", "s2"],
        actions=["a1", "a2"],
        horizon=1,
        transitions={
            "root": {
                "a1": {"s1": "3/4", "s2": "1/4"},
                "a2": {"s1": "1/2", "s2": "1/2"},
            },
            "s1": {"a1": {"s1": "1"}, "a2": {"s1": "1"}},
            "s2": {"a1": {"s2": "1"}, "a2": {"s2": "1"}},
        },
        initial={"root": "1"},
        terminal_success={"root": "0", "s1": Fraction(1, 3), "s2": Fraction(2, 3)},
    )
