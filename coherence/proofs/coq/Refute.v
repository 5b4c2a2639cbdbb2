(* Claims 14 and 16 fail in stochastic environments: computed facts over the
   rationals [rat] of mathcomp, with the real-field operations [rops] that the
   theorems of Values.v are about, on SPEC section 6's stochastic
   counterexample (uniform prior over {a1, a2}; a1 -> s1 w.p. 3/4, s2 w.p.
   1/4; a2 -> s1, s2 w.p. 1/2 each; success 1/3 at s1, 2/3 at s2).  States
   root, s1, s2 are 0, 1, 2; actions a1, a2 are 0, 1. *)
From mathcomp Require Import all_ssreflect all_algebra.
From Coherence Require Import Defs Values.

Import GRing.Theory Num.Theory.
Local Open Scope ring_scope.

Definition q (n d : nat) : rat := n%:R / d%:R.

Definition counterexample : mdp rat nat_eqType nat_eqType :=
  MDP 1
    (fun s a s' => match s, a, s' with
                   | O, O, 1%N => q 3 4 | O, O, 2%N => q 1 4
                   | O, 1%N, 1%N => q 1 2 | O, 1%N, 2%N => q 1 2
                   | 1%N, _, 1%N => 1 | 2%N, _, 2%N => 1
                   | _, _, _ => 0 end)
    (fun _ _ _ => 1)
    (fun s => match s with 1%N => q 1 3 | 2%N => q 2 3 | _ => 0 end)
    (fun s => match s with O => 1 | _ => 0 end)
    (fun _ _ => q 1 2).

Definition ce_states := iota 0 3.
Definition ce_actions := iota 0 2.

Definition ce_G (k : nat) := G (rops rat_realFieldType) ce_states ce_actions counterexample k 0%N 0%N 0%N.
Definition ce_T (k : nat) := Tk (rops rat_realFieldType) ce_states ce_actions counterexample k 0%N 0%N 0%N.
Definition ce_H (k : nat) := H (rops rat_realFieldType) ce_states ce_actions counterexample k 0%N 0%N 0%N.

(* Claim 14 fails when stochastic: G_2(a1|root) = 25/61, T_2(a1|root) = 7/17. *)
Theorem T2_neq_G2_stochastic : ce_G 2 = q 25 61 /\ ce_T 2 = q 7 17 /\ ce_T 2 != ce_G 2.
Proof. by split; [|split]; vm_compute. Qed.

(* Claim 16 fails when stochastic: H_2(a1|root) = 25/61 differs from
   T_{2^(2-1)}(a1|root) = T_2(a1|root) = 7/17. *)
Theorem H2_neq_T2_stochastic : ce_H 2 = q 25 61 /\ ce_H 2 != ce_T (2 ^ (2 - 1)).
Proof. by split; vm_compute. Qed.
