/* xanes.h: umbrella header of libxanes. */
#ifndef XANES_XANES_H
#define XANES_XANES_H

#include "xanes/calibrate.h"
#include "xanes/edge.h"
#include "xanes/lcf.h"
#include "xanes/normalize.h"
#include "xanes/simulate.h"
#include "xanes/spectrum.h"
#include "xanes/standards.h"
#include "xanes/status.h"

#endif
