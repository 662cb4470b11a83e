/* A non-commutative user operator for the collective tests: products
 * of 2x2 matrices of uint32 (wrapping), associative but not commutative,
 * so a result is right only when operands keep rank order. */
#ifndef RMPI_TEST_MATOP_H
#define RMPI_TEST_MATOP_H

#include <stdint.h>

#include <mpi.h>

typedef struct {
    uint32_t a, b, c, d;
} mat;

static inline mat mat_mul(mat x, mat y) {
    mat r = {x.a * y.a + x.b * y.c, x.a * y.b + x.b * y.d, x.c * y.a + x.d * y.c, x.c * y.b + x.d * y.d};
    return r;
}

/* Rank r's item i. */
static inline mat mat_of(int r, long i) {
    mat m = {(uint32_t)(r + 2), (uint32_t)(i + 1), (uint32_t)(3 * r + 1), (uint32_t)(r ^ i)};
    return m;
}

/* inout[i] = in[i] * inout[i]: `in` comes first in rank order. */
static inline void mat_op(void *in, void *inout, int *len, MPI_Datatype *dt) {
    (void)dt;
    mat *x = in, *y = inout;
    for (int i = 0; i < *len; i++) y[i] = mat_mul(x[i], y[i]);
}

#endif
