/* xanes.h: umbrella header of libxanes. */
#ifndef XANES_XANES_H
#define XANES_XANES_H

#include "xanes/align.h"
#include "xanes/atomic.h"
#include "xanes/calibrate.h"
#include "xanes/denoise.h"
#include "xanes/edge.h"
#include "xanes/edgemap.h"
#include "xanes/figure.h"
#include "xanes/footprint.h"
#include "xanes/lcf.h"
#include "xanes/model.h"
#include "xanes/normalize.h"
#include "xanes/particles.h"
#include "xanes/results.h"
#include "xanes/run.h"
#include "xanes/segment.h"
#include "xanes/sfit.h"
#include "xanes/simulate.h"
#include "xanes/spectrum.h"
#include "xanes/stack.h"
#include "xanes/standards.h"
#include "xanes/status.h"
#include "xanes/subspace.h"

#endif
