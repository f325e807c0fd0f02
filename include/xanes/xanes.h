/* xanes.h: umbrella header of libxanes. */
#ifndef XANES_XANES_H
#define XANES_XANES_H

#include "xanes/atomic.h"
#include "xanes/figure.h"
#include "xanes/results.h"
#include "xanes/spectrum.h"
#include "xanes/status.h"

#endif
