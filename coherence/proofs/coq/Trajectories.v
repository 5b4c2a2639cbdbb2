(* Claim 1: z and w are success probabilities of the trajectory law.  For
   t < T, z_t(s,a) is the sum, over every continuation
   (s_{t+1}, a_{t+1}), ..., (s_{T-1}, a_{T-1}) and every final state s_T, of
   the probability of that continuation under the dynamics and pi, times the
   probability rho_t(s,a) rho_{t+1}(s_{t+1},a_{t+1}) ... rho_T(s_T) that every
   optimality variable O_t..O_T equals 1. *)
From mathcomp Require Import all_ssreflect all_algebra.
From Coherence Require Import Defs Values.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory Num.Theory.
Local Open Scope ring_scope.

Section Trajectories.
Variables (R : realFieldType) (S A : finType) (M : mdp R S A) (pi : policy R S A).
Local Notation T := (horizon M).
Local Notation P := (trans M).
Local Notation o := (rops R).
Local Notation es := (index_enum S).
Local Notation ea := (index_enum A).
Local Notation zv := (z o es ea M pi (rho M) (rhoT M)).
Local Notation wv := (w o es ea M pi (rho M) (rhoT M)).

(* Every sequence of n (state, action) pairs, each once. *)
Fixpoint trajs (n : nat) : seq (seq (S * A)) :=
  if n is n'.+1 then [seq x :: xs | x <- index_enum [finType of S * A], xs <- trajs n']
  else [:: [::]].

(* Law times success probability of the continuation xs, s_T after (t, s, a). *)
Fixpoint traj_w (t : nat) (s : S) (a : A) (xs : seq (S * A)) (sT : S) : R :=
  match xs with
  | [::] => rho M t s a * P s a sT * rhoT M sT
  | x :: xs' => rho M t s a * P s a x.1 * pi t.+1 x.1 x.2 * traj_w t.+1 x.1 x.2 xs' sT
  end.

Theorem z_trajectory_sum t s a : (t < T)%N ->
  zv t s a = \sum_(xs <- trajs (T - t.+1)) \sum_sT traj_w t s a xs sT.
Proof.
suff H n : forall t, (t < T)%N -> (T - t.+1 = n)%N ->
    forall s a, zv t s a = \sum_(xs <- trajs n) \sum_sT traj_w t s a xs sT.
  by move=> lt; apply: H.
elim: n => [|n IH] {}t lt e {}s {}a.
  have eT : t.+1 = T by apply/eqP; rewrite eqn_leq lt /= -subn_eq0 e.
  rewrite zE [trajs 0]/= big_seq1 eT.
  under eq_bigr => s' _ do rewrite wT.
  by rewrite mulr_sumr; apply: eq_bigr => s' _; rewrite mulrA.
have lt1 : (t.+1 < T)%N by rewrite -subn_gt0 e.
rewrite [trajs _.+1]/= big_allpairs_dep.
rewrite (eq_bigr (fun x => rho M t s a * P s a x.1 * pi t.+1 x.1 x.2 * zv t.+1 x.1 x.2)); last first.
  move=> [s1 a1] _; rewrite (IH t.+1 lt1); last by rewrite subnS e.
  rewrite mulr_sumr; apply: eq_bigr => xs _; rewrite mulr_sumr.
  by apply: eq_bigr => sT _.
rewrite zE mulr_sumr.
under eq_bigr => s1 _ do rewrite w_lt // mulr_sumr mulr_sumr.
rewrite pair_big /=; apply: eq_bigr => [[s1 a1]] _ /=.
by rewrite !mulrA.
Qed.

Theorem w_trajectory_sum t s : (t < T)%N ->
  wv t s = \sum_a pi t s a * \sum_(xs <- trajs (T - t.+1)) \sum_sT traj_w t s a xs sT.
Proof. by move=> lt; rewrite w_lt //; apply: eq_bigr => a _; rewrite z_trajectory_sum. Qed.

End Trajectories.
