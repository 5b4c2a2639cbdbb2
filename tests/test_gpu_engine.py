"""The batched torch engine against the float64 reference and the exact oracle.

Tolerances come from :func:`coherence.testing.tolerance_for`: float64 within
rel 1e-10 * T (abs 1e-13), float32 within rel 2e-6 * T * max(1, k) (abs 1e-7,
plus 1e-6 * T for the occupancy-weighted sums kappa, entropy and J_sum, whose
float32 rounding is absolute). Engine-against-itself identities (batched vs
per-instance, dense vs successor lists, relabelling) hold to rel 1e-12.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from coherence.gpu import _kernels as K
from coherence.gpu.engine import TorchEngine, TorchMDP
from coherence.queries import compute_policy
from coherence.reference.model import MDP
from coherence.reference.numpy_engine import NumpyEngine
from coherence.reference.operators import PolicySpec
from coherence.reference.quantities import QUANTITIES
from coherence.reference.recurrences import Argmax, Boltzmann
from coherence.reference.tolerances import LOG_DOMAIN, iterations_of
from coherence.testing import (
    MDPBatch,
    assert_close,
    describe_mdp,
    mdp_batches,
    mdps,
    oracle,
    tolerance_for,
)
from tests.shared import examples

SPECS = [
    PolicySpec("prior"),
    PolicySpec("G", k=1),
    PolicySpec("G", k=3),
    PolicySpec("T", alpha=Fraction(0)),
    PolicySpec("T", alpha=0.5),
    PolicySpec("T", alpha=Fraction(2)),
    PolicySpec("F", k=2),
    PolicySpec("F_literal", k=2),
    PolicySpec("H", k=2),
    PolicySpec("H_literal", k=2),
    PolicySpec("B", i=2, f=Argmax()),
    PolicySpec("B", i=2, f=Boltzmann(Fraction(1, 2))),
    PolicySpec("maxent", alpha=Fraction(1)),
]
FS = [Argmax(), Boltzmann(Fraction(1))]


def uses_argmax(spec: PolicySpec, key: str) -> bool:
    """Whether the answer ``key`` of ``spec`` depends on an argmax tie set."""
    return isinstance(spec.f, Argmax) or key == f"kappa[{Argmax()}]"


def answers(engine: Any, spec: PolicySpec, b: int | None) -> dict[str, Any]:
    """Every quantity row of :mod:`coherence.reference.quantities` for ``spec``
    on a NumpyEngine (b None) or member b of a TorchEngine batch, as float64
    numpy (kappa once per f in FS; causal_kl against the prior)."""
    pol = compute_policy(engine, spec)
    prior = compute_policy(engine, PolicySpec("prior"))

    def pick(x: Any) -> Any:
        if b is None:
            return np.asarray(x, dtype=np.float64)
        return x[b].detach().cpu().double().numpy()

    out: dict[str, Any] = {}
    for name, row in QUANTITIES.items():
        method = getattr(engine, row.primitive)
        if "f" in row.parameters:
            for f in FS:
                out[f"{name}[{f}]"] = pick(method(pol, f))
        elif "reference" in row.parameters:
            out[name] = pick(method(pol, prior))
        else:
            out[name] = pick(method(pol))
    return out


def compare_batch(batch: MDPBatch, dtype: torch.dtype, layout: str = "dense") -> None:
    tm = TorchMDP.from_mdps(batch.mdps, dtype=dtype, layout=layout)  # type: ignore[arg-type]
    eng = TorchEngine(tm)
    for b, mdp in enumerate(batch.mdps):
        ref = NumpyEngine(mdp)
        for spec in SPECS:
            tol = tolerance_for(dtype, mdp.horizon, iterations=iterations_of(spec))
            got, want = answers(eng, spec, b), answers(ref, spec, None)
            for key, value in got.items():
                if dtype == torch.float32 and uses_argmax(spec, key):
                    # float32 ties use rtol 1e-5, the reference 1e-9: the tie sets
                    # may differ legitimately, so argmax is compared in float64 only.
                    continue
                absolute = tol.abs
                if dtype == torch.float32 and key.split("[")[0] in LOG_DOMAIN:
                    absolute = max(absolute, 1e-6 * mdp.horizon * iterations_of(spec))
                assert_close(
                    value,
                    want[key],
                    rel=tol.rel,
                    abs=absolute,
                    name=f"{key} of {spec.label()} ({dtype}, {layout})",
                    inputs=describe_mdp(mdp),
                )


@given(mdp_batches(max_batch=3))
@settings(max_examples=examples(5, 40))
@pytest.mark.properties
def test_float64_matches_numpy_reference(batch: MDPBatch) -> None:
    compare_batch(batch, torch.float64)


@given(mdp_batches(max_batch=2))
@settings(max_examples=examples(4, 25))
@pytest.mark.properties
def test_successor_lists_match_numpy_reference(batch: MDPBatch) -> None:
    compare_batch(batch, torch.float64, layout="successors")


@given(mdp_batches(max_batch=2))
@settings(max_examples=examples(5, 40))
@pytest.mark.properties
def test_float32_within_dtype_scaled_bound(batch: MDPBatch) -> None:
    compare_batch(batch, torch.float32)


EXACT_SPECS = [
    PolicySpec("G", k=2),
    PolicySpec("T", alpha=Fraction(2)),
    PolicySpec("F", k=2),
    PolicySpec("H_literal", k=2),
    PolicySpec("B", i=2, f=Argmax()),
]


def near_argmax_tie(mdp: MDP, spec: PolicySpec) -> bool:
    """Whether an argmax step of ``spec`` meets two exact Q values that differ
    by less than 1e-6 without being equal: SPEC §2's float tie tolerance may
    then legitimately differ from the exact tie rule."""
    if not isinstance(spec.f, Argmax):
        return False
    from coherence import backends
    from coherence._numbers import to_float

    e = backends.create("exact", mdp)
    pi = e.prior_policy()
    for _ in range(spec.i):
        z = e.values(pi).z
        for zt in z:
            for row in zt:
                for x in row:
                    for y in row:
                        if x != y and abs(to_float(x) - to_float(y)) < 1e-6:
                            return True
        pi = e.soft_q_policy(e.values(pi), Argmax())
    return False


@given(mdps(max_states=3, max_actions=3, max_horizon=3))
@settings(max_examples=examples(10, 25))
@pytest.mark.properties
def test_float64_matches_exact_oracle(mdp: MDP) -> None:
    eng = TorchEngine(TorchMDP.from_mdps(mdp, dtype=torch.float64))
    for spec in EXACT_SPECS:
        if near_argmax_tie(mdp, spec):
            continue
        tol = tolerance_for(torch.float64, mdp.horizon)
        got = answers(eng, spec, 0)
        for q in ("policy", "w", "occupancy", "J_prob", "J_count"):
            assert_close(
                got[q],
                oracle(mdp, q, spec),
                rel=tol.rel,
                abs=tol.abs,
                name=f"{q} of {spec.label()}",
                inputs=describe_mdp(mdp),
            )
        assert_close(
            got["kappa[Argmax()]"],
            oracle(mdp, "kappa", spec, f=Argmax()),
            rel=tol.rel,
            abs=tol.abs,
            name=f"kappa of {spec.label()}",
            inputs=describe_mdp(mdp),
        )


@given(mdp_batches(min_batch=2, max_batch=4))
@settings(max_examples=examples(3, 30))
@pytest.mark.properties
def test_batched_equals_per_instance(batch: MDPBatch) -> None:
    whole = TorchEngine(TorchMDP.from_mdps(batch.mdps))
    for b, mdp in enumerate(batch.mdps):
        single = TorchEngine(TorchMDP.from_mdps(mdp))
        for spec in SPECS:
            got, want = answers(whole, spec, b), answers(single, spec, 0)
            for key in got:
                assert_close(
                    got[key],
                    want[key],
                    rel=1e-12,
                    abs=1e-15,
                    name=f"{key} of {spec.label()} (member {b})",
                    inputs=describe_mdp(mdp),
                )


def permuted(tm: TorchMDP, sigma: torch.Tensor, alpha: torch.Tensor) -> TorchMDP:
    """New state i is old state sigma[i]; new action j is old action alpha[j]."""
    assert tm.transitions is not None
    P = tm.transitions[:, sigma][:, :, alpha][..., sigma]
    return TorchMDP(
        log_success=tm.log_success[:, :, sigma][..., alpha],
        log_terminal_success=tm.log_terminal_success[:, sigma],
        initial=tm.initial[:, sigma],
        log_prior=tm.log_prior[:, sigma][..., alpha],
        transitions=P.contiguous(),
    )


@given(mdp_batches(max_batch=2), st.randoms(use_true_random=False))
@settings(max_examples=examples(4, 30))
@pytest.mark.properties
def test_relabelling_permutes_outputs(batch: MDPBatch, rnd: Any) -> None:
    tm = TorchMDP.from_mdps(batch.mdps)
    S, A = tm.n_states, tm.n_actions
    sigma = torch.tensor(rnd.sample(range(S), S))
    alpha = torch.tensor(rnd.sample(range(A), A))
    base, moved = TorchEngine(tm), TorchEngine(permuted(tm, sigma, alpha))
    sig, alp = sigma.numpy(), alpha.numpy()
    for spec in SPECS:
        for b in range(tm.batch_size):
            got, want = answers(moved, spec, b), answers(base, spec, b)
            for key in ("policy", "z"):
                assert_close(
                    got[key],
                    want[key][:, sig][..., alp],
                    rel=1e-12,
                    abs=1e-15,
                    name=f"{key} of {spec.label()} relabelled",
                )
            for key in ("w", "occupancy"):
                assert_close(
                    got[key],
                    want[key][:, sig],
                    rel=1e-12,
                    abs=1e-15,
                    name=f"{key} of {spec.label()} relabelled",
                )
            scalars = [k for k, v in got.items() if np.ndim(v) == 0]
            assert "kappa[Argmax()]" in scalars and "causal_kl" in scalars
            for key in scalars:
                assert_close(
                    got[key],
                    want[key],
                    rel=1e-12,
                    abs=1e-15,
                    name=f"{key} of {spec.label()} relabelled",
                )


# ------------------------------------------------------- SPEC §2 conventions
def no_nan_anywhere(eng: TorchEngine) -> None:
    for spec in SPECS:
        for key, value in answers(eng, spec, 0).items():
            assert not np.isnan(value).any(), f"NaN in {key} of {spec.label()}"


def small(**over: Any) -> MDP:
    """Three states, two actions: s0 -> s1 (a0) or s2 (a1); s1, s2 absorbing."""
    P = np.zeros((3, 2, 3))
    P[0, 0, 1] = P[0, 1, 2] = 1.0
    P[1, :, 1] = P[2, :, 2] = 1.0
    args: dict[str, Any] = {
        "transitions": P,
        "initial": [1.0, 0.0, 0.0],
        "success": np.full((3, 2), 0.5),
        "horizon": 2,
    }
    args.update(over)
    return MDP.from_arrays(**args)


def test_all_zero_success_conditions_to_the_base_policy() -> None:
    mdp = small(success=np.zeros((3, 2)))
    eng = TorchEngine(TorchMDP.from_mdps(mdp))
    no_nan_anywhere(eng)
    prior = eng.prior_policy()
    for spec in (
        PolicySpec("G", k=3),
        PolicySpec("T", alpha=Fraction(2)),
        PolicySpec("F", k=2),
        PolicySpec("H", k=2),
    ):
        assert torch.equal(compute_policy(eng, spec), prior), spec.label()
    pol = compute_policy(eng, PolicySpec("G", k=1))
    assert float(eng.j_prob(pol)[0]) == 0.0
    assert float(eng.j_sum(pol)[0]) == -math.inf
    # B from Q = -inf everywhere: argmax over all -inf is uniform.
    b = compute_policy(eng, PolicySpec("B", i=1, f=Argmax()))
    assert torch.allclose(torch.exp(b), torch.full_like(b, 0.5), rtol=0, atol=1e-15)


def test_zero_prior_entries_stay_impossible_under_folding() -> None:
    prior = np.array([[1.0, 0.0], [0.5, 0.5], [0.5, 0.5]])
    mdp = small(prior=prior, success=np.array([[0.9, 0.1], [0.5, 1.0], [1.0, 0.2]]))
    eng = TorchEngine(TorchMDP.from_mdps(mdp))
    no_nan_anywhere(eng)
    for spec in (
        PolicySpec("F", k=3),
        PolicySpec("H", k=3),
        PolicySpec("G", k=2),
        PolicySpec("F_literal", k=2),
        PolicySpec("H_literal", k=2),
    ):
        pol = torch.exp(compute_policy(eng, spec))
        assert torch.all(pol[0, :, 0, 1] == 0), spec.label()
        assert_close(
            pol[0].numpy(),
            oracle(mdp, "policy", spec),
            rel=2e-10,
            abs=1e-13,
            name=spec.label(),
        )
    # f ranges over all of A: argmax may pick the action the prior forbids.
    b1 = torch.exp(compute_policy(eng, PolicySpec("B", i=1, f=Argmax())))
    assert_close(
        b1[0].numpy(),
        oracle(mdp, "policy", PolicySpec("B", i=1, f=Argmax())),
        rel=2e-10,
        abs=1e-13,
    )
    kl = eng.kappa(compute_policy(eng, PolicySpec("prior")), Argmax())
    assert not torch.isnan(kl).any()


def test_unreachable_states_are_answered_and_have_zero_occupancy() -> None:
    P = np.zeros((4, 2, 4))
    P[0, :, 1] = 1.0
    P[1, :, 1] = 1.0
    P[2, 0, 3] = P[2, 1, 2] = 1.0  # s2, s3 never reached from s0
    P[3, :, 3] = 1.0
    mdp = MDP.from_arrays(
        transitions=P,
        initial=[1.0, 0, 0, 0],
        success=np.array([[0.5, 0.25], [1.0, 0.0], [0.0, 0.0], [0.3, 0.6]]),
        terminal_success=[1.0, 0.5, 0.0, 1.0],
        horizon=3,
    )
    eng = TorchEngine(TorchMDP.from_mdps(mdp))
    no_nan_anywhere(eng)
    for spec in SPECS:
        got = answers(eng, spec, 0)
        assert np.all(got["occupancy"][:, 2:] == 0)
        tol = tolerance_for(torch.float64, 3)
        ref = answers(NumpyEngine(mdp), spec, None)
        for key in got:
            assert_close(
                got[key],
                ref[key],
                rel=tol.rel,
                abs=tol.abs,
                name=f"{key} of {spec.label()}",
            )


def test_temperature_zero_is_the_prior_even_where_success_is_zero() -> None:
    mdp = small(
        success=np.array([[0.0, 0.0], [0.0, 1.0], [0.5, 0.5]]),
        prior=np.array([[0.25, 0.75], [0.5, 0.5], [0.1, 0.9]]),
    )
    eng = TorchEngine(TorchMDP.from_mdps(mdp))
    t0 = torch.exp(compute_policy(eng, PolicySpec("T", alpha=Fraction(0))))
    assert_close(
        t0.numpy(), torch.exp(eng.prior_policy()).numpy(), rel=1e-14, abs=0, name="T_0"
    )


def test_underflowing_expectations_are_recomputed_in_log_space() -> None:
    """V spreads over more than 1000 nats: the shifted sum underflows for rows
    reaching only the low-value states and must be recomputed exactly."""
    tiny1, tiny2 = Fraction(1, 2**1500), Fraction(1, 2**1600)
    P = np.zeros((4, 2, 4), dtype=object)
    P[0, 0, 1] = Fraction(1, 3)
    P[0, 0, 2] = Fraction(2, 3)
    P[0, 1, 3] = Fraction(1)
    for s in (1, 2, 3):
        P[s, :, s] = Fraction(1)
    mdp = MDP.from_arrays(
        transitions=P,
        initial=[1, 0, 0, 0],
        terminal_success=[1, tiny1, tiny2, 1],
        horizon=2,
        success=np.ones((4, 2), dtype=object),
    )
    cases = (("dense", "torch"), ("dense", "numpy"), ("successors", "auto"))
    for layout, kernel in cases:
        tm = TorchMDP.from_mdps(mdp, dtype=torch.float64, layout=layout)  # type: ignore[arg-type]
        eng = TorchEngine(tm, kernel=kernel)  # type: ignore[arg-type]
        values = eng.values(eng.prior_policy())
        ref = NumpyEngine(mdp).values(NumpyEngine(mdp).prior_policy())
        # log(1/3 2^-1500 + 2/3 2^-1600) without underflow
        want_q00 = math.log(1 / 3) - 1500 * math.log(2) + math.log1p(2 * 2.0**-100)
        assert_close(values.Q[0, 1, 0, 0].item(), want_q00, rel=1e-14, abs=0)
        assert_close(values.Q[0].numpy(), ref.Q, rel=1e-13, abs=0)
        assert np.isfinite(values.Q[0].numpy()).all()


# ------------------------------------------------------------ bad inputs
def good_arrays() -> dict[str, Any]:
    P = np.zeros((1, 2, 2, 2))
    P[0, :, :, 0] = 1.0
    return {
        "transitions": P,
        "success": np.full((1, 3, 2, 2), 0.5),
        "initial": np.array([[1.0, 0.0]]),
    }


BAD = [
    ("transitions-shape", {"transitions": np.ones((1, 2, 2))}, "transitions"),
    ("transitions-row-sum", {"transitions": np.full((1, 2, 2, 2), 0.7)}, "transitions"),
    (
        "negative-transition",
        {"transitions": np.array([[[[1.5, -0.5], [1, 0]], [[1, 0], [1, 0]]]])},
        "transitions",
    ),
    ("success-above-one", {"success": np.full((1, 3, 2, 2), 1.5)}, "success"),
    ("success-nan", {"success": np.full((1, 3, 2, 2), np.nan)}, "success"),
    ("success-rank", {"success": np.full((3, 2, 2), 0.5)}, "success"),
    ("initial-sum", {"initial": np.array([[0.5, 0.0]])}, "initial"),
    ("initial-shape", {"initial": np.array([[1.0, 0.0, 0.0]])}, "initial"),
    ("prior-sum", {"prior": np.full((1, 2, 2), 0.9)}, "prior"),
    ("dtype", {"dtype": "float16"}, "dtype"),
    ("device", {"device": "tpu"}, "device"),
]


@pytest.mark.parametrize(
    ("change", "field"), [(c, f) for _, c, f in BAD], ids=[i for i, _, _ in BAD]
)
def test_bad_dense_inputs_are_rejected(change: dict[str, Any], field: str) -> None:
    args = good_arrays()
    args.update(change)
    with pytest.raises(ValueError, match=field):
        TorchMDP.dense(**args)


def test_bad_successor_lists_are_rejected() -> None:
    args = good_arrays()
    del args["transitions"]
    idx = np.zeros((1, 2, 2, 1), dtype=np.int64)
    with pytest.raises(ValueError, match="successors"):
        TorchMDP.successor_lists(
            successors=idx + 5, successor_probs=np.ones(idx.shape), **args
        )
    with pytest.raises(ValueError, match="successors"):
        TorchMDP.successor_lists(
            successors=idx.astype(float), successor_probs=np.ones(idx.shape), **args
        )
    with pytest.raises(ValueError, match="successor_probs"):
        TorchMDP.successor_lists(
            successors=idx, successor_probs=np.full(idx.shape, 0.5), **args
        )


def test_engine_options_are_validated() -> None:
    tm = TorchMDP.dense(**good_arrays())
    with pytest.raises(TypeError, match="mdp"):
        TorchEngine(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kernel"):
        TorchEngine(tm, kernel="blas")  # type: ignore[arg-type]
    eng = TorchEngine(tm)
    with pytest.raises(ValueError, match="alpha"):
        eng.scale_reward(eng.base_reward(), -1)
    with pytest.raises(ValueError, match="alpha"):
        eng.scale_reward(eng.base_reward(), torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="mdps"):
        TorchMDP.from_mdps([])


def test_per_member_temperature_equals_separate_runs() -> None:
    mdp = small(success=np.array([[0.9, 0.3], [0.5, 1.0], [0.2, 0.7]]))
    tm = TorchMDP.from_mdps([mdp, mdp, mdp])
    eng = TorchEngine(tm)
    alphas = torch.tensor([0.0, 0.5, 3.0], dtype=torch.float64)
    prior = eng.prior_policy()
    batched = eng.condition(
        prior, eng.soft_values(prior, eng.scale_reward(eng.base_reward(), alphas))
    )
    for b, a in enumerate((0, 0.5, 3)):
        want = oracle(mdp, "policy", PolicySpec("T", alpha=a), exact=False)
        assert_close(torch.exp(batched[b]).numpy(), want, rel=2e-10, abs=1e-13)


def test_device_and_dtype_resolution() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert K.resolve_device(None).type == expected
    assert K.resolve_device("auto").type == expected
    assert K.resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            K.resolve_device("cuda")
    assert K.resolve_dtype("float32") is torch.float32
    assert TorchMDP.dense(**good_arrays(), dtype="float32").dtype == torch.float32


@pytest.mark.parametrize("kernel", ["torch", "numpy"])
def test_dense_kernels_agree(kernel: str) -> None:
    gen = np.random.default_rng(5)
    B, S, A, T = 3, 6, 3, 4
    P = gen.dirichlet(np.ones(S), size=(B, S, A))
    rho = gen.uniform(0.05, 1.0, size=(B, T, S, A))
    mu = gen.dirichlet(np.ones(S), size=B)
    tm = TorchMDP.dense(transitions=P, success=rho, initial=mu)
    auto = TorchEngine(tm)
    other = TorchEngine(tm, kernel=kernel)  # type: ignore[arg-type]
    for spec in (PolicySpec("G", k=2), PolicySpec("maxent", alpha=Fraction(1))):
        for b in range(B):
            got, want = answers(other, spec, b), answers(auto, spec, b)
            for key in got:
                assert_close(got[key], want[key], rel=1e-13, abs=1e-15, name=key)


def _dense_batch(B: int = 3, S: int = 6, A: int = 3, T: int = 4) -> TorchMDP:
    gen = np.random.default_rng(7)
    return TorchMDP.dense(
        transitions=gen.dirichlet(np.ones(S), size=(B, S, A)),
        success=gen.uniform(0.05, 1.0, size=(B, T, S, A)),
        initial=gen.dirichlet(np.ones(S), size=B),
    )


def test_auto_kernel_runs_large_cpu_members_in_numpy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tm = _dense_batch()
    small = TorchEngine(tm)
    assert not small._numpy_pass  # 6 x 3 x 6 doubles per member: torch
    assert TorchEngine(tm, kernel="numpy")._numpy_pass
    assert not TorchEngine(tm, kernel="torch")._numpy_pass
    monkeypatch.setattr(K, "NUMPY_MIN_MEMBER_BYTES", 1)
    big = TorchEngine(tm)
    assert big._numpy_pass
    threads = torch.get_num_threads()
    for spec in (PolicySpec("G", k=3), PolicySpec("T", alpha=Fraction(1, 2))):
        for b in range(tm.batch_size):
            got, want = answers(big, spec, b), answers(small, spec, b)
            for key in got:
                assert_close(got[key], want[key], rel=1e-13, abs=1e-15, name=key)
    assert torch.get_num_threads() == threads


def test_chunked_torch_pass_equals_one_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    tm = _dense_batch(B=5)
    whole = TorchEngine(tm, kernel="torch")
    assert whole._chunk == 5
    member = 6 * 3 * 6 * 8
    monkeypatch.setattr(K, "CHUNK_BYTES", 2 * member)
    chunked = TorchEngine(tm, kernel="torch")
    assert chunked._chunk == 2  # chunks 2, 2, 1
    prior, reward = whole.prior_policy(), whole.base_reward()
    want, got = whole.soft_values(prior, reward), chunked.soft_values(prior, reward)
    assert torch.equal(got.Q, want.Q)
    assert torch.equal(got.V, want.V)


def test_batch_chunk_sizes() -> None:
    assert K.batch_chunk(1, 10 * K.CHUNK_BYTES) == 1
    assert K.batch_chunk(100, K.CHUNK_BYTES // 100) == 100
    chunk = K.batch_chunk(1024, K.CHUNK_BYTES // 400)
    assert chunk * K.CHUNK_BYTES // 400 <= K.CHUNK_BYTES
    assert -(-1024 // chunk) == 3


def test_torch_threads_guard_restores_the_count() -> None:
    old = torch.get_num_threads()
    with K.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == old
    with pytest.raises(RuntimeError, match="boom"), K.torch_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == old
    with K.torch_threads(old + 8):  # never raises the count
        assert torch.get_num_threads() == old
    assert torch.get_num_threads() == old
