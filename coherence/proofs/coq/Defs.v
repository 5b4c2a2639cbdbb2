(* The rho-domain recurrences of SPEC sections 3 and 4, written once over a
   record of number operations.  The theorems (Values.v, Operators.v)
   instantiate the record with the operations of an arbitrary real field
   ([rops R] for [R : realFieldType]); the evaluation of conformance cases
   (QEval.v) instantiates the same definitions with the binary rationals of
   the Coq standard library.  Every table that a later step reads many times
   is tabulated once ([memo], [memo2], [memoT]), so that evaluation by
   [vm_compute] costs time polynomial in the horizon and in k; the lemmas
   [memoE], [memo2E] and [memoTE] show that tabulation does not change a
   value. *)
From mathcomp Require Import all_ssreflect all_algebra.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Record ops (R : Type) := Ops {
  o0 : R; o1 : R;
  oadd : R -> R -> R; omul : R -> R -> R; odiv : R -> R -> R;
  oeq0 : R -> bool;            (* the zero test of SPEC section 2 *)
  oleb : R -> R -> bool        (* the order, for argmax *)
}.

Section Recurrences.
Variables (R : Type) (o : ops R) (S A : eqType) (es : seq S) (ea : seq A).

(* A finite-horizon tabular MDP (SPEC section 2): transitions P(s'|s,a),
   time-dependent step success probabilities rho_t(s,a), terminal success
   rho_T(s), initial distribution mu(s) and a stationary prior p(a|s). *)
Record mdp := MDP {
  horizon : nat;
  trans : S -> A -> S -> R;
  rho : nat -> S -> A -> R;
  rhoT : S -> R;
  mu : S -> R;
  prior : S -> A -> R
}.

Definition policy := nat -> S -> A -> R.
Definition reward := nat -> S -> A -> R.

Definition osum (I : Type) (r : seq I) (f : I -> R) : R :=
  foldr (fun i acc => oadd o (f i) acc) (o0 o) r.

Definition memo (f : S -> R) : S -> R :=
  let tbl := map f es in fun s => nth (o0 o) tbl (index s es).

Definition memo2 (f : S -> A -> R) : S -> A -> R :=
  let tbl := [seq [seq f s a | a <- ea] | s <- es] in
  fun s a => nth (o0 o) (nth [::] tbl (index s es)) (index a ea).

Definition memoT (n : nat) (f : policy) : policy :=
  let tbl := [seq memo2 (f t) | t <- iota 0 n] in
  fun t => nth (fun _ _ => o0 o) tbl t.

Variable M : mdp.
Local Notation T := (horizon M).
Local Notation P := (trans M).

(* z_t(s,a) = rho_t(s,a) * sum_s' P(s'|s,a) w_{t+1}(s')   (= exp Q_t) *)
Definition zstep (rw : reward) (t : nat) (next : S -> R) (s : S) (a : A) : R :=
  omul o (rw t s a) (osum es (fun s' => omul o (P s a s') (next s'))).

(* w at time T - n: w_T = rho_T, w_t(s) = sum_a pi_t(a|s) z_t(s,a). *)
Fixpoint wfrom (pi : policy) (rw : reward) (rT : S -> R) (n : nat) : S -> R :=
  match n with
  | 0 => memo rT
  | n'.+1 =>
      let next := wfrom pi rw rT n' in
      let t := T - n'.+1 in
      memo (fun s => osum ea (fun a => omul o (pi t s a) (zstep rw t next s a)))
  end.

(* Soft values of [pi] under the weights [rw], [rT] (SPEC section 3). *)
Definition w (pi : policy) (rw : reward) (rT : S -> R) (t : nat) : S -> R :=
  wfrom pi rw rT (T - t).

Definition z (pi : policy) (rw : reward) (rT : S -> R) (t : nat) : S -> A -> R :=
  zstep rw t (w pi rw rT t.+1).

(* cond(base)_t(a|s) = base z / w, and base where w = 0 (SPEC sections 2, 4). *)
Definition cond (base : policy) (rw : reward) (rT : S -> R) : policy :=
  memoT T (fun t =>
    let wt := w base rw rT t in
    let zt := z base rw rT t in
    fun s a =>
      if oeq0 o (wt s) then base t s a
      else odiv o (omul o (base t s a) (zt s a)) (wt s)).

Definition prior_policy : policy := fun _ => prior M.

(* G_0 = p, G_{k+1} = cond(G_k, r) *)
Definition G (k : nat) : policy :=
  iter k (fun pi => cond pi (rho M) (rhoT M)) prior_policy.

Definition opow (x : R) (k : nat) : R := iter k (omul o x) (o1 o).

(* T_k = cond(p, k r): rho^k, terminal included, with rho^0 = 1. *)
Definition Tk (k : nat) : policy :=
  cond prior_policy (fun t s a => opow (rho M t s a) k) (fun s => opow (rhoT M s) k).

(* Folding update (SPEC section 4, rho domain): canonical
   rho' = rho_base * pi / p and 0 where p = 0; literal rho' = rho_base * pi. *)
Definition fold (literal : bool) (rbase : reward) (pi : policy) : reward :=
  memoT T (fun t s a =>
    if literal then omul o (rbase t s a) (pi t s a)
    else if oeq0 o (prior M s a) then o0 o
    else odiv o (omul o (rbase t s a) (pi t s a)) (prior M s a)).

(* F_0 = p, R_0 = r; F_{k+1} = cond(p, R_k); R_{k+1} = r + log F_{k+1} - log p. *)
Fixpoint Fpair (literal : bool) (k : nat) : policy * reward :=
  match k with
  | 0 => (prior_policy, rho M)
  | k'.+1 =>
      let f := cond prior_policy (Fpair literal k').2 (rhoT M) in
      (f, fold literal (rho M) f)
  end.

(* H_0 = p, R'_0 = r; H_{k+1} = cond(p, R'_k); R'_{k+1} = R'_k + log H_{k+1} - log p. *)
Fixpoint Hpair (literal : bool) (k : nat) : policy * reward :=
  match k with
  | 0 => (prior_policy, rho M)
  | k'.+1 =>
      let prev := (Hpair literal k').2 in
      let h := cond prior_policy prev (rhoT M) in
      (h, fold literal prev h)
  end.

Definition F (k : nat) : policy := (Fpair false k).1.
Definition Flit (k : nat) : policy := (Fpair true k).1.
Definition H (k : nat) : policy := (Hpair false k).1.
Definition Hlit (k : nat) : policy := (Hpair true k).1.

Definition onat (n : nat) : R := iter n (oadd o (o1 o)) (o0 o).

(* weights / sum(weights); uniform where the sum is 0 (SPEC section 2). *)
Definition normalise (wt : A -> R) : A -> R :=
  let total := osum ea wt in
  fun a => if oeq0 o total then odiv o (o1 o) (onat (size ea))
           else odiv o (wt a) total.

Definition is_max (q : A -> R) (a : A) : bool := all (fun b => oleb o (q b) (q a)) ea.

(* The f-soft-Q policy of [pi] under the MDP's rewards: uniform over the
   maximisers of z (argmax, [None]) or proportional to z^m (Boltzmann with
   delta = 1/m, [Some m]).  z is monotone in Q, so argmax is taken on z. *)
Definition softq (f : option nat) (pi : policy) : policy :=
  memoT T (fun t =>
    let zt := z pi (rho M) (rhoT M) t in
    fun s =>
      normalise (fun a => match f with
                          | None => if is_max (zt s) a then o1 o else o0 o
                          | Some m => opow (zt s a) m
                          end)).

(* B_0 = p, B_{i+1} = (B_i)^{Q,f} *)
Definition B (f : option nat) (i : nat) : policy := iter i (softq f) prior_policy.

(* Soft values under the MDP's own rewards. *)
Definition wv (pi : policy) : nat -> S -> R := w pi (rho M) (rhoT M).
Definition zv (pi : policy) : nat -> S -> A -> R := z pi (rho M) (rhoT M).

(* d_0 = mu; d_{t+1}(s') = sum_{s,a} d_t(s) pi_t(a|s) P(s'|s,a) *)
Fixpoint occ (pi : policy) (t : nat) : S -> R :=
  match t with
  | 0 => memo (mu M)
  | t'.+1 =>
      let d := occ pi t' in
      memo (fun s' => osum es (fun s => osum ea (fun a =>
              omul o (omul o (d s) (pi t' s a)) (P s a s'))))
  end.

(* J_prob = sum_s mu(s) w_0(s) *)
Definition J_prob (pi : policy) : R :=
  let w0 := wv pi 0 in osum es (fun s => omul o (mu M s) (w0 s)).

(* J_count = sum_t E_{d_t, pi_t}[rho_t] + E_{d_T}[rho_T] *)
Definition J_count (pi : policy) : R :=
  oadd o
    (osum (iota 0 T) (fun t => let d := occ pi t in
       osum es (fun s => osum ea (fun a =>
         omul o (omul o (d s) (pi t s a)) (rho M t s a)))))
    (let d := occ pi T in osum es (fun s => omul o (d s) (rhoT M s))).

End Recurrences.
