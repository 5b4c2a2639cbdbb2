(* Claim 13, T = 1 bandits: the closed form
   G_k(a|s) = p(a|s) z(s,a)^k / sum_b p(b|s) z(s,b)^k
   wherever sum_b p(b|s) z(s,b) != 0, over an arbitrary real field. *)
From mathcomp Require Import all_ssreflect all_algebra.
From Coherence Require Import Defs Values Operators.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory Num.Theory Order.Theory.
Local Open Scope ring_scope.

Section Bandit.
Variables (R : realFieldType) (S A : finType) (M : mdp R S A).
Hypothesis hv : valid M.
Hypothesis hT1 : horizon M = 1%N.
Local Notation o := (rops R).
Local Notation es := (index_enum S).
Local Notation ea := (index_enum A).
Local Notation w := (w o es ea M).
Local Notation z := (z o es ea M).
Local Notation rb := (rho M).
Local Notation rT := (rhoT M).
Local Notation Gk := (G o es ea M).

(* At T = 1 the success probability of (s, a) does not depend on the policy. *)
Definition zb (s : S) (a : A) : R := rb 0%N s a * \sum_s' trans M s a s' * rT s'.

Lemma z_bandit pi s a : z pi rb rT 0%N s a = zb s a.
Proof.
rewrite zE /zb; congr (_ * _); apply: eq_bigr => s' _.
by rewrite -hT1 wT.
Qed.

Lemma zb_ge0 s a : 0 <= zb s a.
Proof.
rewrite /zb mulr_ge0 ?(rho_ge0 hv) // sumr_ge0 // => s' _.
by rewrite mulr_ge0 ?(trans_ge0 hv) ?(rhoT_ge0 hv).
Qed.

Lemma shuffle (p x y u v : R) : u != 0 -> p * x / u * y / (v / u) = p * (y * x) / v.
Proof.
move=> nz; rewrite invf_div !mulrA; congr (_ * _).
by rewrite mulrAC divfK // mulrAC.
Qed.

(* Claim 13, T = 1: G_k(a|s) = p(a|s) z(s,a)^k / sum_b p(b|s) z(s,b)^k for
   every k >= 0 wherever the prior's success probability at s is non-zero. *)
Theorem G_bandit_closed_form k s a :
  \sum_b prior M s b * zb s b != 0 ->
  Gk k 0%N s a = prior M s a * zb s a ^+ k / \sum_b prior M s b * zb s b ^+ k.
Proof.
move=> nz.
have pos j : 0 < \sum_b prior M s b * zb s b ^+ j.
  have ge b : 0 <= prior M s b * zb s b ^+ j.
    by rewrite mulr_ge0 ?(prior_ge0 hv) ?exprn_ge0 ?zb_ge0.
  rewrite lt_def sumr_ge0 ?andbT; last by move=> b _; exact: ge.
  apply: contra nz => /eqP e.
  have h := psumr_eq0P (fun b _ => ge b) e.
  apply/eqP; apply: big1 => b _.
  move: (h b isT) => /eqP; rewrite mulf_eq0 expf_eq0.
  by case/orP => [/eqP ->|/andP [_ /eqP ->]]; rewrite ?mul0r ?mulr0.
have lt0 : (0 < horizon M)%N by rewrite hT1.
elim: k a => [|k IH] a.
  by rewrite expr0 mulr1 (eq_bigr _ (fun b _ => mulr1 _)) (prior_sum1 hv) divr1.
have hw : w (Gk k) rb rT 0%N s =
    (\sum_b prior M s b * zb s b ^+ k.+1) / \sum_b prior M s b * zb s b ^+ k.
  rewrite (w_lt _ _ _ s lt0) mulr_suml; apply: eq_bigr => b _.
  rewrite IH z_bandit mulrAC exprS; congr (_ * _).
  by rewrite -mulrA (mulrC (zb s b ^+ k)).
rewrite GS condE // hw z_bandit IH mulf_eq0 invr_eq0 !(gt_eqF (pos _)) orbF.
by rewrite exprS shuffle // gt_eqF.
Qed.

End Bandit.
