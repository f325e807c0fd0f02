/* init.c: process-wide set-up of the foreign libraries.
 *
 * GSL's default error handler calls abort(); HDF5 prints its error stack to
 * stderr on every failed call.  Both are switched off here so that their
 * failures come back to us as return codes that the stages translate into an
 * xanes_status with a message (STYLE rule 15).
 */
#include "xanes/status.h"

#include <gsl/gsl_errno.h>
#include <hdf5.h>

void xanes_init(void)
{
    gsl_set_error_handler_off();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

const char *xanes_version(void)
{
    return XANES_VERSION_STRING;
}
