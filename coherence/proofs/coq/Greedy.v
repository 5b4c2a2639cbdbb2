(* Claim 6: a policy pi is argmax-coherent iff pi_t(.|s) is uniform over
   argmax_a Q^pi_t(s,a) at every reachable (t, s), for every valid finite
   MDP over an arbitrary real field.

   The argmax soft-Q policy of pi is pq = softq None pi (Defs.v): uniform
   over the maximisers of z^pi_t(s,.), and z is monotone in Q.  A state is
   reachable at t when its occupancy d_t(s) = occ pi t s (d_0 = mu) is
   positive.  The argmax coherence gap is the occupancy-weighted causal KL
   of pi from pq,

     kappa_L(pi) = sum_{t<T} sum_s d_t(s)
                     sum_{a : pi_t(a|s) > 0} pi_t(a|s) L(pi_t(a|s) / pq_t(a|s)),

   and kappa = +infinity when pi puts mass on an action with pq = 0 at a
   reachable state; pi is argmax-coherent when kappa is finite and 0.  The
   theorem [claim6_argmax_coherent] says: for a valid MDP and pi a
   distribution at every t < T,

     (kappa finite /\ kappa_L(pi) = 0)
       <-> pi_t(a|s) = pq_t(a|s) for all t < T, s with d_t(s) > 0, and a.

   L stands for ln, which the field does not provide; the proof uses only
   L 1 = 0, L x >= 1 - 1/x for x > 0, and equality there only at x = 1,
   all true of ln.

   Proof: pq is a distribution at every (t, s) (normalise of the 0/1
   indicator of the maximisers, the action type being nonempty because pi
   sums to 1).  Gibbs' inequality ([gibbs]): for distributions p, q with
   q > 0 wherever p > 0, each term p L(p/q) - p + q is >= 0 and is 0 only
   when p = q, so sum_a p L(p/q) >= 0 with equality iff p = q.  The
   occupancies are >= 0, so kappa is a sum of non-negative terms, which is 0
   iff every term is 0; at a reachable state that makes the per-state KL 0,
   hence pi = pq there.  Conversely pi = pq makes every term pi L(1) = 0. *)
From mathcomp Require Import all_ssreflect all_algebra.
From Coherence Require Import Defs Values.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory Num.Theory Order.Theory.
Local Open Scope ring_scope.

Section Greedy.
Variables (R : realFieldType) (S A : finType) (M : mdp R S A).
Local Notation T := (horizon M).
Local Notation P := (trans M).
Local Notation o := (rops R).
Local Notation es := (index_enum S).
Local Notation ea := (index_enum A).
Local Notation occ := (occ o es ea M).
Local Notation zv := (zv o es ea M).
Local Notation softq := (softq o es ea M).

(* L plays the part of ln. *)
Variable L : R -> R.
Hypothesis L1 : L 1 = 0.
Hypothesis L_ge : forall x, 0 < x -> 1 - x^-1 <= L x.
Hypothesis L_eq : forall x, 0 < x -> L x = 1 - x^-1 -> x = 1.

(* kappa_argmax with L for ln: the occupancy-weighted causal KL of pi from
   its argmax soft-Q policy. *)
Definition kappa_L (pi : policy R S A) : R :=
  \sum_(t < T) \sum_s occ pi t s *
    \sum_a (if 0 < pi t s a then pi t s a * L (pi t s a / softq None pi t s a) else 0).

(* sum_{a : p(a) > 0} p(a) L(p(a) / q(a)) *)
Definition klterm (p q : A -> R) : R :=
  \sum_a (if 0 < p a then p a * L (p a / q a) else 0).

Lemma kappa_LE pi :
  kappa_L pi = \sum_(t < T) \sum_s occ pi t s * klterm (pi t s) (softq None pi t s).
Proof. by []. Qed.

(* One term of Gibbs' inequality. *)
Lemma gibbs_term (p q : R) : 0 <= p -> 0 <= q -> (0 < p -> 0 < q) ->
  0 <= (if 0 < p then p * L (p / q) else 0) - p + q /\
  ((if 0 < p then p * L (p / q) else 0) - p + q = 0 -> p = q).
Proof.
move=> p0 q0 pq; case: ifP => [pp|np].
  have qp := pq pp; have xp : 0 < p / q by rewrite divr_gt0.
  have e : p - q = p * (1 - (p / q)^-1).
    by rewrite invf_div mulrBr mulr1 mulrCA divff ?mulr1 // lt0r_neq0.
  have key : p - q <= p * L (p / q) by rewrite e ler_wpmul2l // L_ge.
  have eB : p * L (p / q) - p + q = p * L (p / q) - (p - q) by rewrite opprD opprK addrA.
  split; first by rewrite eB subr_ge0.
  move/eqP; rewrite eB subr_eq0 => /eqP eL.
  have e1 : L (p / q) = 1 - (p / q)^-1.
    by apply: (mulfI (lt0r_neq0 pp)); rewrite eL e.
  move: (L_eq xp e1) => /(congr1 ( *%R^~ q)).
  by rewrite divfK ?mul1r // lt0r_neq0.
have p00 : p = 0 by apply/eqP; rewrite eq_le p0 andbT leNgt np.
by rewrite p00 subr0 add0r; split=> // ->.
Qed.

(* Gibbs' inequality with its equality case. *)
Lemma gibbs (p q : A -> R) :
  (forall a, 0 <= p a) -> \sum_a p a = 1 ->
  (forall a, 0 <= q a) -> \sum_a q a = 1 ->
  (forall a, 0 < p a -> 0 < q a) ->
  0 <= klterm p q /\ (klterm p q = 0 -> forall a, p a = q a).
Proof.
move=> p0 p1 q0 q1 pq.
have e : klterm p q =
  \sum_a ((if 0 < p a then p a * L (p a / q a) else 0) - p a + q a).
  by rewrite big_split sumrB /= p1 q1 subrK.
have t0 a := gibbs_term (p0 a) (q0 a) (@pq a).
rewrite e; split; first by apply: sumr_ge0 => a _; case: (t0 a).
move=> s0 a; case: (t0 a) => _; apply.
by apply: (psumr_eq0P (P := predT)) s0 a isT => b _; case: (t0 b).
Qed.

Lemma onatE n : onat o n = n%:R.
Proof. by rewrite /onat iter_addr addr0. Qed.

Lemma size_ea_gt0 (p : A -> R) : \sum_a p a = 1 -> (0 < size ea)%N.
Proof.
rewrite lt0n size_eq0 => h; apply/eqP => E; move: h; rewrite E big_nil => /eqP.
by rewrite eq_sym oner_eq0.
Qed.

(* The argmax soft-Q policy is a distribution. *)
Lemma softq_argmax_dist pi t s : (t < T)%N -> (0 < size ea)%N ->
  (forall a, 0 <= softq None pi t s a) /\ \sum_a softq None pi t s a = 1.
Proof.
move=> lt nz.
have E a : softq None pi t s a =
  normalise o ea (fun b => if is_max o ea (zv pi t s) b then 1 else 0) a.
  by rewrite /Defs.softq memoTE.
set wt := (fun b => _) in E.
have wt0 b : 0 <= wt b by rewrite /wt /=; case: ifP; rewrite ?ler01 ?lexx.
have nzR : (size ea)%:R != 0 :> R by rewrite pnatr_eq0 -lt0n.
rewrite /normalise /= osumE in E.
case: eqP E => [tot0|tot] E.
  split=> [a|]; first by rewrite E onatE divr_ge0 ?ler01 ?ler0n.
  under eq_bigr => a _ do rewrite E onatE.
  by rewrite big_const_seq count_predT iter_addr addr0 mul1r -(mulr_natr (size ea)%:R^-1) mulVf.
split=> [a|]; first by rewrite E divr_ge0 // sumr_ge0.
under eq_bigr => a _ do rewrite E.
by rewrite -mulr_suml divff //; apply/eqP.
Qed.

Lemma occ0 pi s : occ pi 0 s = mu M s.
Proof. by rewrite /= memoE. Qed.

Lemma occS pi t s' : occ pi t.+1 s' = \sum_s \sum_a occ pi t s * pi t s a * P s a s'.
Proof. by rewrite /= memoE osumE; apply: eq_bigr => s _; rewrite osumE. Qed.

Lemma occ_ge0 pi t s : valid M -> is_dist M pi -> (t <= T)%N -> 0 <= occ pi t s.
Proof.
move=> hv hpi; elim: t s => [|t IH] s le; first by rewrite occ0 (mu_ge0 hv).
rewrite occS; apply: sumr_ge0 => s0 _; apply: sumr_ge0 => a _.
rewrite !mulr_ge0 ?(trans_ge0 hv) ?IH ?(ltnW le) //.
by case: (hpi t s0 le) => /(_ a).
Qed.

(* Claim 6: argmax-coherent iff pi_t(.|s) is uniform over argmax Q^pi_t(s,.)
   at every reachable (t, s). *)
Theorem claim6_argmax_coherent (pi : policy R S A) :
  valid M -> is_dist M pi ->
  ((forall t s a, (t < T)%N -> 0 < occ pi t s -> 0 < pi t s a ->
      0 < softq None pi t s a) /\ kappa_L pi = 0) <->
  (forall t s a, (t < T)%N -> 0 < occ pi t s -> pi t s a = softq None pi t s a).
Proof.
move=> hv hpi.
have G t s : (t < T)%N -> 0 < occ pi t s ->
    (forall a, 0 < pi t s a -> 0 < softq None pi t s a) ->
    0 <= klterm (pi t s) (softq None pi t s) /\
    (klterm (pi t s) (softq None pi t s) = 0 -> forall a, pi t s a = softq None pi t s a).
  move=> lt _ fin; case: (hpi t s lt) => p0 p1.
  have [q0 q1] := softq_argmax_dist pi s lt (size_ea_gt0 p1).
  exact: gibbs.
rewrite kappa_LE; split=> [[fin k0] t s a lt pos|H].
  have f0 (t' : 'I_T) s' : 0 <= occ pi t' s' * klterm (pi t' s') (softq None pi t' s').
    have o0 := occ_ge0 s' hv hpi (ltnW (ltn_ord t')).
    have [->|nz] := eqVneq (occ pi t' s') 0; first by rewrite mul0r.
    have pos' : 0 < occ pi t' s' by rewrite lt_def nz.
    by rewrite mulr_ge0 //; case: (G t' s' (ltn_ord t') pos' (fun b => fin t' s' b (ltn_ord t') pos')).
  have := psumr_eq0P (P := predT) (fun t' _ => sumr_ge0 _ (fun s' _ => f0 t' s')) k0.
  move=> /(_ (Ordinal lt) isT) /(psumr_eq0P (P := predT) (fun s' _ => f0 (Ordinal lt) s')).
  move=> /(_ s isT) /= /eqP; rewrite mulf_eq0 (gt_eqF pos) /= => /eqP kl0.
  by case: (G t s lt pos (fun b => fin t s b lt pos)) => _ /(_ kl0).
split=> [t s a lt pos pp|]; first by rewrite -H.
apply: big1 => t _; apply: big1 => s _.
have o0 := occ_ge0 s hv hpi (ltnW (ltn_ord t)).
have [->|nz] := eqVneq (occ pi t s) 0; first by rewrite mul0r.
have pos : 0 < occ pi t s by rewrite lt_def nz.
rewrite /klterm big1 ?mulr0 // => a _; case: ifP => // pp.
by rewrite -H ?ltn_ord // divff ?lt0r_neq0 // L1 mulr0.
Qed.

End Greedy.
