(* Claim 2 (deterministic dynamics, given the start state): the trajectory
   law of G_1 = cond(p, r) is the posterior over trajectories given the start
   state and success, over an arbitrary real field.  With s' = tau(s, a), a
   trajectory from (t, s_t) is its action sequence a_t .. a_{T-1}; its states
   are s_{u+1} = tau(s_u, a_u).  [law pi t s xs] is its probability
   prod_u pi_u(a_u | s_u) under a policy pi, and [post t s xs] is the prior's
   joint weight prod_u p(a_u | s_u) rho_u(s_u, a_u) * rho_T(s_T) of the
   trajectory and of success O_t = .. = O_T = 1.
   - [posterior_normaliser]: w^p_t(s) is the sum of [post t s xs] over every
     action sequence xs of length T - t, so w^p_t(s) = P_p(O = 1 | s_t = s)
     and, by Bayes, post t s xs / w^p_t(s) is the posterior p(xi | s_t, O = 1).
   - [G1_joint_deterministic]: law G_1 t s xs * w^p_t(s) = post t s xs for
     every action sequence of length T - t, with no condition on w^p_t(s).
   - [G1_posterior_deterministic]: where w^p_t(s) != 0,
     law G_1 t s xs = post t s xs / w^p_t(s). *)
From mathcomp Require Import all_ssreflect all_algebra.
From Coherence Require Import Defs Values Deterministic.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory Num.Theory Order.Theory.
Local Open Scope ring_scope.

Section Posterior.
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
Local Notation wp := (w p rb rT).
Local Notation G1 := (G o es ea M 1).

(* Every action sequence of length n, each once. *)
Fixpoint seqs (n : nat) : seq (seq A) :=
  if n is n'.+1 then [seq a :: xs | a <- ea, xs <- seqs n'] else [:: [::]].

Lemma size_seqs n xs : xs \in seqs n -> size xs = n.
Proof.
elim: n xs => [|n IH] xs /=; first by rewrite inE => /eqP ->.
by case/allpairsPdep=> a [ys [_ hys ->]] /=; rewrite (IH ys hys).
Qed.

Lemma seqs_complete xs : xs \in seqs (size xs).
Proof.
elim: xs => [|a xs IH] /=; first by rewrite inE.
by apply/allpairsPdep; exists a, xs; rewrite mem_index_enum.
Qed.

Lemma seqs_uniq n : uniq (seqs n).
Proof.
elim: n => [//|n IH] /=; apply: allpairs_uniq_dep => //; first exact: index_enum_uniq.
by move=> [a xs] [b ys] _ _ /= [-> ->].
Qed.

Variable tau : S -> A -> S.
Hypothesis hdet : forall s a s', P s a s' = (s' == tau s a)%:R.
Hypothesis hv : valid M.

(* The states s_t, s_{t+1}, .., visited from s by the actions xs. *)
Fixpoint path (s : S) (xs : seq A) : seq S :=
  if xs is a :: xs' then s :: path (tau s a) xs' else [:: s].

(* prod_u pi_u(a_u | s_u) along the path of xs from (t, s). *)
Fixpoint law (pi : policy R S A) (t : nat) (s : S) (xs : seq A) : R :=
  if xs is a :: xs' then pi t s a * law pi t.+1 (tau s a) xs' else 1.

(* prod_u p(a_u | s_u) rho_u(s_u, a_u) * rho_T(s_T) along the path of xs. *)
Fixpoint post (t : nat) (s : S) (xs : seq A) : R :=
  if xs is a :: xs' then prior M s a * rb t s a * post t.+1 (tau s a) xs' else rT s.

Lemma size_path s xs : size (path s xs) = (size xs).+1.
Proof. by elim: xs s => [//|a xs IH] s /=; rewrite IH. Qed.

Lemma nth_path x y s xs i : (i < size xs)%N -> nth x (path s xs) i = nth y (path s xs) i.
Proof. by move=> lt; rewrite (set_nth_default y) // size_path ltnS ltnW. Qed.

(* The two weights as products over the positions u = t + i of the path. *)
Lemma law_prod a0 pi t s xs :
  law pi t s xs = \prod_(i < size xs) pi (t + i)%N (nth s (path s xs) i) (nth a0 xs i).
Proof.
elim: xs t s => [|a xs IH] t s /=; first by rewrite big_ord0.
rewrite big_ord_recl /= addn0 IH; congr (_ * _); apply: eq_bigr => i _.
by rewrite (nth_path _ (tau s a)) // /bump /= add1n addSnnS.
Qed.

Lemma post_prod a0 t s xs :
  post t s xs =
  (\prod_(i < size xs)
     let su := nth s (path s xs) i in let au := nth a0 xs i in
     prior M su au * rb (t + i)%N su au) * rT (last s (path s xs)).
Proof.
elim: xs t s => [|a xs IH] t s /=; first by rewrite big_ord0 mul1r.
rewrite big_ord_recl /= addn0 IH -!mulrA; congr (_ * (_ * _)); congr (_ * _).
  apply: eq_bigr => i _.
  by rewrite (nth_path _ (tau s a)) // /bump /= add1n addSnnS.
by case: xs {IH}.
Qed.

Lemma w_after pi rw rTw t s : (T <= t)%N -> w pi rw rTw t s = rTw s.
Proof. by move=> le; rewrite /Defs.w (eqP (_ : (T - t == 0)%N)) ?subn_eq0 //= memoE. Qed.

(* cond(p, r)_t(a|s) w^p_t(s) = p(a|s) rho_t(s,a) w^p_{t+1}(tau s a), also
   where w^p_t(s) = 0. *)
Lemma G1_w t s a : (t < T)%N ->
  cond p rb rT t s a * wp t s = prior M s a * rb t s a * wp t.+1 (tau s a).
Proof.
move=> lt; rewrite condE //.
have hp0 : forall t s a, (t < T)%N -> 0 <= p t s a by move=> *; exact: prior_ge0.
rewrite -[RHS]mulrA -(zdet hdet p rb rT).
have [e|nz] := eqVneq (wp t s) 0; last by rewrite divfK.
rewrite e mulr0; apply/esym.
have hs : \sum_a0 p t s a0 * z p rb rT t s a0 = 0 by rewrite -(w_lt _ _ _ s lt).
apply: (psumr_eq0P _ hs) => // a0 _.
by rewrite mulr_ge0 ?hp0 // (z_ge0 (valid_nonneg hv) hp0).
Qed.

(* Claim 2, normaliser: w^p_t(s) = P_p(O_t = .. = O_T = 1 | s_t = s) is the
   sum of the joint weights over every action sequence of length T - t. *)
Theorem posterior_normaliser t s : wp t s = \sum_(xs <- seqs (T - t)) post t s xs.
Proof.
suff H n : forall t s, (T - t)%N = n -> wp t s = \sum_(xs <- seqs n) post t s xs.
  exact: H.
elim: n => [|n IH] {}t {}s e.
  by rewrite [seqs 0]/= big_seq1 /= w_after // -subn_eq0 e.
have lt : (t < T)%N by rewrite -subn_gt0 e.
rewrite w_lt // [seqs _]/= big_allpairs_dep; apply: eq_bigr => a _.
rewrite (zdet hdet) (IH t.+1) ?subnS ?e // mulrA mulr_sumr.
by apply: eq_bigr => xs _.
Qed.

(* Claim 2, joint form: the law of G_1 times w^p_t(s) is the joint weight. *)
Theorem G1_joint_deterministic t s xs : size xs = (T - t)%N ->
  law G1 t s xs * wp t s = post t s xs.
Proof.
elim: xs t s => [|a xs IH] t s /= e.
  by rewrite mul1r w_after // -subn_eq0 e.
have lt : (t < T)%N by rewrite -subn_gt0 -e.
move: IH => /= IH; rewrite mulrAC G1_w // -[LHS]mulrA [wp _ _ * _]mulrC IH //.
by rewrite subnS -e.
Qed.

(* Claim 2: for deterministic dynamics and a given state s_t = s with
   w^p_t(s) != 0, the law of G_1 = cond(p, r) over the trajectories from
   (t, s) is the posterior p(xi | s_t = s, O = 1) = post t s xs / w^p_t(s). *)
Theorem G1_posterior_deterministic t s xs : size xs = (T - t)%N -> wp t s != 0 ->
  law G1 t s xs = post t s xs / wp t s.
Proof. by move=> e nz; rewrite -(G1_joint_deterministic s e) mulfK. Qed.

End Posterior.
