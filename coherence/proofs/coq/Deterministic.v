(* Claim 14 (deterministic): T_k = G_k for every integer k >= 0, any prior,
   over an arbitrary real field. *)
From mathcomp Require Import all_ssreflect all_algebra.
From Coherence Require Import Defs Values Operators.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory Num.Theory Order.Theory.
Local Open Scope ring_scope.

Section Deterministic.
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

Lemma opowE (x : R) k : opow o x k = x ^+ k.
Proof. by elim: k => // k IH; rewrite exprS -IH. Qed.

Variable tau : S -> A -> S.
Hypothesis hdet : forall s a s', P s a s' = (s' == tau s a)%:R.
Hypothesis hv : valid M.

Lemma det_sum s a (f : S -> R) : \sum_s' P s a s' * f s' = f (tau s a).
Proof.
rewrite (bigD1 (tau s a)) //= hdet eqxx mul1r big1 ?addr0 // => s' /negPf ne.
by rewrite hdet ne mul0r.
Qed.

Lemma zdet pi rw rTw t s a : z pi rw rTw t s a = rw t s a * w pi rw rTw t.+1 (tau s a).
Proof. by rewrite zE det_sum. Qed.

Lemma TkE k t s a : (t < T)%N -> Tk k t s a = cond p (rk k) (rTk k) t s a.
Proof. by []. Qed.

Lemma Wk_ge0 k t s : (t <= T)%N -> 0 <= W k t s.
Proof.
move=> le; apply: w_ge0 => //.
  split; first exact: (@trans_ge0 R S A M hv).
  by split=> *; rewrite opowE exprn_ge0 // ?(rho_ge0 hv) ?(rhoT_ge0 hv).
by move=> t0 s0 a0 _; exact: (prior_ge0 hv s0 a0).
Qed.


Lemma hwk k : nonneg_weights M (rk k) (rTk k).
Proof.
split; first exact: (@trans_ge0 R S A M hv).
by split=> *; rewrite opowE exprn_ge0 // ?(rho_ge0 hv) ?(rhoT_ge0 hv).
Qed.

Lemma hp0 t s a : (t < T)%N -> 0 <= p t s a.
Proof. by move=> _; exact: (prior_ge0 hv s a). Qed.

Lemma Tk_W k t s a : (t < T)%N ->
  Tk k t s a * W k t s = p t s a * z p (rk k) (rTk k) t s a.
Proof.
move=> lt; rewrite TkE // condE //.
have [e|nz] := eqVneq (W k t s) 0; last by rewrite divfK.
rewrite e mulr0; apply/esym.
have hs : \sum_a0 p t s a0 * z p (rk k) (rTk k) t s a0 = 0 by rewrite -(w_lt _ _ _ s lt).
apply: (psumr_eq0P _ hs) => // a0 _.
by rewrite mulr_ge0 ?hp0 // (z_ge0 (hwk k) hp0).
Qed.

Lemma Tk_identity k t s : (t <= T)%N -> w (Tk k) rb rT t s * W k t s = W k.+1 t s.
Proof.
move=> le; move: t le s; apply: back_ind => [s|t lt IH s].
  by rewrite !wT !opowE exprS mulrC.
rewrite (w_lt _ _ _ s lt) [W k.+1 t s](w_lt _ _ _ s lt) mulr_suml; apply: eq_bigr => a _.
rewrite mulrAC Tk_W // !zdet -IH !opowE exprS -[LHS]mulrA; congr (_ * _).
rewrite mulrACA (mulrC (rb t s a ^+ k) (rb t s a)).
by rewrite (mulrC (W k t.+1 (tau s a)) (w (Tk k) rb rT t.+1 (tau s a))).
Qed.

(* For k >= 1, W_k and w^{T_k} vanish at the same (t, s). *)
Lemma Tk_zero k t s : (0 < k)%N -> (t <= T)%N -> (W k t s == 0) = (w (Tk k) rb rT t s == 0).
Proof.
move=> k0 le; move: t le s; apply: back_ind => [s|t lt IH s].
  by rewrite !wT opowE expf_eq0 k0.
rewrite (w_lt _ _ _ s lt) [w (Tk k) _ _ t s](w_lt _ _ _ s lt).
rewrite !psumr_eq0 => [|a _|a _]; first last.
- by rewrite mulr_ge0 ?hp0 // (z_ge0 (hwk k) hp0).
- rewrite mulr_ge0 //; first by rewrite TkE // (cond_ge0 (hwk k) hp0).
  apply: (@z_ge0 R S A M (Tk k) rb rT (valid_nonneg hv) _ t s a lt) => t' s' a' lt'.
  by rewrite TkE // (cond_ge0 (hwk k) hp0).
apply: eq_all => a; cbv beta; rewrite !implyTb !zdet opowE !mulf_eq0 expf_eq0 k0 andTb IH.
rewrite (@TkE k t s a lt) (condE _ _ _ s a lt).
have [e|nz] := eqVneq (W k t s) 0; first by [].
rewrite zdet !mulf_eq0 invr_eq0 (negPf nz) orbF opowE expf_eq0 k0 andTb IH.
by case: (p t s a == 0); case: (rb t s a == 0); case: (w (Tk k) rb rT t.+1 (tau s a) == 0).
Qed.


Lemma Zk_mul k t s a : (t < T)%N ->
  z p (rk k) (rTk k) t s a * z (Tk k) rb rT t s a = z p (rk k.+1) (rTk k.+1) t s a.
Proof.
move=> lt; rewrite !zdet -(Tk_identity k (tau s a) lt) !opowE exprS.
rewrite mulrACA (mulrC (rb t s a ^+ k) (rb t s a)).
by rewrite (mulrC (W k t.+1 (tau s a)) (w (Tk k) rb rT t.+1 (tau s a))).
Qed.

Lemma div_shuffle (x y u v c : R) : x * y / u * v / c = x * (y * v) / (c * u).
Proof.
by rewrite invfM !mulrA [RHS]mulrAC; congr (_ * _); rewrite mulrAC.
Qed.

Lemma Tk_step k t s a : (0 < k)%N -> (t < T)%N ->
  cond (Tk k) rb rT t s a = Tk k.+1 t s a.
Proof.
move=> k0 lt; rewrite (condE _ _ _ s a lt) (@TkE k.+1 t s a lt) (condE _ _ _ s a lt).
have hid := Tk_identity k s (ltnW lt).
have hz := Tk_zero s k0 (ltnW lt).
rewrite -hid (@TkE k t s a lt) (condE _ _ _ s a lt).
have [e|nz] := eqVneq (W k t s) 0.
  have e' : w (Tk k) rb rT t s = 0 by apply/eqP; rewrite -hz e.
  by rewrite e' eqxx e mulr0 eqxx.
have nz' : w (Tk k) rb rT t s != 0 by rewrite -hz.
rewrite (negPf nz') mulf_eq0 (negPf nz') (negPf nz) /=.
by rewrite div_shuffle (@Zk_mul k t s a lt).
Qed.

Lemma W0 t s : (t <= T)%N -> W 0 t s = 1.
Proof.
move=> le; move: t le s; apply: back_ind => [s|t lt IH s]; first by rewrite wT.
rewrite (w_lt _ _ _ s lt) -(prior_sum1 hv s); apply: eq_bigr => a _.
rewrite zE; under eq_bigr => s' _ do rewrite IH mulr1.
by rewrite (trans_sum1 hv) opowE expr0 !mulr1.
Qed.

Lemma T0 t s a : (t < T)%N -> Tk 0 t s a = p t s a.
Proof.
move=> lt; rewrite (@TkE 0 t s a lt) (condE _ _ _ s a lt) (W0 s (ltnW lt)) oner_eq0.
rewrite zE; under eq_bigr => s' _ do rewrite (W0 s' lt) mulr1.
by rewrite (trans_sum1 hv) opowE expr0 !mulr1 divr1.
Qed.

Lemma GS k : G o es ea M k.+1 = cond (G o es ea M k) rb rT.
Proof. by rewrite /G iterS. Qed.

(* Claim 14 (deterministic): T_k = G_k for every integer k >= 0, at every
   t < T, s, a, for any prior. *)
Theorem G_eq_T_deterministic k t s a : (t < T)%N -> Tk k t s a = G o es ea M k t s a.
Proof.
elim: k t s a => [|k IH] t s a lt; first by rewrite T0.
case: k IH => [|k] IH.
  rewrite (@TkE 1 t s a lt).
  rewrite (@cond_ext R S A M p p (rk 1) rb (rTk 1) rT (fun _ _ _ _ => erefl)
    (fun t' s' a' _ => mulr1 (rho M t' s' a')) (fun s' => mulr1 (rhoT M s')) t s a lt).
  by [].
rewrite (GS k.+1).
apply: etrans (esym (@Tk_step k.+1 t s a isT lt)) _.
exact: (@cond_ext R S A M (Tk k.+1) (G o es ea M k.+1) rb rb rT rT IH
  (fun _ _ _ _ => erefl) (fun _ => erefl) t s a lt).
Qed.

End Deterministic.
