"""Where kappa comes from: the cell that makes it infinite, the term that
dominates it, and the notes printed where it looks wrong (issue: kappa_1 inf on
learned policies, kappa_1 rising along G_k)."""

from __future__ import annotations

import math

import numpy as np

from coherence.demo import demo_data
from coherence.examples import mountain_race
from coherence.gpu.commands import kappa_notes
from coherence.queries import Evaluator
from coherence.reference.numpy_engine import explain_kappa
from coherence.reference.operators import PolicySpec
from coherence.reference.recurrences import Boltzmann

ONE = Boltzmann(1)


def _race() -> tuple[Evaluator, object]:
    race = mountain_race()
    return Evaluator(race, "numpy"), race


def test_the_prior_is_infinitely_incoherent_through_the_chasm() -> None:
    """Under the uniform prior, 'down' at the ridge (reached with 1/2) leads to
    the chasm (success 0): Q = -inf, so the Boltzmann target gives it 0 while
    the prior gives it 1/2 (SPEC §6's mountain race)."""
    ev, race = _race()
    engine = ev.engine("numpy")
    prior = ev.policy(PolicySpec("prior"), "numpy")
    terms = engine.kappa_terms(prior, ONE)
    ridge, down = race.state_index("ridge"), race.action_index("down")
    assert terms.infinite == ((1, ridge, down, 0.5, 0.5),)
    assert math.isinf(terms.terms[1, ridge]) and terms.terms[0].sum() >= 0
    text = explain_kappa(engine, prior, ONE, race.states, race.actions)
    assert text.startswith("kappa is inf: pi_1(down|ridge) = 0.5 > 0")


def test_a_learned_softmax_leaves_a_little_mass_on_a_dead_action() -> None:
    ev, race = _race()
    engine = ev.engine("numpy")
    g1 = np.exp(ev.policy(PolicySpec("G", k=1), "numpy"))
    ridge, up, down = (
        race.state_index("ridge"),
        race.action_index("up"),
        race.action_index("down"),
    )
    g1[1, ridge, down], g1[1, ridge, up] = 5e-9, 1 - 5e-9
    with np.errstate(divide="ignore"):  # G_1 gives the chasm 0: log 0 = -inf
        log_g1 = np.log(g1)
    text = explain_kappa(engine, log_g1, ONE, race.states, race.actions)
    assert (
        "pi_1(down|ridge) = 5e-09 > 0" in text
        and "reached with probability 0.4" in text
    )


def test_finite_kappa_terms_sum_to_kappa_and_name_the_largest() -> None:
    ev, race = _race()
    engine = ev.engine("numpy")
    g1 = ev.policy(PolicySpec("G", k=1), "numpy")
    terms = engine.kappa_terms(g1, ONE)
    assert terms.infinite == ()
    assert math.isclose(terms.terms.sum(), engine.kappa(g1, ONE), rel_tol=1e-12)
    assert "largest term of kappa at t=0 s=root" in explain_kappa(
        engine, g1, ONE, race.states, race.actions
    )


def test_the_demo_explains_its_infinite_and_rising_kappa() -> None:
    """kappa_1(G_0) = inf and kappa_1(G_3) < kappa_1(G_4) (0.001715 < 0.003466)."""
    notes = demo_data()["mountain_race"]["retraining_kappa_notes"]
    assert notes[0].startswith("k=0: kappa is inf: pi_1(down|ridge)")
    assert notes[1].startswith("kappa_1 rises from k=3 to k=4")
    assert len(notes) == 2


def test_retrain_notes_tell_the_theory_from_the_fit() -> None:
    rows = [
        {
            "row_label": f"round {k}",
            "kappa_1": x,
            "kappa_1_G_k": g,
            "kappa_1_why": f"why {k}",
            "kappa_1_G_k_why": f"exact why {k}",
        }
        for k, (x, g) in enumerate([(math.inf, 0.05), (0.02, 0.02), (0.03, 0.01)], 1)
    ]
    notes = kappa_notes(rows)
    assert notes[0] == "round 1: why 1"
    assert notes[1].startswith("kappa_1 rises from round 2 (0.02) to round 3 (0.03)")
    assert "sampling or fit error" in notes[1] and notes[1].endswith("why 3")
    assert len(notes) == 2
    rows[2]["kappa_1_G_k"] = 0.04
    assert "the exact G_k does this too" in kappa_notes(rows)[1]
