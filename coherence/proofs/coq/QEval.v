(* The definitions of Defs.v instantiated with the binary rationals [Q] of the
   Coq standard library, every operation followed by [Qred], so that
   [vm_compute] evaluates them on the rational data of a conformance case.
   States and actions are the naturals 0..n-1 listed by [iota]. *)
From mathcomp Require Import all_ssreflect.
From Coq Require Import QArith.
From Coherence Require Import Defs.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Definition qops : ops Q :=
  Ops (0 # 1)%Q (1 # 1)%Q
      (fun x y => Qred (x + y)%Q) (fun x y => Qred (x * y)%Q)
      (fun x y => Qred (x / y)%Q)
      (fun x => Qeq_bool x 0%Q) Qle_bool.

Definition lk1 (l : seq Q) (i : nat) : Q := nth 0%Q l i.
Definition lk2 (l : seq (seq Q)) (i j : nat) : Q := nth 0%Q (nth [::] l i) j.
Definition lk3 (l : seq (seq (seq Q))) (i j k : nat) : Q :=
  nth 0%Q (nth [::] (nth [::] l i) j) k.

Definition qmdp (T : nat) (Pd : seq (seq (seq Q))) (rhod : seq (seq (seq Q)))
  (rhoTd muv : seq Q) (priord : seq (seq Q)) : mdp Q nat_eqType nat_eqType :=
  MDP T (lk3 Pd) (lk3 rhod) (lk1 rhoTd) (lk1 muv) (lk2 priord).

Definition qout (q : Q) : Z * Z := let r := Qred q in (Qnum r, Zpos (Qden r)).

(* Flattened tables in the order t, s, a (row-major). *)
Definition out_pol (T nS nA : nat) (pi : nat -> nat -> nat -> Q) : seq (Z * Z) :=
  flatten [seq flatten [seq [seq qout (pi t s a) | a <- iota 0 nA]
                       | s <- iota 0 nS] | t <- iota 0 T].
Definition out_val (n nS : nat) (v : nat -> nat -> Q) : seq (Z * Z) :=
  flatten [seq [seq qout (v t s) | s <- iota 0 nS] | t <- iota 0 n].
