(* Claim 16 (deterministic): H_k = G_{2^(k-1)} for every integer k >= 1, any
   prior, over an arbitrary real field, when every transition is
   deterministic.  H_{k+1} = cond(p, R'_k) with the canonically folded
   rewards R'_0 = rho, R'_{k+1} = R'_k H_{k+1} / p of Defs.v.  The proof
   shows H_{k+1} = T_{2^k} and concludes with claim 14 (Deterministic.v).
   R'_k is tied to rho^(2^k) by the potential
   c_k(t,s) = prod_{j<k} W_{2^j}(t,s), W_m = w^p[rho^m, rho_T^m]:
   where p(a|s) != 0, R'_k(t,s,a) c_k(t,s) = rho_t(s,a)^(2^k) c_k(t+1, s'),
   s' the successor of (s, a), and R'_k(t,s,a) = 0 where rho_t(s,a) = 0;
   hence w^p[R'_k, rho_T] c_k = W_{2^k}. *)
From mathcomp Require Import all_ssreflect all_algebra.
From Coherence Require Import Defs Values Operators Deterministic.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory Num.Theory Order.Theory.
Local Open Scope ring_scope.

Section Cumulative.
Variables (R : realFieldType) (S A : finType) (M : mdp R S A).
Local Notation T := (horizon M).
Local Notation P := (trans M).
Local Notation o := (rops R).
Local Notation es := (index_enum S).
Local Notation ea := (index_enum A).
Local Notation w := (w o es ea M).
Local Notation z := (z o es ea M).
Local Notation cond := (cond o es ea M).
Local Notation p := (prior_policy M).
Local Notation rb := (rho M).
Local Notation rT := (rhoT M).
Local Notation rk k := (fun t s a => opow o (rho M t s a) k).
Local Notation rTk k := (fun s => opow o (rhoT M s) k).
Local Notation W k := (w p (rk k) (rTk k)).
Local Notation Tk := (Tk o es ea M).
Local Notation fold := (fold o es ea M false).
Local Notation Hp k := (Hpair o es ea M false k).

Variable tau : S -> A -> S.
Hypothesis hdet : forall s a s', P s a s' = (s' == tau s a)%:R.
Hypothesis hv : valid M.

Lemma Hpair1 k : (Hp k.+1).1 = cond p (Hp k).2 rT.
Proof. by []. Qed.

Lemma Hpair2 k : (Hp k.+1).2 = fold (Hp k).2 (cond p (Hp k).2 rT).
Proof. by []. Qed.

Lemma mul_div_cancel (x y c : R) : c != 0 -> x * c / (y * c) = x / y.
Proof. by move=> nz; rewrite invfM mulrACA mulfV // mulr1. Qed.

(* For m >= 1, W_m vanishes exactly where W_1 does. *)
Lemma W_zero1 m t s : (0 < m)%N -> (t <= T)%N -> (W m t s == 0) = (W 1 t s == 0).
Proof.
move=> m0 le; elim: m m0 => [//|m IH] _.
case: m IH => [//|m] IH.
rewrite -(Tk_identity hdet hv m.+1 s le) mulf_eq0 -(@Tk_zero _ _ _ _ _ hdet hv m.+1 _ s isT le) orbb.
exact: IH.
Qed.

(* The potential c_k(t,s) = prod_{j<k} W_{2^j}(t,s). *)
Definition cpot k t s : R := \prod_(j < k) W (2 ^ j)%N t s.

Lemma cpotS k t s : cpot k.+1 t s = cpot k t s * W (2 ^ k)%N t s.
Proof. by rewrite /cpot big_ord_recr. Qed.

Lemma cpot0 t s : cpot 0 t s = 1.
Proof. by rewrite /cpot big_ord0. Qed.

Lemma cpot_T k s : rT s * cpot k T s = rT s ^+ (2 ^ k).
Proof.
elim: k => [|k IH]; first by rewrite cpot0 mulr1 expn0 expr1.
by rewrite cpotS wT opowE mulrA IH -exprD addnn -mul2n -expnS.
Qed.

Lemma cpot_zero k t s : (t <= T)%N -> cpot k t s = 0 -> W 1 t s = 0.
Proof.
move=> le /eqP; rewrite /cpot => /prodf_eq0 [j _ hj].
by apply/eqP; rewrite -(@W_zero1 (2 ^ j)%N) // expn_gt0.
Qed.

Section Step.
Variables (k : nat) (Rk : reward R S A).
Hypothesis hI1 : forall t s a, (t < T)%N -> prior M s a != 0 ->
  Rk t s a * cpot k t s = rb t s a ^+ (2 ^ k) * cpot k t.+1 (tau s a).
Hypothesis hI2 : forall t s a, (t < T)%N -> prior M s a != 0 ->
  rb t s a = 0 -> Rk t s a = 0.

Lemma V_cpot t s : (t <= T)%N -> w p Rk rT t s * cpot k t s = W (2 ^ k)%N t s.
Proof.
move=> le; move: t le s; apply: back_ind => [s|t lt IH s].
  by rewrite !wT opowE cpot_T.
rewrite (w_lt _ _ _ s lt) [W _ t s](w_lt _ _ _ s lt) mulr_suml; apply: eq_bigr => a _.
rewrite !(zdet hdet) opowE -IH /prior_policy.
have [e|nz] := eqVneq (prior M s a) 0; first by rewrite e !mul0r.
by rewrite -!mulrA; congr (_ * _); rewrite mulrCA hI1 // mulrCA.
Qed.

Lemma V_zero t s : (t <= T)%N -> W 1 t s = 0 -> w p Rk rT t s = 0.
Proof.
move=> le; move: t le s; apply: back_ind => [s|t lt IH s].
  by rewrite !wT opowE expr1.
rewrite (w_lt p Rk rT s lt) (w_lt p (rk 1) (rTk 1) s lt) => h0.
apply: big1 => a _.
have ha : p t s a * z p (rk 1) (rTk 1) t s a = 0.
  apply: (psumr_eq0P _ h0) => // a0 _.
  by rewrite mulr_ge0 ?(hp0 hv) // (z_ge0 (hwk hv 1) (hp0 hv)).
move: ha; rewrite !(zdet hdet) opowE expr1 /prior_policy.
have [e|nz] := eqVneq (prior M s a) 0; first by rewrite e !mul0r.
move/eqP; rewrite !mulf_eq0 (negPf nz) /= => /orP [/eqP r0|/eqP w0].
  by rewrite hI2 // mul0r mulr0.
by rewrite IH // !mulr0.
Qed.

Lemma cond_Tk t s a : (t < T)%N -> cond p Rk rT t s a = Tk (2 ^ k)%N t s a.
Proof.
move=> lt; rewrite (condE _ _ _ s a lt) (TkE (2 ^ k)%N s a lt) (condE _ _ _ s a lt).
have [c0|cnz] := eqVneq (cpot k t s) 0.
  have w1 := cpot_zero (ltnW lt) c0.
  rewrite (V_zero (ltnW lt) w1) eqxx.
  have -> : W (2 ^ k)%N t s = 0.
    by apply/eqP; rewrite W_zero1 ?expn_gt0 ?(ltnW lt) // w1.
  by rewrite eqxx.
rewrite -(V_cpot s (ltnW lt)) mulf_eq0 (negPf cnz) orbF.
case: ifP => // _.
rewrite !(zdet hdet) opowE -(V_cpot (tau s a) lt) /prior_policy.
have [e|nz] := eqVneq (prior M s a) 0; first by rewrite e !mul0r.
apply: etrans (esym (mul_div_cancel _ _ cnz)) _; congr (_ / _).
by rewrite -!mulrA; congr (_ * _); rewrite mulrCA hI1 // mulrCA.
Qed.
End Step.

Lemma Hpair_inv k :
  (forall t s a, (t < T)%N -> prior M s a != 0 ->
     (Hp k).2 t s a * cpot k t s = rb t s a ^+ (2 ^ k) * cpot k t.+1 (tau s a)) /\
  (forall t s a, (t < T)%N -> prior M s a != 0 -> rb t s a = 0 -> (Hp k).2 t s a = 0).
Proof.
elim: k => [|k [I1 I2]].
  by split=> t s a _ _ //; rewrite !cpot0 !mulr1 ?expn0 ?expr1.
split=> t s a lt nz; rewrite Hpair2 (foldE _ _ s a lt) (negPf nz) (cond_Tk I1 I2 s a lt).
  rewrite !cpotS mulrAC mulrACA I1 // (Tk_W hv _ s a lt) (zdet hdet) opowE /prior_policy.
  by rewrite mulrCA (mulrC (prior M s a)) mulfK // mulrACA -exprD addnn -mul2n -expnS.
by move=> r0; rewrite I2 // !mul0r.
Qed.

(* Claim 16 (deterministic): H_k = G_{2^(k-1)} for every integer k >= 1, at
   every t < T, s, a, for any prior. *)
Theorem H_eq_G_deterministic k t s a : (0 < k)%N -> (t < T)%N ->
  H o es ea M k t s a = G o es ea M (2 ^ (k - 1)) t s a.
Proof.
case: k => [//|k] _ lt; have [I1 I2] := Hpair_inv k.
by rewrite subn1 /= /H Hpair1 (cond_Tk I1 I2 s a lt) (G_eq_T_deterministic hdet hv).
Qed.

End Cumulative.
