(* The statement of every theorem of manifest.json, written out in full and
   checked against the theorem: [X_pinned : X_statement := X] type-checks only
   when the theorem's type is convertible with the statement written here, so
   a weakened theorem (an extra or vacuous premise, a bounded k, a weaker
   conclusion) breaks this file, and with it the build.  The ledger
   (coherence/proofs/formal.py) prints each [X_statement] from this file, so
   the text printed and the type checked are the same source.

   The premises [valid], [is_dist] and [nonneg_weights] and the number
   operations [rops] are pinned too: each restatement of SPEC section 2's
   requirements implies the predicate the theorems assume, so no premise can
   be strengthened into a vacuous one by editing its definition. *)
From mathcomp Require Import all_ssreflect all_algebra.
From Coherence Require Import Defs QEval Values Trajectories Operators.
From Coherence Require Import Deterministic Cumulative Posterior KL Coherent.
From Coherence Require Import Greedy Bandit Refute BanditLimit.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

(* The field operations of every theorem: SPEC's rational arithmetic, the zero
   test of section 2 and the order (for argmax). *)
Definition rops_statement : Prop :=
  forall R : realFieldType,
  rops R = Ops 0%R 1%R +%R *%R (fun x y => (x / y)%R) (fun x => x == 0%R)
             (fun x y => (x <= y)%R).
Definition rops_pinned : rops_statement := fun R => erefl.

(* SPEC section 2's MDP: transition rows non-negative summing to 1, success
   probabilities in [0, 1], the initial distribution and the prior
   non-negative summing to 1. *)
Definition valid_statement : Prop :=
  forall (R : realFieldType) (S A : finType) (M : mdp R S A),
  (forall s a s', (0 <= trans M s a s')%R) ->
  (forall s a, (\sum_s' trans M s a s')%R = 1%R) ->
  (forall t s a, (0 <= rho M t s a)%R) -> (forall t s a, (rho M t s a <= 1)%R) ->
  (forall s, (0 <= rhoT M s)%R) -> (forall s, (rhoT M s <= 1)%R) ->
  (forall s, (0 <= mu M s)%R) -> (\sum_s mu M s)%R = 1%R ->
  (forall s a, (0 <= prior M s a)%R) -> (forall s, (\sum_a prior M s a)%R = 1%R) ->
  valid M.
Lemma valid_pinned : valid_statement.
Proof. by move=> R S A M *; constructor. Qed.

(* A policy that is a distribution at every t < T. *)
Definition is_dist_statement : Prop :=
  forall (R : realFieldType) (S A : finType) (M : mdp R S A) (pi : policy R S A),
  (forall t s, t < horizon M ->
     (forall a, (0 <= pi t s a)%R) /\ (\sum_a pi t s a)%R = 1%R) ->
  is_dist M pi.
Definition is_dist_pinned : is_dist_statement := fun _ _ _ _ _ h => h.

(* Non-negative transitions and weights. *)
Definition nonneg_weights_statement : Prop :=
  forall (R : realFieldType) (S A : finType) (M : mdp R S A)
         (rw : reward R S A) (rT : S -> R),
  (forall s a s', (0 <= trans M s a s')%R) -> (forall t s a, (0 <= rw t s a)%R) ->
  (forall s, (0 <= rT s)%R) -> nonneg_weights M rw rT.
Lemma nonneg_weights_pinned : nonneg_weights_statement.
Proof. by move=> R S A M rw rT hP hr hT; split; [|split]. Qed.

(* claim 1 / z: z_trajectory_sum (Trajectories.v) *)
Definition z_trajectory_sum_statement : Prop :=
  forall (R : realFieldType) (S0 A : finType) (M : mdp R S0 A) (pi : policy R S0 A) (t : nat) (s : S0) (a : A),
  t < horizon M ->
  z (rops R) (index_enum S0) (index_enum A) M pi (rho M) (rhoT M) t s a = (\sum_(xs <- trajs S0 A (horizon M - t.+1)) \sum_sT traj_w (R:=R) (S:=S0) (A:=A) M pi t s a xs sT)%R.
Definition z_trajectory_sum_pinned : z_trajectory_sum_statement := z_trajectory_sum.

(* claim 1 / w: w_trajectory_sum (Trajectories.v) *)
Definition w_trajectory_sum_statement : Prop :=
  forall (R : realFieldType) (S0 A : finType) (M : mdp R S0 A) (pi : policy R S0 A) (t : nat) (s : S0),
  t < horizon M ->
  w (rops R) (index_enum S0) (index_enum A) M pi (rho M) (rhoT M) t s = (\sum_a pi t s a * (\sum_(xs <- trajs S0 A (horizon M - t.+1)) \sum_sT traj_w (R:=R) (S:=S0) (A:=A) M pi t s a xs sT))%R.
Definition w_trajectory_sum_pinned : w_trajectory_sum_statement := w_trajectory_sum.

(* claim 2 / deterministic-given-s0: G1_posterior_deterministic (Posterior.v) *)
Definition G1_posterior_deterministic_statement : Prop :=
  forall (R : realFieldType) (S0 A : finType) (M : mdp R S0 A) (tau : S0 -> A -> S0),
  (forall (s : S0) (a : A) (s' : S0), trans M s a s' = ((s' == tau s a)%:R)%R) ->
  valid (R:=R) (S:=S0) (A:=A) M ->
  forall (t : nat) (s : S0) (xs : seq A),
  size xs = horizon M - t ->
  w (rops R) (index_enum S0) (index_enum A) M (prior_policy M) (rho M) (rhoT M) t s != 0%R ->
  Posterior.law (R:=R) (S:=S0) (A:=A) tau (G (rops R) (index_enum S0) (index_enum A) M 1) t s xs = (post (R:=R) (S:=S0) (A:=A) M tau t s xs / w (rops R) (index_enum S0) (index_enum A) M (prior_policy M) (rho M) (rhoT M) t s)%R.
Definition G1_posterior_deterministic_pinned : G1_posterior_deterministic_statement := G1_posterior_deterministic.

(* claim 2 / deterministic-given-s0: posterior_normaliser (Posterior.v) *)
Definition posterior_normaliser_statement : Prop :=
  forall (R : realFieldType) (S A : finType) (M : mdp R S A) (tau : S -> A -> S),
  (forall (s : S) (a : A) (s' : S), trans M s a s' = ((s' == tau s a)%:R)%R) ->
  forall (t : nat) (s : S),
  w (rops R) (index_enum S) (index_enum A) M (prior_policy M) (rho M) (rhoT M) t s = (\sum_(xs <- seqs A (horizon M - t)) post (R:=R) (S:=S) (A:=A) M tau t s xs)%R.
Definition posterior_normaliser_pinned : posterior_normaliser_statement := posterior_normaliser.

(* claim 3: kl_trajectory_occupancy (KL.v) *)
Definition kl_trajectory_occupancy_statement : Prop :=
  forall (R : realFieldType) (S0 A : finType) (M : mdp R S0 A) (pi q : policy R S0 A) (L : R -> R),
  (forall x y : R, (0 < x)%R -> (0 < y)%R -> L (x * y)%R = (L x + L y)%R) ->
  is_dist (R:=R) (S:=S0) (A:=A) M pi ->
  (forall (t : nat) (s : S0) (a : A), t < horizon M -> (0 < pi t s a)%R -> (0 < q t s a)%R) ->
  (forall (s : S0) (a : A) (s' : S0), (0 <= trans M s a s')%R) ->
  (forall (s : S0) (a : A), (\sum_s' trans M s a s')%R = 1%R) ->
  (forall s : S0, (0 <= mu M s)%R) ->
  (\sum_s0 \sum_(ys <- runs S0 A (horizon M) | 0 < mu M s0 * KL.law (R:=R) (S:=S0) (A:=A) M pi 0 s0 ys) mu M s0 * KL.law (R:=R) (S:=S0) (A:=A) M pi 0 s0 ys * L (pprod (R:=R) (S:=S0) (A:=A) pi 0 s0 ys / pprod (R:=R) (S:=S0) (A:=A) q 0 s0 ys))%R = (\sum_(t < horizon M) \sum_s occ (rops R) (index_enum S0) (index_enum A) M pi t s * (\sum_a pi t s a * L (pi t s a / q t s a)))%R.
Definition kl_trajectory_occupancy_pinned : kl_trajectory_occupancy_statement := kl_trajectory_occupancy.

(* claim 4 / argmax (and Boltzmann, delta = 1/m): B_T_coherent (Coherent.v) *)
Definition B_T_coherent_statement : Prop :=
  forall (R : realFieldType) (S0 A : finType) (M : mdp R S0 A) (f : option nat) (t : nat) (s : S0) (a : A),
  t < horizon M ->
  softq (rops R) (index_enum S0) (index_enum A) M f (B (rops R) (index_enum S0) (index_enum A) M f (horizon M)) t s a = B (rops R) (index_enum S0) (index_enum A) M f (horizon M) t s a.
Definition B_T_coherent_pinned : B_T_coherent_statement := B_T_coherent.

(* claim 4 / argmax (and Boltzmann, delta = 1/m), stability: B_T_stable (Coherent.v) *)
Definition B_T_stable_statement : Prop :=
  forall (R : realFieldType) (S0 A : finType) (M : mdp R S0 A) (f : option nat) (j t : nat) (s : S0) (a : A),
  t < horizon M ->
  B (rops R) (index_enum S0) (index_enum A) M f (horizon M + j) t s a = B (rops R) (index_enum S0) (index_enum A) M f (horizon M) t s a.
Definition B_T_stable_pinned : B_T_stable_statement := B_T_stable.

(* claim 6 / reachable-uniform: claim6_argmax_coherent (Greedy.v) *)
Definition claim6_argmax_coherent_statement : Prop :=
  forall (R : realFieldType) (S0 A : finType) (M : mdp R S0 A) (L : R -> R),
  L 1%R = 0%R ->
  (forall x : R, (0 < x)%R -> (1 - x^-1 <= L x)%R) ->
  (forall x : R, (0 < x)%R -> L x = (1 - x^-1)%R -> x = 1%R) ->
  forall pi : policy R S0 A,
  valid (R:=R) (S:=S0) (A:=A) M ->
  is_dist (R:=R) (S:=S0) (A:=A) M pi ->
  (forall (t : nat) (s : S0) (a : A), t < horizon M -> (0 < occ (rops R) (index_enum S0) (index_enum A) M pi t s)%R -> (0 < pi t s a)%R -> (0 < softq (rops R) (index_enum S0) (index_enum A) M None pi t s a)%R) /\ kappa_L (R:=R) (S:=S0) (A:=A) M L pi = 0%R <-> (forall (t : nat) (s : S0) (a : A), t < horizon M -> (0 < occ (rops R) (index_enum S0) (index_enum A) M pi t s)%R -> pi t s a = softq (rops R) (index_enum S0) (index_enum A) M None pi t s a).
Definition claim6_argmax_coherent_pinned : claim6_argmax_coherent_statement := claim6_argmax_coherent.

(* claim 10 / all dynamics: G_improves_w (Values.v) *)
Definition G_improves_w_statement : Prop :=
  forall (R : realFieldType) (S A : finType) (M : mdp R S A) (pi : policy R S A),
  nonneg_weights (R:=R) (S:=S) (A:=A) M (rho M) (rhoT M) ->
  is_dist (R:=R) (S:=S) (A:=A) M pi ->
  forall (t : nat) (s : S),
  t <= horizon M ->
  (w (rops R) (index_enum S) (index_enum A) M pi (rho M) (rhoT M) t s <= w (rops R) (index_enum S) (index_enum A) M (cond (rops R) (index_enum S) (index_enum A) M pi (rho M) (rhoT M)) (rho M) (rhoT M) t s)%R.
Definition G_improves_w_pinned : G_improves_w_statement := G_improves_w.

(* claim 10 / J_prob: G_improves_J_prob (Values.v) *)
Definition G_improves_J_prob_statement : Prop :=
  forall (R : realFieldType) (S A : finType) (M : mdp R S A) (pi : policy R S A),
  valid (R:=R) (S:=S) (A:=A) M ->
  is_dist (R:=R) (S:=S) (A:=A) M pi ->
  (J_prob (rops R) (index_enum S) (index_enum A) M pi <= J_prob (rops R) (index_enum S) (index_enum A) M (cond (rops R) (index_enum S) (index_enum A) M pi (rho M) (rhoT M)))%R.
Definition G_improves_J_prob_pinned : G_improves_J_prob_statement := G_improves_J_prob.

(* claim 13 / values: G_values_monotone_bounded (Values.v) *)
Definition G_values_monotone_bounded_statement : Prop :=
  forall (R : realFieldType) (S0 A : finType) (M : mdp R S0 A) (k t : nat) (s : S0),
  valid (R:=R) (S:=S0) (A:=A) M ->
  t <= horizon M ->
  (w (rops R) (index_enum S0) (index_enum A) M (G (rops R) (index_enum S0) (index_enum A) M k) (rho M) (rhoT M) t s <= w (rops R) (index_enum S0) (index_enum A) M (G (rops R) (index_enum S0) (index_enum A) M k.+1) (rho M) (rhoT M) t s)%R /\ (w (rops R) (index_enum S0) (index_enum A) M (G (rops R) (index_enum S0) (index_enum A) M k.+1) (rho M) (rhoT M) t s <= 1)%R.
Definition G_values_monotone_bounded_pinned : G_values_monotone_bounded_statement := G_values_monotone_bounded.

(* claim 13 / T = 1 bandit closed form: G_bandit_closed_form (Bandit.v) *)
Definition G_bandit_closed_form_statement : Prop :=
  forall (R : realFieldType) (S0 A : finType) (M : mdp R S0 A),
  valid (R:=R) (S:=S0) (A:=A) M ->
  horizon M = 1 ->
  forall (k : nat) (s : S0) (a : A),
  (\sum_b prior M s b * zb (R:=R) (S:=S0) (A:=A) M s b)%R != 0%R ->
  G (rops R) (index_enum S0) (index_enum A) M k 0 s a = (prior M s a * zb (R:=R) (S:=S0) (A:=A) M s a ^+ k / (\sum_b prior M s b * zb (R:=R) (S:=S0) (A:=A) M s b ^+ k))%R.
Definition G_bandit_closed_form_pinned : G_bandit_closed_form_statement := G_bandit_closed_form.

(* claim 13 / T = 1 bandit limit: G_bandit_limit (BanditLimit.v) *)
Definition G_bandit_limit_statement : Prop :=
  forall (R : archiFieldType) (S0 A : finType) (M : mdp R S0 A),
  valid (R:=R) (S:=S0) (A:=A) M ->
  horizon M = 1 ->
  forall s : S0,
  (forall b : A, (0 < prior M s b)%R) ->
  forall (a : A) (eps : R),
  (0 < eps)%R ->
  exists N : nat, forall k : nat, N <= k ->
  (`|G (rops R) (index_enum S0) (index_enum A) M k 0%N s a - Glim (R:=R) (S:=S0) (A:=A) M s a| < eps)%R.
Definition G_bandit_limit_pinned : G_bandit_limit_statement := G_bandit_limit.

(* claim 13 / T = 1 bandit limit: J_prob_bandit_limit_optimal (BanditLimit.v) *)
Definition J_prob_bandit_limit_optimal_statement : Prop :=
  forall (R : archiFieldType) (S0 A : finType) (M : mdp R S0 A),
  valid (R:=R) (S:=S0) (A:=A) M ->
  horizon M = 1 ->
  forall pi : policy R S0 A,
  (forall (s : S0) (b : A), (0 < prior M s b)%R) ->
  is_dist (R:=R) (S:=S0) (A:=A) M pi ->
  [/\ is_dist (R:=R) (S:=S0) (A:=A) M (fun=> Glim (R:=R) (S:=S0) (A:=A) M), J_prob (rops R) (index_enum S0) (index_enum A) M (fun=> Glim (R:=R) (S:=S0) (A:=A) M) = (\sum_s mu M s * zmax (R:=R) (S:=S0) (A:=A) M s)%R & (J_prob (rops R) (index_enum S0) (index_enum A) M pi <= \sum_s mu M s * zmax (R:=R) (S:=S0) (A:=A) M s)%R].
Definition J_prob_bandit_limit_optimal_pinned : J_prob_bandit_limit_optimal_statement := J_prob_bandit_limit_optimal.

(* claim 13 / T = 1 bandit limit: J_prob_G_bandit_limit (BanditLimit.v) *)
Definition J_prob_G_bandit_limit_statement : Prop :=
  forall (R : archiFieldType) (S0 A : finType) (M : mdp R S0 A),
  valid (R:=R) (S:=S0) (A:=A) M ->
  horizon M = 1 ->
  forall eps : R,
  (forall (s : S0) (b : A), (0 < prior M s b)%R) ->
  (0 < eps)%R ->
  exists N : nat, forall k : nat, N <= k ->
  (`|J_prob (rops R) (index_enum S0) (index_enum A) M (G (rops R) (index_enum S0) (index_enum A) M k) - \sum_s mu M s * zmax (R:=R) (S:=S0) (A:=A) M s| < eps)%R.
Definition J_prob_G_bandit_limit_pinned : J_prob_G_bandit_limit_statement := J_prob_G_bandit_limit.

(* claim 14 / deterministic: G_eq_T_deterministic (Deterministic.v) *)
Definition G_eq_T_deterministic_statement : Prop :=
  forall (R : realFieldType) (S0 A : finType) (M : mdp R S0 A) (tau : S0 -> A -> S0),
  (forall (s : S0) (a : A) (s' : S0), trans M s a s' = ((s' == tau s a)%:R)%R) ->
  valid (R:=R) (S:=S0) (A:=A) M ->
  forall (k t : nat) (s : S0) (a : A),
  t < horizon M ->
  Tk (rops R) (index_enum S0) (index_enum A) M k t s a = G (rops R) (index_enum S0) (index_enum A) M k t s a.
Definition G_eq_T_deterministic_pinned : G_eq_T_deterministic_statement := G_eq_T_deterministic.

(* claim 14 / stochastic refutation: T2_neq_G2_stochastic (Refute.v) *)
Definition T2_neq_G2_stochastic_statement : Prop :=
  ce_G 2 = q 25 61 /\ ce_T 2 = q 7 17 /\ ce_T 2 != ce_G 2.
Definition T2_neq_G2_stochastic_pinned : T2_neq_G2_stochastic_statement := T2_neq_G2_stochastic.

(* claim 15 / canonical: F_eq_G_canonical (Operators.v) *)
Definition F_eq_G_canonical_statement : Prop :=
  forall (R : realFieldType) (S0 A : finType) (M : mdp R S0 A),
  valid (R:=R) (S:=S0) (A:=A) M ->
  forall (k t : nat) (s : S0) (a : A),
  t < horizon M ->
  F (rops R) (index_enum S0) (index_enum A) M k t s a = G (rops R) (index_enum S0) (index_enum A) M k t s a.
Definition F_eq_G_canonical_pinned : F_eq_G_canonical_statement := F_eq_G_canonical.

(* claim 16 / stochastic refutation: H2_neq_T2_stochastic (Refute.v) *)
Definition H2_neq_T2_stochastic_statement : Prop :=
  ce_H 2 = q 25 61 /\ ce_H 2 != ce_T (2 ^ (2 - 1)).
Definition H2_neq_T2_stochastic_pinned : H2_neq_T2_stochastic_statement := H2_neq_T2_stochastic.

(* claim 16 / deterministic: H_eq_G_deterministic (Cumulative.v) *)
Definition H_eq_G_deterministic_statement : Prop :=
  forall (R : realFieldType) (S0 A : finType) (M : mdp R S0 A) (tau : S0 -> A -> S0),
  (forall (s : S0) (a : A) (s' : S0), trans M s a s' = ((s' == tau s a)%:R)%R) ->
  valid (R:=R) (S:=S0) (A:=A) M ->
  forall (k t : nat) (s : S0) (a : A),
  0 < k ->
  t < horizon M ->
  H (rops R) (index_enum S0) (index_enum A) M k t s a = G (rops R) (index_enum S0) (index_enum A) M (2 ^ (k - 1)) t s a.
Definition H_eq_G_deterministic_pinned : H_eq_G_deterministic_statement := H_eq_G_deterministic.
