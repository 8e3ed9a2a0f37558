// The C interface of OpenBLAS (Debian libopenblas-dev). The include path comes from
// pkg-config openblas, so this picks the pthread flavour's cblas.h.
#include <cblas.h>
