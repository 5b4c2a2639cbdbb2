(* Claim 15 (canonical folding): F_k = G_k for every k, any dynamics and any
   prior, over an arbitrary real field. *)
From mathcomp Require Import all_ssreflect all_algebra.
From Coherence Require Import Defs Values.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory Num.Theory Order.Theory.
Local Open Scope ring_scope.

Section Folding.
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
Local Notation fold := (fold o es ea M false).
Local Notation Gk := (G o es ea M).
Local Notation Fk := (F o es ea M).

Lemma foldE rw pi t s a : (t < T)%N ->
  fold rw pi t s a = if prior M s a == 0 then 0 else rw t s a * pi t s a / prior M s a.
Proof. by move=> lt; rewrite /Defs.fold memoTE. Qed.

Section Ext.
Variables (pi1 pi2 : policy R S A) (rw1 rw2 : reward R S A) (rT1 rT2 : S -> R).
Hypothesis hp : forall t s a, (t < T)%N -> pi1 t s a = pi2 t s a.
Hypothesis hr : forall t s a, (t < T)%N -> rw1 t s a = rw2 t s a.
Hypothesis hT : forall s, rT1 s = rT2 s.

Lemma w_ext t s : (t <= T)%N -> w pi1 rw1 rT1 t s = w pi2 rw2 rT2 t s.
Proof.
move=> le; move: t le s; apply: back_ind => [s|t lt IH s]; first by rewrite !wT hT.
rewrite !w_lt //; apply: eq_bigr => a _; rewrite hp // !zE hr //.
by congr (_ * (_ * _)); apply: eq_bigr => s' _; rewrite IH.
Qed.

Lemma z_ext t s a : (t < T)%N -> z pi1 rw1 rT1 t s a = z pi2 rw2 rT2 t s a.
Proof.
move=> lt; rewrite !zE hr //; congr (_ * _); apply: eq_bigr => s' _.
by rewrite w_ext.
Qed.

Lemma cond_ext t s a : (t < T)%N -> cond pi1 rw1 rT1 t s a = cond pi2 rw2 rT2 t s a.
Proof. by move=> lt; rewrite !condE // (w_ext s (ltnW lt)) (z_ext s a lt) (hp s a lt). Qed.
End Ext.

Section Support.
Variable q : policy R S A.
Hypothesis hq : forall t s a, (t < T)%N -> prior M s a = 0 -> q t s a = 0.

Lemma fold_pz t s a : (t < T)%N ->
  (forall s', w p (fold rb q) rT t.+1 s' = w q rb rT t.+1 s') ->
  p t s a * z p (fold rb q) rT t s a = q t s a * z q rb rT t s a.
Proof.
move=> lt hw; rewrite !zE foldE //.
under eq_bigr => s' _ do rewrite hw.
have [e|nz] := eqVneq (prior M s a) 0.
  by rewrite /prior_policy e !mul0r (hq lt e) mul0r.
rewrite /prior_policy mulrA mulrCA mulfV // mulr1.
by rewrite [rb t s a * _]mulrC -mulrA.
Qed.

Lemma fold_w t s : (t <= T)%N -> w p (fold rb q) rT t s = w q rb rT t s.
Proof.
move=> le; move: t le s; apply: back_ind => [s|t lt IH s]; first by rewrite !wT.
by rewrite !w_lt //; apply: eq_bigr => a _; rewrite fold_pz.
Qed.

Lemma fold_cond t s a : (t < T)%N ->
  cond p (fold rb q) rT t s a =
  if w q rb rT t s == 0 then prior M s a
  else q t s a * z q rb rT t s a / w q rb rT t s.
Proof.
move=> lt; rewrite (condE _ _ _ s a lt) (fold_w s (ltnW lt)).
case: ifP => _; first by [].
by rewrite (fold_pz s a lt) // => s'; rewrite (fold_w s' lt).
Qed.
End Support.

Hypothesis hv : valid M.

Lemma GS k : Gk k.+1 = cond (Gk k) rb rT.
Proof. by rewrite /G iterS. Qed.

Lemma G_support k t s a : (t < T)%N -> prior M s a = 0 -> Gk k t s a = 0.
Proof.
move=> lt e; elim: k => [|k IH]; first exact: e.
by rewrite GS condE // IH; case: ifP => _; rewrite ?mul0r.
Qed.

Lemma G_null k t s a : (t < T)%N -> w (Gk k) rb rT t s = 0 -> Gk k t s a = prior M s a.
Proof.
move=> lt; elim: k => [//|k IH] e.
have le := @G_improves_w R S A M (Gk k) (valid_nonneg hv) (G_dist k hv) t s (ltnW lt).
have ge := @w_ge0 R S A M (Gk k) rb rT (valid_nonneg hv)
  (fun t s a lt => (@G_dist R S A M k hv t s lt).1 a) t s (ltnW lt).
rewrite -GS e in le.
have e0 : w (Gk k) rb rT t s = 0 by apply/eqP; rewrite eq_le le ge.
by rewrite GS condE // e0 eqxx IH.
Qed.

Lemma FS k : Fk k.+2 = cond p (fold rb (Fk k.+1)) rT.
Proof. by []. Qed.

Lemma F1 : Fk 1 = cond p rb rT.
Proof. by []. Qed.

(* Claim 15 (canonical): F_k = G_k for every k >= 0, at every t < T, s, a. *)
Theorem F_eq_G_canonical k t s a : (t < T)%N -> Fk k t s a = Gk k t s a.
Proof.
elim: k t s a => [//|k IH] t s a lt.
case: k IH => [|k] IH; first by rewrite F1 (GS 0).
have hr : forall t' s' a', (t' < T)%N ->
    fold rb (Fk k.+1) t' s' a' = fold rb (Gk k.+1) t' s' a'.
  move=> t' s' a' lt'.
  by rewrite (@foldE rb (Fk k.+1) t' s' a' lt') (@foldE rb (Gk k.+1) t' s' a' lt') (IH t' s' a' lt').
rewrite FS (@cond_ext p p _ _ rT rT (fun _ _ _ _ => erefl) hr (fun _ => erefl) t s a lt).
rewrite (@fold_cond (Gk k.+1) (fun t' s' a' => @G_support k.+1 t' s' a') t s a lt).
rewrite (GS k.+1) (condE _ _ _ s a lt).
case: ifP => [/eqP e|_]; last by [].
by rewrite (@G_null k.+1 t s a lt e).
Qed.

End Folding.
