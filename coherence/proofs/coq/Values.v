(* Soft values over an arbitrary real field: the recurrences of Defs.v read as
   equations, and the improvement theorems of SPEC section 7 (claims 10, 13). *)
From mathcomp Require Import all_ssreflect all_algebra.
From Coherence Require Import Defs.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory Num.Theory Order.Theory.
Local Open Scope ring_scope.

(* The operations of a real field. *)
Definition rops (R : realFieldType) : ops R :=
  Ops 0 1 +%R *%R (fun x y => x / y) (fun x => x == 0) (fun x y => x <= y).

Section Field.
Variables (R : realFieldType) (S A : finType).
Local Notation es := (index_enum S).
Local Notation ea := (index_enum A).
Local Notation o := (rops R).

Lemma osumE (I : Type) (r : seq I) (f : I -> R) : osum o r f = \sum_(i <- r) f i.
Proof. by elim: r => [|i r IH]; rewrite ?big_nil ?big_cons //= IH. Qed.

Lemma memoE (f : S -> R) s : memo o es f s = f s.
Proof.
by rewrite /memo (nth_map s) ?index_mem ?mem_index_enum // nth_index ?mem_index_enum.
Qed.

Lemma memo2E (f : S -> A -> R) s a : memo2 o es ea f s a = f s a.
Proof.
rewrite /memo2 (nth_map s) ?index_mem ?mem_index_enum // nth_index ?mem_index_enum //.
by rewrite (nth_map a) ?index_mem ?mem_index_enum // nth_index ?mem_index_enum.
Qed.

Lemma memoTE n (f : policy R S A) t s a : (t < n)%N -> memoT o es ea n f t s a = f t s a.
Proof. by move=> lt; rewrite /memoT (nth_map 0%N) ?size_iota // nth_iota // memo2E. Qed.

Variable M : mdp R S A.
Local Notation T := (horizon M).
Local Notation P := (trans M).
Local Notation w := (w o es ea M).
Local Notation z := (z o es ea M).
Local Notation cond := (cond o es ea M).

Lemma back_ind (Pr : nat -> Prop) : Pr T ->
  (forall t, (t < T)%N -> Pr t.+1 -> Pr t) -> forall t, (t <= T)%N -> Pr t.
Proof.
move=> hT hS t le; rewrite -(subKn le).
elim: (T - t)%N (leq_subr t T) => [|n IH] hn; first by rewrite subn0.
have lt : (T - n.+1 < T)%N by rewrite ltn_subrL /= (leq_trans _ hn).
by apply: hS => //; rewrite subnSK //; apply: IH; exact: ltnW.
Qed.

Lemma wT pi rw rT s : w pi rw rT T s = rT s.
Proof. by rewrite /Defs.w subnn /= memoE. Qed.

Lemma w_lt pi rw rT t s : (t < T)%N ->
  w pi rw rT t s = \sum_a pi t s a * z pi rw rT t s a.
Proof.
move=> lt; rewrite /Defs.w -(subnSK lt) /= memoE osumE (subnSK lt) (subKn (ltnW lt)).
by [].
Qed.

Lemma zE pi rw rT t s a :
  z pi rw rT t s a = rw t s a * \sum_s' P s a s' * w pi rw rT t.+1 s'.
Proof. by rewrite /Defs.z /zstep /= osumE. Qed.

Lemma condE base rw rT t s a : (t < T)%N ->
  cond base rw rT t s a =
  if w base rw rT t s == 0 then base t s a
  else base t s a * z base rw rT t s a / w base rw rT t s.
Proof. by move=> lt; rewrite /Defs.cond memoTE. Qed.

(* Hypotheses on the data. *)
Definition is_dist (pi : policy R S A) : Prop :=
  forall t s, (t < T)%N -> (forall a, 0 <= pi t s a) /\ \sum_a pi t s a = 1.

Definition nonneg_weights (rw : reward R S A) (rT : S -> R) : Prop :=
  (forall s a s', 0 <= P s a s') /\ (forall t s a, 0 <= rw t s a) /\ (forall s, 0 <= rT s).

(* A finite-horizon MDP as SPEC section 2 requires: transition rows
   non-negative and summing to 1, success probabilities in [0, 1], the initial
   distribution and the prior non-negative and summing to 1. *)
Record valid : Prop := Valid {
  trans_ge0 : forall s a s', 0 <= P s a s';
  trans_sum1 : forall s a, \sum_s' P s a s' = 1;
  rho_ge0 : forall t s a, 0 <= rho M t s a;
  rho_le1 : forall t s a, rho M t s a <= 1;
  rhoT_ge0 : forall s, 0 <= rhoT M s;
  rhoT_le1 : forall s, rhoT M s <= 1;
  mu_ge0 : forall s, 0 <= mu M s;
  mu_sum1 : \sum_s mu M s = 1;
  prior_ge0 : forall s a, 0 <= prior M s a;
  prior_sum1 : forall s, \sum_a prior M s a = 1
}.

Lemma valid_nonneg : valid -> nonneg_weights (rho M) (rhoT M).
Proof. by case=> hP _ hr _ hT _ _ _ _ _; split; [|split]. Qed.

Lemma prior_dist : valid -> is_dist (prior_policy M).
Proof. case=> _ _ _ _ _ _ _ _ hp h1 t s _; split=> [a|]; [exact: hp | exact: h1]. Qed.

Section Nonneg.
Variables (pi : policy R S A) (rw : reward R S A) (rT : S -> R).
Hypothesis hw : nonneg_weights rw rT.
Hypothesis hpi : forall t s a, (t < T)%N -> 0 <= pi t s a.

Lemma w_ge0 t s : (t <= T)%N -> 0 <= w pi rw rT t s.
Proof.
case: hw => hP [hr hT] le; move: t le s; apply: back_ind.
  by move=> s; rewrite wT.
move=> t lt IH s; rewrite w_lt //; apply: sumr_ge0 => a _; apply: mulr_ge0; first exact: hpi.
by rewrite zE mulr_ge0 // sumr_ge0 // => s' _; rewrite mulr_ge0.
Qed.

Lemma z_ge0 t s a : (t < T)%N -> 0 <= z pi rw rT t s a.
Proof.
case: hw => hP [hr hT] lt; rewrite zE mulr_ge0 // sumr_ge0 // => s' _.
by rewrite mulr_ge0 // w_ge0.
Qed.

Lemma cond_ge0 t s a : (t < T)%N -> 0 <= cond pi rw rT t s a.
Proof.
move=> lt; rewrite condE //; case: ifP => _; first exact: hpi.
apply: divr_ge0; [apply: mulr_ge0; [exact: hpi | exact: z_ge0] | apply: w_ge0; exact: ltnW].
Qed.
End Nonneg.

Lemma cond_dist pi rw rT : nonneg_weights rw rT -> is_dist pi -> is_dist (cond pi rw rT).
Proof.
move=> hw hpi t s lt; have hpi0 : forall t s a, (t < T)%N -> 0 <= pi t s a.
  by move=> t' s' a lt'; case: (hpi t' s' lt') => /(_ a).
split=> [a|]; first exact: cond_ge0.
have [e|nz] := eqVneq (w pi rw rT t s) 0.
  under eq_bigr => a _ do rewrite condE // e eqxx.
  by case: (hpi t s lt).
under eq_bigr => a _ do rewrite condE // (negPf nz).
by rewrite -mulr_suml -w_lt // divff.
Qed.

(* (sum_a pi z)^2 <= sum_a pi z^2 when pi is a distribution. *)
Lemma sq_mean_le (pi zz : A -> R) : (forall a, 0 <= pi a) -> \sum_a pi a = 1 ->
  (\sum_a pi a * zz a) ^+ 2 <= \sum_a pi a * zz a ^+ 2.
Proof.
move=> h0 h1; set m := \sum_a pi a * zz a.
have term a : pi a * (zz a - m) ^+ 2 = pi a * zz a ^+ 2 - (pi a * zz a * m) *+ 2 + m ^+ 2 * pi a.
  by rewrite sqrrB mulrDr mulrBr mulrnAr (mulrC (pi a) (m ^+ 2)) !mulrA.
have : 0 <= \sum_a pi a * (zz a - m) ^+ 2.
  by apply: sumr_ge0 => a _; rewrite mulr_ge0 ?sqr_ge0.
rewrite (eq_bigr _ (fun a _ => term a)) big_split /= sumrB sumrMnl -mulr_suml -mulr_sumr.
by rewrite h1 mulr1 -/m -expr2 mulr2n opprD addrA subrK subr_ge0.
Qed.


Local Notation wv pi := (w pi (rho M) (rhoT M)).
Local Notation zv pi := (z pi (rho M) (rhoT M)).
Local Notation Gop pi := (cond pi (rho M) (rhoT M)).

(* Claim 10: goal conditioning does not decrease the success probability
   w_t(s) at any (t, s), for any dynamics and any policy. *)
Theorem G_improves_w (pi : policy R S A) :
  nonneg_weights (rho M) (rhoT M) -> is_dist pi ->
  forall t s, (t <= T)%N -> wv pi t s <= wv (Gop pi) t s.
Proof.
move=> hw hpi t s le; move: t le s; apply: back_ind => [s|t lt IH s]; first by rewrite !wT.
have hpi0 : forall t s a, (t < T)%N -> 0 <= pi t s a.
  by move=> t' s' a lt'; case: (hpi t' s' lt') => /(_ a).
have hG0 : forall a, 0 <= Gop pi t s a by move=> a; exact: cond_ge0.
case: (hw) => hP [hr hT].
have zle a : zv pi t s a <= zv (Gop pi) t s a.
  by rewrite !zE ler_wpmul2l // ler_sum // => s' _; rewrite ler_wpmul2l.
rewrite [X in _ <= X]w_lt //.
apply: le_trans (_ : \sum_a Gop pi t s a * zv pi t s a <= _); last first.
  by apply: ler_sum => a _; rewrite ler_wpmul2l.
have [e|nz] := eqVneq (wv pi t s) 0.
  under eq_bigr => a _ do rewrite condE // e eqxx.
  by rewrite -w_lt // lexx.
under eq_bigr => a _ do rewrite condE // (negPf nz).
have wpos : 0 < wv pi t s.
  by rewrite lt_def nz /=; apply: (w_ge0 hw hpi0); exact: ltnW.
rewrite (eq_bigr (fun a => pi t s a * zv pi t s a ^+ 2 / wv pi t s)); last first.
  by move=> a _; rewrite mulrAC expr2 !mulrA.
rewrite -mulr_suml ler_pdivl_mulr // -expr2 [X in X ^+ 2 <= _]w_lt //.
apply: sq_mean_le; first by move=> a; exact: hpi0.
by case: (hpi t s lt).
Qed.

(* Claim 10, hence J_prob: J_prob(G(pi)) >= J_prob(pi). *)
Theorem G_improves_J_prob (pi : policy R S A) :
  valid -> is_dist pi -> J_prob o es ea M pi <= J_prob o es ea M (Gop pi).
Proof.
move=> hv hpi; rewrite /J_prob !osumE; apply: ler_sum => s _.
rewrite ler_wpmul2l ?(mu_ge0 hv) //; apply: G_improves_w => //; exact: valid_nonneg.
Qed.

Lemma G_dist k : valid -> is_dist (G o es ea M k).
Proof.
move=> hv; elim: k => [|k IH]; first exact: prior_dist.
rewrite /G iterS; apply: cond_dist => //; exact: valid_nonneg.
Qed.

Lemma w_le1 (pi : policy R S A) : valid -> is_dist pi ->
  forall t s, (t <= T)%N -> wv pi t s <= 1.
Proof.
move=> hv hpi t s le; move: t le s; apply: back_ind => [s|t lt IH s].
  by rewrite wT (rhoT_le1 hv).
have zle1 a : zv pi t s a <= 1.
  rewrite zE; apply: le_trans (rho_le1 hv t s a); apply: ler_pimulr; first exact: rho_ge0.
  rewrite -(trans_sum1 hv s a); apply: ler_sum => s' _.
  by apply: ler_pimulr; [exact: trans_ge0 | exact: IH].
case: (hpi t s lt) => h0 h1; rewrite w_lt // -h1; apply: ler_sum => a _.
exact: ler_pimulr.
Qed.

(* Claim 13 (values): w_t^{G_k}(s) is non-decreasing in k and at most 1. *)
Theorem G_values_monotone_bounded k t s : valid -> (t <= T)%N ->
  wv (G o es ea M k) t s <= wv (G o es ea M k.+1) t s /\ wv (G o es ea M k.+1) t s <= 1.
Proof.
move=> hv le; split; last by apply: w_le1 => //; exact: G_dist.
rewrite [G _ _ _ _ k.+1]/G iterS -/(G o es ea M k).
by apply: G_improves_w => //; [exact: valid_nonneg | exact: G_dist].
Qed.

End Field.
