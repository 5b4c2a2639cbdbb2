(* Claim 13, T = 1 bandits: the limit of G_k and its optimality, over an
   archimedean field (the rationals and the reals are instances).  For a valid
   M with horizon 1, z(s,a) = zb s a of Bandit.v, zmax(s) = max_b z(s,b) and a
   prior with full support at s (p(b|s) > 0 for every b):
   - G_bandit_limit: for every eps > 0 there is N with
     |G_k(a|s) - Glim(a|s)| < eps for every k >= N, where
       Glim(a|s) = p(a|s) / sum_{b : z(s,b) = zmax(s)} p(b|s) if z(s,a) = zmax(s),
       Glim(a|s) = 0 otherwise
     (the prior restricted to the maximisers of z(s,.), renormalised).  Where
     zmax(s) = 0 every z(s,b) is 0, so w = 0 and G_k(.|s) = p(.|s) = Glim(.|s)
     for every k.
   - G_bandit_limit_optimal: sum_a Glim(a|s) z(s,a) = zmax(s), and
     sum_a pi(a) z(s,a) <= zmax(s) for every distribution pi over the actions.
   - J_prob_bandit_limit_optimal (full support at every state): the policy
     Glim is a distribution, J_prob(Glim) = sum_s mu(s) zmax(s), and
     J_prob(pi) <= sum_s mu(s) zmax(s) for every policy pi that is a
     distribution; J_prob_G_bandit_limit: J_prob(G_k) tends to that maximum. *)
From mathcomp Require Import all_ssreflect all_algebra.
From Coherence Require Import Defs Values Operators Bandit.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory Num.Theory Order.Theory.
Local Open Scope ring_scope.

Section Archimedean.
Variable R : archiFieldType.

(* Bernoulli's inequality: 1 + k h <= (1 + h)^k for h >= 0. *)
Lemma bernoulli (h : R) k : 0 <= h -> 1 + k%:R * h <= (1 + h) ^+ k.
Proof.
move=> h0; elim: k => [|k IH]; first by rewrite mul0r addr0 expr0.
rewrite exprS; apply: le_trans (_ : (1 + h) * (1 + k%:R * h) <= _); last first.
  by apply: ler_wpmul2l; [exact: addr_ge0 ler01 h0 | exact: IH].
rewrite -addn1 natrD mulrDl mul1r mulrDl mul1r addrA mulrDr mulr1.
rewrite ler_add2l ler_addl.
by rewrite mulr_ge0 // mulr_ge0 // ler0n.
Qed.

(* r^k tends to 0 for 0 <= r < 1. *)
Lemma expr_lt_eps (r e : R) : 0 <= r -> r < 1 -> 0 < e ->
  exists N, forall k, (N <= k)%N -> r ^+ k < e.
Proof.
move=> r0 r1 e0; have [->|rnz] := eqVneq r 0.
  by exists 1%N => -[|k] // _; rewrite expr0n.
have rp : 0 < r by rewrite lt_def rnz.
have hp : 0 < r^-1 - 1 by rewrite subr_gt0 invf_gt1.
set h := r^-1 - 1 in hp *.
exists (Num.bound (e * h)^-1) => k le.
have kb : (e * h)^-1 < k%:R.
  apply: lt_le_trans (archi_boundP _) _; first by rewrite invr_ge0 mulr_ge0 ?ltW.
  by rewrite ler_nat.
have : e^-1 < (r ^+ k)^-1.
  apply: lt_le_trans (_ : k%:R * h <= _).
    by rewrite -ltr_pdivr_mulr // -invfM.
  have -> : (r ^+ k)^-1 = (1 + h) ^+ k by rewrite /h addrC subrK exprVn.
  by apply: le_trans _ (bernoulli k (ltW hp)); rewrite ler_addr ler01.
by rewrite ltf_pinv ?posrE ?exprn_gt0.
Qed.

(* Maxima over a finite type, with 0 as the value of the empty maximum. *)
Lemma bigmax0_ge (I : finType) (P : pred I) (F : I -> R) i :
  P i -> F i <= \big[Num.max/0]_(j | P j) F j.
Proof.
move=> Pi; have : i \in index_enum I by rewrite mem_index_enum.
elim: (index_enum I) => [//|j r IH]; rewrite inE big_cons => /orP[/eqP<-|/IH h].
  by rewrite Pi le_maxr lexx.
by case: ifP => // _; rewrite le_maxr h orbT.
Qed.

Lemma bigmax0_lt (I : finType) (P : pred I) (F : I -> R) m :
  0 < m -> (forall i, P i -> F i < m) -> \big[Num.max/0]_(j | P j) F j < m.
Proof.
by move=> m0 h; apply: (big_ind (fun x => x < m)) => // x y hx hy; rewrite lt_maxl hx.
Qed.

Lemma bigmax0_ge0 (I : finType) (P : pred I) (F : I -> R) :
  (forall i, P i -> 0 <= F i) -> 0 <= \big[Num.max/0]_(j | P j) F j.
Proof.
by move=> h; apply: (big_ind (fun x => 0 <= x)) => // x y hx hy; rewrite le_maxr hx.
Qed.

Lemma bigmax0_attained (I : finType) (P : pred I) (F : I -> R) :
  0 < \big[Num.max/0]_(j | P j) F j ->
  exists2 i, P i & \big[Num.max/0]_(j | P j) F j = F i.
Proof.
have : \big[Num.max/0]_(j | P j) F j = 0 \/ exists2 i, P i & \big[Num.max/0]_(j | P j) F j = F i.
  apply: (big_ind (fun x => x = 0 \/ exists2 i, P i & x = F i)); first by left.
    by move=> x y hx hy; rewrite maxEle; case: ifP.
  by move=> i Pi; right; exists i.
by case=> [->|//]; rewrite ltxx.
Qed.

Lemma sum_ge_term (I : finType) (P : pred I) (F : I -> R) i :
  P i -> (forall j, P j -> 0 <= F j) -> F i <= \sum_(j | P j) F j.
Proof.
move=> Pi h; rewrite (bigD1 i) //= ler_addl sumr_ge0 // => j /andP [Pj _].
exact: h.
Qed.

Lemma dist_top (x P e : R) : 0 <= x -> x <= P -> 0 < P -> 0 <= e ->
  `|x / (P + e) - x / P| <= e / P.
Proof.
move=> x0 xP P0 e0; have PE : 0 < P + e by rewrite ltr_paddr.
have le : (P + e)^-1 <= P^-1 by rewrite lef_pinv ?posrE // ler_addl.
rewrite distrC ger0_norm; last by rewrite subr_ge0 ler_wpmul2l.
have -> : x / P - x / (P + e) = x / P * (e / (P + e)).
  have -> : e / (P + e) = 1 - P / (P + e).
    by rewrite -[in RHS](divff (lt0r_neq0 PE)) -mulrBl addrAC subrr add0r.
  by rewrite mulrBr mulr1 mulrA divfK // gt_eqF.
rewrite -[X in _ <= X]mul1r; apply: ler_pmul.
- exact: divr_ge0 (ltW P0).
- exact: divr_ge0 (ltW PE).
- by rewrite ler_pdivr_mulr // mul1r.
- exact: ler_wpmul2l.
Qed.

Lemma dist_bottom (x P e : R) : 0 <= x -> x <= e -> 0 < P -> 0 <= e ->
  `|x / (P + e)| <= e / P.
Proof.
move=> x0 xe P0 e0; have PE : 0 < P + e by rewrite ltr_paddr.
rewrite ger0_norm; last exact: divr_ge0 (ltW PE).
apply: le_trans (_ : x / P <= _); last by rewrite ler_wpmul2r // invr_ge0 ltW.
by rewrite ler_wpmul2l // lef_pinv ?posrE // ler_addl.
Qed.

(* Finitely many eventually-true properties are eventually true together. *)
Lemma eventually_all (I : finType) (P : I -> nat -> Prop) :
  (forall i, exists N, forall k, (N <= k)%N -> P i k) ->
  exists N, forall k, (N <= k)%N -> forall i, P i k.
Proof.
move=> h.
suff [N hN] : exists N, forall k, (N <= k)%N -> forall i, i \in index_enum I -> P i k.
  by exists N => k le i; apply: hN; rewrite ?mem_index_enum.
elim: (index_enum I) => [|j r [N hN]]; first by exists 0%N.
have [Nj hj] := h j; exists (maxn Nj N) => k; rewrite geq_max => /andP [l1 l2] i.
by rewrite inE => /orP [/eqP -> | ir]; [exact: hj | exact: hN].
Qed.

End Archimedean.

Section Limit.
Variables (R : archiFieldType) (S A : finType) (M : mdp R S A).
Hypothesis hv : valid M.
Hypothesis hT1 : horizon M = 1%N.
Local Notation o := (rops R).
Local Notation es := (index_enum S).
Local Notation ea := (index_enum A).
Local Notation p := (prior M).
Local Notation z := (zb M).
Local Notation Gk := (G o es ea M).

(* The largest success probability at s, 0 where A is empty. *)
Definition zmax (s : S) : R := \big[Num.max/0]_b z s b.

(* The prior restricted to the maximisers of z(s, .) and renormalised. *)
Definition Glim (s : S) (a : A) : R :=
  if z s a == zmax s then p s a / \sum_(b | z s b == zmax s) p s b else 0.

Lemma zmax_ge s b : z s b <= zmax s.
Proof. exact: bigmax0_ge. Qed.

Lemma zmax_ge0 s : 0 <= zmax s.
Proof. by apply: bigmax0_ge0 => b _; exact: zb_ge0. Qed.

Lemma zmax0 s b : zmax s = 0 -> z s b = 0.
Proof. by move=> e; apply/eqP; rewrite eq_le (zb_ge0 hv) andbT -e zmax_ge. Qed.

Lemma zb_le1 s a : z s a <= 1.
Proof.
rewrite /zb -[1]mul1r; apply: ler_pmul; rewrite ?(rho_ge0 hv) ?(rho_le1 hv) //.
  by apply: sumr_ge0 => s' _; rewrite mulr_ge0 ?(trans_ge0 hv) ?(rhoT_ge0 hv).
rewrite -(trans_sum1 hv s a); apply: ler_sum => s' _.
by rewrite ler_pimulr ?(trans_ge0 hv) ?(rhoT_le1 hv).
Qed.

Section State.
Variable s : S.
Hypothesis hp : forall b, 0 < p s b.
Local Notation m := (zmax s).
Local Notation Ps := (\sum_(b | z s b == zmax s) p s b).
Local Notation E k := (\sum_(b | z s b != m) p s b * (z s b / m) ^+ k).
Local Notation r := (\big[Num.max/0]_(b | z s b != m) z s b / m).

Lemma top_mass_gt0 : 0 < m -> 0 < Ps.
Proof.
move=> m0; have [b _ eb] := bigmax0_attained m0.
apply: lt_le_trans (hp b) _; apply: sum_ge_term; first by rewrite -eb.
by move=> j _; exact: ltW.
Qed.

Lemma top_mass_zmax0 : m = 0 -> Ps = 1.
Proof.
move=> m0; rewrite -(prior_sum1 hv s); apply: eq_bigl => b.
by rewrite m0 zmax0 // eqxx.
Qed.

Lemma Glim_zmax0 a : m = 0 -> Glim s a = p s a.
Proof. by move=> m0; rewrite /Glim top_mass_zmax0 // zmax0 // m0 eqxx divr1. Qed.

(* Where zmax(s) = 0, G_k(.|s) = p(.|s) = Glim(.|s) for every k. *)
Lemma G_bandit_zmax0 k a : m = 0 -> Gk k 0%N s a = p s a /\ Glim s a = p s a.
Proof.
move=> m0; have lt : (0 < horizon M)%N by rewrite hT1.
split; last exact: Glim_zmax0.
apply: (G_null hv a lt); rewrite (w_lt _ _ _ _ lt); apply: big1 => b _.
by rewrite z_bandit // zmax0 // mulr0.
Qed.

Section Positive.
Hypothesis m0 : 0 < m.

Lemma bandit_sum_split k : \sum_b p s b * z s b ^+ k = m ^+ k * (Ps + E k).
Proof.
have nz : m ^+ k != 0 by rewrite expf_neq0 // gt_eqF.
rewrite (bigID (fun b => z s b == m)) /= mulrDr; congr (_ + _).
  by rewrite mulr_sumr; apply: eq_bigr => b /eqP ->; rewrite mulrC.
rewrite mulr_sumr; apply: eq_bigr => b _.
by rewrite expr_div_n mulrCA [m ^+ k * _]mulrC divfK.
Qed.

Lemma bandit_tail_ge0 k : 0 <= E k.
Proof.
apply: sumr_ge0 => b _; apply: mulr_ge0; first exact: ltW.
by apply: exprn_ge0; apply: divr_ge0 (zb_ge0 hv s b) (ltW m0).
Qed.

Lemma bandit_ratio_ge0 : 0 <= r.
Proof.
apply: divr_ge0 (ltW m0); apply: bigmax0_ge0 => b _; exact: zb_ge0.
Qed.

Lemma bandit_ratio_lt1 : r < 1.
Proof.
rewrite ltr_pdivr_mulr // mul1r; apply: bigmax0_lt => // b nb.
by rewrite lt_neqAle nb zmax_ge.
Qed.

Lemma bandit_tail_le k : E k <= r ^+ k.
Proof.
apply: le_trans (_ : \sum_b (if z s b != m then p s b * r ^+ k else 0) <= _).
  rewrite big_mkcond /=; apply: ler_sum => b _; case: ifP => nb //.
  apply: ler_wpmul2l; first exact: ltW.
  apply: ler_expn2r; rewrite ?nnegrE ?bandit_ratio_ge0 //.
    by apply: divr_ge0 (zb_ge0 hv s b) (ltW m0).
  by apply: ler_wpmul2r; [rewrite invr_ge0 ltW | exact: bigmax0_ge].
rewrite [X in _ <= X](_ : _ = \sum_b p s b * r ^+ k); last first.
  by rewrite -mulr_suml (prior_sum1 hv) mul1r.
apply: ler_sum => b _; case: ifP => _; first exact: lexx.
by apply: mulr_ge0; [exact: ltW | apply: exprn_ge0; exact: bandit_ratio_ge0].
Qed.

Lemma G_bandit_scaled k a :
  Gk k 0%N s a = p s a * (z s a / m) ^+ k / (Ps + E k).
Proof.
have PE j : 0 < Ps + E j by rewrite ltr_paddr ?bandit_tail_ge0 ?top_mass_gt0.
have nz : \sum_b p s b * z s b != 0.
  rewrite (eq_bigr (fun b => p s b * z s b ^+ 1)) => [|b _]; last by rewrite expr1.
  by rewrite bandit_sum_split mulf_neq0 ?expf_neq0 // gt_eqF.
rewrite (G_bandit_closed_form hv hT1 k a nz) bandit_sum_split.
by rewrite expr_div_n invfM !mulrA.
Qed.

End Positive.

(* Claim 13, T = 1, the limit: G_k(a|s) -> Glim(a|s) as k -> infinity. *)
Theorem G_bandit_limit a eps : 0 < eps ->
  exists N, forall k, (N <= k)%N -> `|Gk k 0%N s a - Glim s a| < eps.
Proof.
move=> e0; have := zmax_ge0 s; rewrite le_eqVlt => /orP [/eqP m0 | m0].
  exists 0%N => k _; have [-> ->] := G_bandit_zmax0 k a (esym m0).
  by rewrite subrr normr0.
have P0 := top_mass_gt0 m0.
have [N hN] := expr_lt_eps (bandit_ratio_ge0 m0) (bandit_ratio_lt1 m0) (mulr_gt0 e0 P0).
exists N => k le; rewrite (G_bandit_scaled m0).
have hE : E k / Ps < eps.
  by rewrite ltr_pdivr_mulr //; exact: le_lt_trans (bandit_tail_le m0 k) (hN k le).
have q0 b : 0 <= p s b * (z s b / m) ^+ k.
  apply: mulr_ge0; first exact: ltW.
  by apply: exprn_ge0; exact: divr_ge0 (zb_ge0 hv s b) (ltW m0).
apply: le_lt_trans hE; rewrite /Glim; case: ifP => [/eqP ha|/negbT ha].
  rewrite ha divff ?gt_eqF // expr1n mulr1.
  apply: dist_top => //; [exact: ltW | | exact: bandit_tail_ge0].
  by apply: sum_ge_term; [rewrite ha | move=> j _; exact: ltW].
rewrite subr0; apply: dist_bottom => //; last exact: bandit_tail_ge0.
by apply: sum_ge_term => // j _; exact: q0.
Qed.

Lemma Glim_dist : (forall a, 0 <= Glim s a) /\ \sum_a Glim s a = 1.
Proof.
have := zmax_ge0 s; rewrite le_eqVlt => /orP [/eqP m0 | m0].
  split=> [a|]; first by rewrite Glim_zmax0 //; exact: ltW.
  by rewrite -(prior_sum1 hv s); apply: eq_bigr => a _; rewrite Glim_zmax0.
have P0 := top_mass_gt0 m0.
split=> [a|]; first by rewrite /Glim; case: ifP => _ //; rewrite divr_ge0 ?ltW.
rewrite (bigID (fun a => z s a == m)) /= [X in _ + X]big1 => [|a /= na]; last first.
  by rewrite /Glim (negPf na).
rewrite addr0 -[RHS](divff (lt0r_neq0 P0)) mulr_suml; apply: eq_bigr => a ha.
by rewrite /Glim ha.
Qed.

(* Claim 13, T = 1, optimality: the limit attains zmax(s), the largest
   success probability of any distribution over the actions at s. *)
Theorem G_bandit_limit_optimal :
  \sum_a Glim s a * z s a = zmax s /\
  forall pi : A -> R, (forall a, 0 <= pi a) -> \sum_a pi a = 1 ->
    \sum_a pi a * z s a <= zmax s.
Proof.
split=> [|pi pi0 pi1]; last first.
  rewrite -[X in _ <= X]mul1r -pi1 mulr_suml; apply: ler_sum => a _.
  by rewrite ler_wpmul2l // zmax_ge.
have := zmax_ge0 s; rewrite le_eqVlt => /orP [/eqP m0 | m0].
  by rewrite -m0; apply: big1 => a _; rewrite zmax0 // mulr0.
have P0 := top_mass_gt0 m0.
rewrite (bigID (fun a => z s a == m)) /= [X in _ + X]big1 => [|a /= na]; last first.
  by rewrite /Glim (negPf na) mul0r.
rewrite addr0 -[RHS]mul1r -[1 in RHS](divff (lt0r_neq0 P0)) mulrAC !mulr_suml.
by apply: eq_bigr => a ha; rewrite /Glim ha (eqP ha) mulrAC.
Qed.

End State.

Local Notation Jp := (J_prob o es ea M).

(* J_prob at T = 1, with a full-support prior: the limit policy Glim is a
   distribution and attains J_prob = sum_s mu(s) zmax(s), and every policy
   that is a distribution has J_prob at most that. *)
Theorem J_prob_bandit_limit_optimal (pi : policy R S A) :
  (forall s b, 0 < p s b) -> is_dist M pi ->
  [/\ is_dist M (fun _ => Glim), Jp (fun _ => Glim) = \sum_s mu M s * zmax s
    & Jp pi <= \sum_s mu M s * zmax s].
Proof.
move=> hp hpi; have lt : (0 < horizon M)%N by rewrite hT1.
have wz (q : policy R S A) s : wv o es ea M q 0%N s = \sum_a q 0%N s a * z s a.
  by rewrite /wv (w_lt _ _ _ _ lt); apply: eq_bigr => a _; rewrite z_bandit.
rewrite /J_prob !osumE; split; first by move=> t s _; exact: Glim_dist (hp s).
  apply: eq_bigr => s _; rewrite /= wz; congr (_ * _).
  by case: (G_bandit_limit_optimal (hp s)).
apply: ler_sum => s _; rewrite /= wz ler_wpmul2l ?(mu_ge0 hv) //.
case: (hpi 0%N s lt) => h0 h1; case: (G_bandit_limit_optimal (hp s)) => _.
by apply.
Qed.

(* Claim 13, T = 1, the limit in J_prob: with a full-support prior,
   J_prob(G_k) tends to sum_s mu(s) zmax(s), the largest J_prob. *)
Theorem J_prob_G_bandit_limit eps : (forall s b, 0 < p s b) -> 0 < eps ->
  exists N, forall k, (N <= k)%N -> `|Jp (Gk k) - \sum_s mu M s * zmax s| < eps.
Proof.
move=> hp e0; have lt : (0 < horizon M)%N by rewrite hT1.
have wz (q : policy R S A) s : wv o es ea M q 0%N s = \sum_a q 0%N s a * z s a.
  by rewrite /wv (w_lt _ _ _ _ lt); apply: eq_bigr => a _; rewrite z_bandit.
have n0 : 0 < #|A|%:R + 1 :> R by rewrite ltr_paddl ?ler0n ?ltr01.
have d0 : 0 < eps / (#|A|%:R + 1) by rewrite divr_gt0.
have [N hN] := @eventually_all _ (fun (sa : S * A) k =>
  `|Gk k 0%N sa.1 sa.2 - Glim sa.1 sa.2| < eps / (#|A|%:R + 1))
  (fun sa => @G_bandit_limit sa.1 (hp sa.1) sa.2 _ d0).
exists N => k le.
have -> : \sum_s mu M s * zmax s = \sum_s mu M s * \sum_a Glim s a * z s a.
  by apply: eq_bigr => s _; case: (G_bandit_limit_optimal (hp s)) => ->.
rewrite /J_prob osumE /=; under eq_bigr => s _ do rewrite wz.
rewrite -sumrB; apply: le_lt_trans (ler_norm_sum _ _ _) _.
apply: le_lt_trans (_ : _ <= \sum_s mu M s * \sum_(a : A) eps / (#|A|%:R + 1)) _.
  apply: ler_sum => s _; rewrite -mulrBr normrM ger0_norm ?(mu_ge0 hv) //.
  rewrite ler_wpmul2l ?(mu_ge0 hv) // -sumrB.
  apply: le_trans (ler_norm_sum _ _ _) _; apply: ler_sum => a _.
  rewrite -mulrBl normrM (ger0_norm (zb_ge0 hv s a)) -[X in _ <= X]mulr1.
  apply: ler_pmul; rewrite ?normr_ge0 ?(zb_ge0 hv) ?zb_le1 //.
  exact: ltW (hN k le (s, a)).
rewrite -mulr_suml (mu_sum1 hv) mul1r sumr_const -mulr_natr mulrAC.
by rewrite ltr_pdivr_mulr // ltr_pmul2l // ltr_addl ltr01.
Qed.

End Limit.
