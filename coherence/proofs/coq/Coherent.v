(* Claim 4: iterated f-coherence.  B_0 = p, B_{i+1} = (B_i)^{Q,f}; after T
   rounds the policy is a fixed point of the f-soft-Q map (it is
   f-coherent: kappa_f(B_T) = KL_c(B_T || B_T^{Q,f}) = 0) and B_{T+j} = B_T,
   for argmax and for Boltzmann with delta = 1/m, over an arbitrary real
   field, for every MDP. *)
From mathcomp Require Import all_ssreflect all_algebra.
From Coherence Require Import Defs Values.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory Num.Theory Order.Theory.
Local Open Scope ring_scope.

Section Coherent.
Variables (R : realFieldType) (S A : finType) (M : mdp R S A).
Local Notation T := (horizon M).
Local Notation o := (rops R).
Local Notation es := (index_enum S).
Local Notation ea := (index_enum A).
Local Notation w := (w o es ea M).
Local Notation z := (z o es ea M).
Local Notation rb := (rho M).
Local Notation rT := (rhoT M).
Local Notation softq := (softq o es ea M).
Local Notation B := (B o es ea M).

Section From.
Variables (t0 : nat) (pi1 pi2 : policy R S A).
Hypothesis hp : forall t s a, (t0 <= t)%N -> (t < T)%N -> pi1 t s a = pi2 t s a.

Lemma w_ext_from t s : (t0 <= t)%N -> (t <= T)%N -> w pi1 rb rT t s = w pi2 rb rT t s.
Proof.
move=> le0 le; move: t le le0 s.
apply: (@back_ind R S A M (fun t => (t0 <= t)%N -> forall s, w pi1 rb rT t s = w pi2 rb rT t s)).
  by move=> _ s; rewrite !wT.
move=> t lt IH le0 s; rewrite !w_lt //; apply: eq_bigr => a _.
rewrite hp // !zE; congr (_ * (_ * _)); apply: eq_bigr => s' _.
by rewrite IH // (leq_trans le0).
Qed.

Lemma z_ext_from t s a : (t0 <= t.+1)%N -> (t < T)%N -> z pi1 rb rT t s a = z pi2 rb rT t s a.
Proof.
move=> le0 lt; rewrite !zE; congr (_ * _); apply: eq_bigr => s' _.
by rewrite w_ext_from.
Qed.
End From.

Lemma normalise_ext (w1 w2 : A -> R) a : (forall b, w1 b = w2 b) ->
  normalise o ea w1 a = normalise o ea w2 a.
Proof.
move=> h; rewrite /normalise !osumE (eq_bigr _ (fun b _ => h b)) h //.
Qed.

Lemma is_max_ext (q1 q2 : A -> R) a : (forall b, q1 b = q2 b) ->
  is_max o ea q1 a = is_max o ea q2 a.
Proof. by move=> h; rewrite /is_max; apply: eq_all => b; rewrite !h. Qed.

Lemma softq_ext f pi1 pi2 t s a : (t < T)%N ->
  (forall b, z pi1 rb rT t s b = z pi2 rb rT t s b) ->
  softq f pi1 t s a = softq f pi2 t s a.
Proof.
move=> lt h; rewrite /Defs.softq !memoTE //; cbv beta zeta.
apply: normalise_ext => b; case: f => [m|]; first by rewrite h.
by rewrite (is_max_ext _ h).
Qed.

Lemma BS f i : B f i.+1 = softq f (B f i).
Proof. by rewrite /Defs.B iterS. Qed.

(* After i rounds the policy no longer changes at the last i steps. *)
Lemma B_settled f i t s a : (T - i <= t)%N -> (t < T)%N -> B f i.+1 t s a = B f i t s a.
Proof.
elim: i t s a => [|i IH] t s a le lt.
  by move: le; rewrite subn0 leqNgt lt.
rewrite (BS f i.+1).
have -> : B f i.+1 t s a = softq f (B f i) t s a by rewrite BS.
apply: softq_ext => // b; apply: (z_ext_from (t0 := t.+1)) => // t' s' a' le' lt'.
apply: IH => //; apply: leq_trans le'.
by rewrite subnS in le; apply: leq_trans (leqSpred _) _.
Qed.

(* Claim 4: B_T is a fixed point of the f-soft-Q map at every t < T, s, a
   (B_T is f-coherent). *)
Theorem B_T_coherent f t s a : (t < T)%N -> softq f (B f T) t s a = B f T t s a.
Proof. by move=> lt; rewrite -BS B_settled // subnn. Qed.

(* Claim 4: B_{T+j} = B_T for every j. *)
Theorem B_T_stable f j t s a : (t < T)%N -> B f (T + j) t s a = B f T t s a.
Proof.
move=> lt; elim: j => [|j IH]; first by rewrite addn0.
by rewrite addnS B_settled // ?IH // subnDA subnn sub0n.
Qed.

End Coherent.
