"""Sample-based learning algorithms of SPEC §5 on a torch device (cpu or cuda).

* :mod:`~coherence.gpu.learning.rollouts` -- batched episodes, every O_t sampled;
  the generative model for the Q-learners.
* :mod:`~coherence.gpu.learning.retrain` -- Monte Carlo re-training (estimates
  G_k) and its binomial comparison with G of the previous estimated policy.
* :mod:`~coherence.gpu.learning.outcome_model` -- the outcome-conditioned
  autoregressive model p_theta(a | s, t, o), tabular or MLP, fine-tuned on its own
  rollouts ("replace" reproduces G_k; "aggregate" converges to a mixture).
* :mod:`~coherence.gpu.learning.sequence_model` -- a causal transformer over
  episode tokens (o, s_0, a_0, ...), fine-tuned on its own rollouts.
* :mod:`~coherence.gpu.learning.soft_q` -- annealed soft Q-learning with warm
  starts: Z-learning (exact-conditioning backup, converges to T_alpha) and the
  maximum-entropy backup (converges to the entropy-regularised optimum), every
  O_t sampled, error bars propagated backwards.
* :mod:`~coherence.gpu.learning.profile` -- the incoherence profile of a learned
  policy (kappa_1 learned, raw and support-aware, vs exact G_k).
* :mod:`~coherence.gpu.learning.verdict` -- the verdicts as hypothesis tests:
  Chernoff and empirical Bernstein intervals at a stated family-wise level,
  FAIL / insufficient data / pass (docs/learning.md).

Policies are probability tensors of shape (T, S, A), float64. Every function
takes an explicit seeded ``torch.Generator``.
"""

from coherence.gpu.learning.outcome_model import (
    MLPOutcomeModel,
    ModelRound,
    OutcomeConditionedLearner,
    TabularOutcomeModel,
    aggregate_mixture,
    aggregate_sd,
    fit_outcome_model,
    outcome_counts,
    success_visit_probability,
)
from coherence.gpu.learning.profile import IncoherenceProfile, incoherence_profile
from coherence.gpu.learning.retrain import (
    Deviation,
    RetrainRound,
    RoundCheck,
    binomial_deviation,
    check_round,
    log_policy,
    max_abs_deviation,
    mc_retrain,
    mc_retrain_round,
    reference_condition,
    success_counts,
    well_visited_threshold,
)
from coherence.gpu.learning.rollouts import (
    Environment,
    Episodes,
    default_device,
    make_generator,
    rollout,
    sample_next_states,
    sample_step_outcomes,
    sample_terminal_outcomes,
    step_outcomes,
)
from coherence.gpu.learning.sequence_model import (
    CausalTransformer,
    SequenceLearner,
    SequenceRound,
    encode_episodes,
)
from coherence.gpu.learning.soft_q import (
    Backup,
    SoftQResult,
    anneal,
    maxent_q_learning,
    z_learning,
)

__all__ = [
    "Backup",
    "CausalTransformer",
    "Deviation",
    "Environment",
    "Episodes",
    "IncoherenceProfile",
    "MLPOutcomeModel",
    "ModelRound",
    "OutcomeConditionedLearner",
    "RetrainRound",
    "RoundCheck",
    "SequenceLearner",
    "SequenceRound",
    "SoftQResult",
    "TabularOutcomeModel",
    "aggregate_mixture",
    "aggregate_sd",
    "anneal",
    "binomial_deviation",
    "check_round",
    "default_device",
    "encode_episodes",
    "fit_outcome_model",
    "incoherence_profile",
    "log_policy",
    "make_generator",
    "max_abs_deviation",
    "maxent_q_learning",
    "mc_retrain",
    "mc_retrain_round",
    "outcome_counts",
    "reference_condition",
    "rollout",
    "sample_next_states",
    "sample_step_outcomes",
    "sample_terminal_outcomes",
    "step_outcomes",
    "success_counts",
    "success_visit_probability",
    "well_visited_threshold",
    "z_learning",
]
