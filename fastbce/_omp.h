/* OpenMP when the build has it, a serial stand-in when it does not (setup.py decides). */
#ifndef FASTBCE_OMP_H
#define FASTBCE_OMP_H
#ifdef _OPENMP
#include <omp.h>
#define FASTBCE_HAVE_OPENMP 1
#else
#define FASTBCE_HAVE_OPENMP 0
static inline int omp_get_max_threads(void) { return 1; }
#endif
#endif
