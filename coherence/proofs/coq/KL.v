(* Claim 3: the KL divergence between the trajectory laws of two policies pi
   and q in the same finite MDP equals the occupancy-weighted sum of the
   per-state KL divergences of their action distributions (the causal KL of
   SPEC section 3), for any dynamics, any horizon T and any initial weights mu.

   A trajectory is s_0 followed by (a_0, s_1), ..., (a_{T-1}, s_T); its law
   under pi is Pr_pi = mu(s_0) prod_{t<T} pi_t(a_t|s_t) P(s_{t+1}|s_t,a_t).
   The theorem [kl_trajectory_occupancy] says

     sum over trajectories with Pr_pi > 0 of
         Pr_pi * L(prod_t pi_t(a_t|s_t) / prod_t q_t(a_t|s_t))
   = sum_{t<T} sum_s d_t(s) sum_a pi_t(a|s) L(pi_t(a|s) / q_t(a|s))

   where d = occ pi (Defs.v: d_0 = mu, d_{t+1}(s') = sum_{s,a} d_t(s)
   pi_t(a|s) P(s'|s,a)), and the ratio of the two trajectory laws is written
   with mu and the dynamics cancelled.  Trajectories are enumerated by s_0
   and the list [runs T] of all sequences of T (action, next state) pairs.
   L is any function with L(x y) = L(x) + L(y) for x, y > 0, so L = ln
   gives the real KL; terms with pi_t(a|s) = 0 are 0 on the right
   (0 * L(0/q) = 0).  Hypotheses: pi is a distribution at every t < T and s;
   q_t(a|s) > 0 wherever pi_t(a|s) > 0; the transition rows are
   distributions; mu >= 0.  q itself need not sum to 1, and mu need not sum
   to 1.

   Proof: V_t(s), the sum over continuations from (t, s) of their law times
   the sum of the per-step terms L(pi/q), satisfies the backward recursion
   V_t(s) = sum_a pi_t(a|s) [L(pi/q)(t,s,a) + sum_s' P(s'|s,a) V_{t+1}(s')],
   V_T = 0 ([V_rec], [VT]); exchanging it with the forward recursion of d
   gives sum_s d_t V_t = sum_s d_t KL_t + sum_s d_{t+1} V_{t+1} ([V_step]). *)
From mathcomp Require Import all_ssreflect all_algebra.
From Coherence Require Import Defs Values.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory Num.Theory Order.Theory.
Local Open Scope ring_scope.

Section KL.
Variables (R : realFieldType) (S A : finType) (M : mdp R S A) (pi q : policy R S A).
Variable L : R -> R.
Hypothesis hL : forall x y, 0 < x -> 0 < y -> L (x * y) = L x + L y.
Local Notation T := (horizon M).
Local Notation P := (trans M).
Local Notation o := (rops R).
Local Notation es := (index_enum S).
Local Notation ea := (index_enum A).
Local Notation d := (occ o es ea M pi).

(* Every sequence of n (action, next state) pairs, each once. *)
Fixpoint runs (n : nat) : seq (seq (A * S)) :=
  if n is n'.+1 then [seq y :: ys | y <- index_enum [finType of A * S], ys <- runs n']
  else [:: [::]].

(* prod_i pi_{t+i}(a_i|s_i) P(s_{i+1}|s_i,a_i) along ys from (t, s). *)
Fixpoint law (t : nat) (s : S) (ys : seq (A * S)) : R :=
  if ys is y :: ys' then pi t s y.1 * P s y.1 y.2 * law t.+1 y.2 ys' else 1.

(* prod_i f_{t+i}(a_i|s_i) along ys from (t, s). *)
Fixpoint pprod (f : policy R S A) (t : nat) (s : S) (ys : seq (A * S)) : R :=
  if ys is y :: ys' then f t s y.1 * pprod f t.+1 y.2 ys' else 1.

Definition ell t s a := L (pi t s a / q t s a).

(* sum_i L(pi/q)(t+i, s_i, a_i) along ys from (t, s). *)
Fixpoint lsum (t : nat) (s : S) (ys : seq (A * S)) : R :=
  if ys is y :: ys' then ell t s y.1 + lsum t.+1 y.2 ys' else 0.

(* KL(pi_t(.|s) || q_t(.|s)) *)
Definition klstate t s := \sum_a pi t s a * ell t s a.

Definition V t s := \sum_(ys <- runs (T - t)) law t s ys * lsum t s ys.

Hypothesis hpi : is_dist M pi.
Hypothesis hq : forall t s a, (t < T)%N -> 0 < pi t s a -> 0 < q t s a.
Hypothesis hP0 : forall s a s', 0 <= P s a s'.
Hypothesis hP1 : forall s a, \sum_s' P s a s' = 1.
Hypothesis hmu : forall s, 0 <= mu M s.

Lemma L1 : L 1 = 0.
Proof.
have := hL ltr01 ltr01; rewrite mulr1 -{1}(addr0 (L 1)) => /addrI e.
by rewrite -e.
Qed.

Lemma pi_ge0 t s a : (t < T)%N -> 0 <= pi t s a.
Proof. by move=> lt; case: (hpi s lt) => /(_ a). Qed.

Lemma size_runs n ys : ys \in runs n -> size ys = n.
Proof.
elim: n ys => [|n IH] ys /=; first by rewrite inE => /eqP ->.
by case/allpairsP => [[y ys'] [_ /IH <- ->]].
Qed.

Lemma law_ge0 t s ys : (t + size ys <= T)%N -> 0 <= law t s ys.
Proof.
elim: ys t s => [|[a s'] ys IH] t s /=; first by rewrite ler01.
rewrite addnS => le; have lt : (t < T)%N by rewrite (leq_trans _ le) // ltnS leq_addr.
by rewrite !mulr_ge0 ?pi_ge0 // IH // addSn.
Qed.

Lemma law_mass n t s : (t + n <= T)%N -> \sum_(ys <- runs n) law t s ys = 1.
Proof.
elim: n t s => [|n IH] t s le; first by rewrite big_seq1.
rewrite addnS in le; have lt : (t < T)%N by rewrite (leq_trans _ le) // ltnS leq_addr.
rewrite [runs _]/= big_allpairs_dep /=.
under eq_bigr => y _ do rewrite -mulr_sumr IH ?addSn // mulr1.
have -> : 1 = \sum_a \sum_s' pi t s a * P s a s'.
  by case: (hpi s lt) => _ <-; apply: eq_bigr => a _; rewrite -mulr_sumr hP1 mulr1.
by rewrite pair_big.
Qed.

Lemma pos_factors (x y : R) : 0 <= x -> 0 <= y -> 0 < x * y -> 0 < x /\ 0 < y.
Proof. by rewrite !lt_def mulf_eq0 negb_or => -> -> /andP [/andP [-> ->] _]. Qed.

Lemma ratioE t s ys : (t + size ys <= T)%N -> 0 < law t s ys ->
  0 < pprod pi t s ys / pprod q t s ys /\
  L (pprod pi t s ys / pprod q t s ys) = lsum t s ys.
Proof.
elim: ys t s => [|[a s'] ys IH] t s /=; first by rewrite divr1 ltr01 L1.
rewrite addnS => le; have lt : (t < T)%N by rewrite (leq_trans _ le) // ltnS leq_addr.
move=> pos; rewrite -addSn in le.
have [h1 pl] := pos_factors (mulr_ge0 (@pi_ge0 t s a lt) (hP0 s a s')) (law_ge0 s' le) pos.
have [pp _] := pos_factors (@pi_ge0 t s a lt) (hP0 s a s') h1.
have [rpos rE] := IH _ _ le pl.
have qp := hq lt pp.
have e : pi t s a * pprod pi t.+1 s' ys / (q t s a * pprod q t.+1 s' ys) =
         pi t s a / q t s a * (pprod pi t.+1 s' ys / pprod q t.+1 s' ys).
  by rewrite invfM mulrACA.
have pq : 0 < pi t s a / q t s a by rewrite divr_gt0.
by rewrite e hL // rE /ell; split=> //; rewrite mulr_gt0.
Qed.

Lemma VT s : V T s = 0.
Proof. by rewrite /V subnn big_seq1 /= mulr0. Qed.

Lemma V_rec t s : (t < T)%N ->
  V t s = \sum_a pi t s a * (ell t s a + \sum_s' P s a s' * V t.+1 s').
Proof.
move=> lt; rewrite {1}/V -(subnSK lt) [runs _.+1]/= big_allpairs_dep /=.
transitivity (\sum_a \sum_s' pi t s a * P s a s' * (ell t s a + V t.+1 s')).
  rewrite pair_big; apply: eq_bigr => [[a s']] _ /=.
  rewrite (eq_bigr (fun ys => pi t s a * P s a s' *
             (ell t s a * law t.+1 s' ys + law t.+1 s' ys * lsum t.+1 s' ys))); last first.
    by move=> ys _ /=; rewrite -mulrA; congr (_ * _); rewrite mulrDr mulrC.
  by rewrite -mulr_sumr big_split /= -mulr_sumr law_mass ?subnKC // mulr1.
apply: eq_bigr => a _.
under eq_bigr => s' _ do rewrite -mulrA mulrDr.
by rewrite -mulr_sumr big_split /= -mulr_suml hP1 mul1r.
Qed.

Lemma occ0 s : d 0 s = mu M s.
Proof. by rewrite /= memoE. Qed.

Lemma occS t s' : d t.+1 s' = \sum_s \sum_a d t s * pi t s a * P s a s'.
Proof.
rewrite /= memoE osumE; apply: eq_bigr => s _.
by rewrite osumE.
Qed.

Lemma V_step t : (t < T)%N ->
  \sum_s d t s * V t s = \sum_s d t s * klstate t s + \sum_s d t.+1 s * V t.+1 s.
Proof.
move=> lt.
under eq_bigr => s _ do rewrite V_rec // mulr_sumr.
under [X in _ = _ + X]eq_bigr => s' _ do rewrite occS mulr_suml.
rewrite [X in _ + X]exchange_big -big_split /=; apply: eq_bigr => s _.
rewrite /klstate mulr_sumr.
under [X in _ + X]eq_bigr => s' _ do rewrite mulr_suml.
rewrite [X in _ + X]exchange_big -big_split /=; apply: eq_bigr => a _.
rewrite !mulrDr; congr (_ + _); rewrite !mulr_sumr; apply: eq_bigr => s' _.
by rewrite !mulrA.
Qed.

Lemma V_tele n : (n <= T)%N ->
  \sum_s mu M s * V 0 s = \sum_(t < n) \sum_s d t s * klstate t s + \sum_s d n s * V n s.
Proof.
elim: n => [|n IH] le.
  by rewrite big_ord0 add0r; apply: eq_bigr => s _; rewrite occ0.
by rewrite IH ?(ltnW le) // V_step // big_ord_recr /= addrA.
Qed.

(* Claim 3 *)
Theorem kl_trajectory_occupancy :
  \sum_(s0 : S) \sum_(ys <- runs T | 0 < mu M s0 * law 0 s0 ys)
     mu M s0 * law 0 s0 ys * L (pprod pi 0 s0 ys / pprod q 0 s0 ys) =
  \sum_(t < T) \sum_(s : S) occ o es ea M pi t s *
     \sum_(a : A) pi t s a * L (pi t s a / q t s a).
Proof.
rewrite -[RHS]addr0.
transitivity (\sum_s mu M s * V 0 s); last first.
  rewrite (V_tele (leqnn T)); congr (_ + _).
  by apply: big1 => s _; rewrite VT mulr0.
apply: eq_bigr => s0 _; rewrite /V subn0 mulr_sumr big_mkcond big_seq [RHS]big_seq.
apply: eq_bigr => ys ys_in; have sz := size_runs ys_in.
have le : (0 + size ys <= T)%N by rewrite add0n sz.
case: ifP => [pos|npos].
  have [_ pl] := pos_factors (hmu s0) (law_ge0 s0 le) pos.
  by have [_ ->] := ratioE le pl; rewrite mulrA.
have : mu M s0 * law 0 s0 ys == 0.
  by move: npos; rewrite lt_def mulr_ge0 ?hmu ?law_ge0 // andbT => /negbFE.
by rewrite mulrA => /eqP ->; rewrite mul0r.
Qed.

End KL.
