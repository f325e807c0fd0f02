/* normalize_block.h: the block form of the normalization plan at a chosen
 * x86-64 level, for the tests that compare the levels (isa.h).  Not
 * installed. */
#ifndef XANES_NORMALIZE_BLOCK_H
#define XANES_NORMALIZE_BLOCK_H

#include "xanes/normalize.h"

/* xanes_normalize_plan_apply_block at level 0, 3 or 4 (isa.h); the caller
 * makes sure the CPU has it. */
xanes_status normalize_plan_apply_block_at(int level, const xanes_normalize_plan *plan,
                                           const float *mu, size_t stride, size_t w,
                                           double *scratch, xanes_normalize_block *out,
                                           xanes_error *err);

#endif
