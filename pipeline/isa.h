/* isa.h: the x86-64 level that the per-level kernels (stack_correct.c,
 * normalize_plan.c's block form, edgemap.c's row sums, align_apply.c) run
 * at.  Each kernel is compiled for the baseline and for x86-64-v3 (AVX2)
 * and -v4 (AVX-512) with GCC target attributes and picks the best level the
 * CPU has; the levels give identical results (same IEEE operations in the
 * same order, no FMA contraction under ISO C), which the tests check by
 * running every level the machine supports.  Not installed. */
#ifndef XANES_ISA_H
#define XANES_ISA_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define XANES_ISA_DISPATCH 1
#endif

/* 4 (x86-64-v4), 3 (x86-64-v3) or 0 (baseline, or not x86-64 GCC). */
static inline int xanes_isa_best(void)
{
#ifdef XANES_ISA_DISPATCH
    if (__builtin_cpu_supports("x86-64-v4"))
        return 4;
    if (__builtin_cpu_supports("x86-64-v3"))
        return 3;
#endif
    return 0;
}

#endif
