/* The collectives matrix through the C ABI: every collective in its
 * blocking, nonblocking and persistent form (persistent ones started twice
 * with new input), counts 0, 1, odd and large, in place and not, every
 * root, a derived (strided) datatype, predefined and non-commutative user
 * operators, the large-count _c forms, intercommunicators, neighbourhood
 * collectives on a ring, nonblocking send-receive, and dozens of
 * nonblocking collectives in flight on one and on several communicators.
 * Every value is checked against what each rank computes for itself.
 *
 * A forced algorithm that cannot run a non-commutative operator
 * (RMPI_COLL_ALLREDUCE=ring, ...) makes the program skip those calls.
 * Prints "coll_matrix OK" on rank 0. */
#include "check.h"

#define LARGE 30000

static int rank, size, FORM, IT, SLOT, USED;
static MPI_Comm C;
static MPI_Request PREQ[16];
static MPI_Datatype VEC, MAT;
static MPI_Op MATMUL;

/* One collective in form FORM (0 blocking, 1 nonblocking, 2 persistent:
 * created when IT == 0, started at every IT; each call site in an
 * iteration has its own request slot). S is "" or _c. */
#define FORMS(B, I, S, ...)                                                                  \
    do {                                                                                     \
        if (FORM == 0) {                                                                     \
            CHECK(MPI_##B##S(__VA_ARGS__) == MPI_SUCCESS);                                   \
        } else if (FORM == 1) {                                                              \
            MPI_Request r_;                                                                  \
            CHECK(MPI_##I##S(__VA_ARGS__, &r_) == MPI_SUCCESS);                              \
            CHECK(MPI_Wait(&r_, MPI_STATUS_IGNORE) == MPI_SUCCESS);                          \
            CHECK(r_ == MPI_REQUEST_NULL);                                                   \
        } else {                                                                             \
            MPI_Request *p_ = &PREQ[SLOT++];                                                 \
            if (SLOT > USED) USED = SLOT;                                                    \
            if (IT == 0) CHECK(MPI_##B##_init##S(__VA_ARGS__, MPI_INFO_NULL, p_) == MPI_SUCCESS); \
            CHECK(MPI_Start(p_) == MPI_SUCCESS);                                             \
            CHECK(MPI_Wait(p_, MPI_STATUS_IGNORE) == MPI_SUCCESS);                           \
            CHECK(*p_ != MPI_REQUEST_NULL);                                                  \
        }                                                                                    \
    } while (0)
#define ITERS (FORM == 2 ? 2 : 1)
#define DONE()                                                                   \
    do {                                                                         \
        for (int d_ = 0; d_ < USED; d_++) CHECK(MPI_Request_free(&PREQ[d_]) == MPI_SUCCESS); \
        USED = 0;                                                                \
    } while (0)
#define FOR_FORMS for (FORM = 0; FORM < 3; FORM++)
#define FOR_ITERS for (IT = 0; IT < ITERS && ((SLOT = 0) == 0); IT++)

/* The value rank r contributes at index i in iteration IT. */
static int val(int r, int i) { return r * 1000 + i * 7 + IT * 13 + 1; }

static int *ints(size_t n) {
    int *p = malloc((n ? n : 1) * sizeof(int));
    CHECK(p != NULL);
    for (size_t i = 0; i < n; i++) p[i] = -1;
    return p;
}

/* Whether a forced algorithm (read from the environment) keeps a
 * non-commutative operator out of `kind`'s calls. */
static int noncomm_ok(const char *kind) {
    const char *bad[] = {"ring", "rabenseifner", "recursive_halving"};
    char var[64];
    snprintf(var, sizeof var, "RMPI_COLL_%s", kind);
    const char *v = getenv(var);
    if (!v) return 1;
    for (int i = 0; i < 3; i++)
        if (strstr(v, bad[i])) return 0;
    return 1;
}

/* 2x2 matrices of unsigned (wrapping) as 4 consecutive MPI_UNSIGNED. */
static void mat_mul(const unsigned *a, const unsigned *b, unsigned *c) {
    unsigned t[4] = {a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3], a[2] * b[0] + a[3] * b[2],
                     a[2] * b[1] + a[3] * b[3]};
    memcpy(c, t, sizeof t);
}
static void matmul_fn(void *in, void *inout, int *len, MPI_Datatype *dt) {
    (void)dt;
    for (int k = 0; k < *len; k++) mat_mul((unsigned *)in + 4 * k, (unsigned *)inout + 4 * k, (unsigned *)inout + 4 * k);
}
static void mat_of(int r, int k, unsigned *m) {
    m[0] = (unsigned)(r + k + IT) % 3;
    m[1] = 1;
    m[2] = (unsigned)(r * 2 + k) % 5;
    m[3] = (unsigned)(k + 1);
}
/* Product over ranks lo..hi-1 in order, element k. */
static void mat_ref(int lo, int hi, int k, unsigned *out) {
    mat_of(lo, k, out);
    for (int r = lo + 1; r < hi; r++) {
        unsigned m[4];
        mat_of(r, k, m);
        mat_mul(out, m, out);
    }
}

/* ------------------------------------------------------------------ intracommunicator */

static void t_barrier(void) {
    FOR_FORMS {
        FOR_ITERS FORMS(Barrier, Ibarrier, , C);
        DONE();
    }
}

static void t_bcast(void) {
    int counts[] = {0, 1, 7, LARGE};
    FOR_FORMS for (int ci = 0; ci < 4; ci++) for (int root = 0; root < size; root++) {
        int n = counts[ci];
        if (n == LARGE && root != size - 1) continue;
        int *b = ints(n);
        FOR_ITERS {
            for (int i = 0; i < n; i++) b[i] = rank == root ? val(root, i) : -1;
            FORMS(Bcast, Ibcast, , b, n, MPI_INT, root, C);
            for (int i = 0; i < n; i++) CHECK(b[i] == val(root, i));
        }
        DONE();
        free(b);
    }
    /* A strided type: the gaps stay untouched; and the large-count form. */
    FOR_FORMS {
        int n = 4, *b = ints(5 * n);
        FOR_ITERS {
            for (int i = 0; i < 5 * n; i++) b[i] = rank == 0 ? val(0, i) : -1;
            FORMS(Bcast, Ibcast, , b, n, VEC, 0, C);
            for (int i = 0; i < 5 * n; i++) CHECK(b[i] == ((i % 5) % 2 == 0 || rank == 0 ? val(0, i) : -1));
        }
        DONE();
        FOR_ITERS {
            for (int i = 0; i < 5 * n; i++) b[i] = rank == size - 1 ? val(9, i) : -1;
            FORMS(Bcast, Ibcast, _c, b, (MPI_Count)(5 * n), MPI_INT, size - 1, C);
            for (int i = 0; i < 5 * n; i++) CHECK(b[i] == val(9, i));
        }
        DONE();
        free(b);
    }
}

static void t_reduce(void) {
    int counts[] = {0, 1, 7, LARGE};
    FOR_FORMS for (int ci = 0; ci < 4; ci++) for (int root = 0; root < size; root++) for (int ip = 0; ip < 2; ip++) {
        int n = counts[ci];
        if (n == LARGE && root != 0) continue;
        int *s = ints(n), *r = ints(n);
        FOR_ITERS {
            for (int i = 0; i < n; i++) s[i] = val(rank, i), r[i] = ip ? val(rank, i) : -1;
            int inplace = ip && rank == root;
            FORMS(Reduce, Ireduce, , inplace ? MPI_IN_PLACE : s, r, n, MPI_INT, MPI_SUM, root, C);
            if (rank == root)
                for (int i = 0; i < n; i++) {
                    int want = 0;
                    for (int q = 0; q < size; q++) want += val(q, i);
                    CHECK(r[i] == want);
                }
        }
        DONE();
        free(s);
        free(r);
    }
    if (!noncomm_ok("REDUCE")) return;
    FOR_FORMS for (int root = 0; root < size; root++) {
        unsigned s[12], r[12];
        FOR_ITERS {
            for (int k = 0; k < 3; k++) mat_of(rank, k, s + 4 * k);
            FORMS(Reduce, Ireduce, , s, r, 3, MAT, MATMUL, root, C);
            if (rank == root)
                for (int k = 0; k < 3; k++) {
                    unsigned w[4];
                    mat_ref(0, size, k, w);
                    CHECK(memcmp(w, r + 4 * k, sizeof w) == 0);
                }
        }
        DONE();
    }
}

static void t_allreduce(void) {
    int counts[] = {0, 1, 7, LARGE};
    FOR_FORMS for (int ci = 0; ci < 4; ci++) for (int ip = 0; ip < 2; ip++) {
        int n = counts[ci], *s = ints(n), *r = ints(n);
        FOR_ITERS {
            for (int i = 0; i < n; i++) s[i] = val(rank, i), r[i] = ip ? val(rank, i) : -1;
            FORMS(Allreduce, Iallreduce, , ip ? MPI_IN_PLACE : s, r, n, MPI_INT, MPI_SUM, C);
            for (int i = 0; i < n; i++) {
                int want = 0;
                for (int q = 0; q < size; q++) want += val(q, i);
                CHECK(r[i] == want);
            }
        }
        DONE();
        free(s);
        free(r);
    }
    FOR_FORMS {
        /* MAX over the strided type: gaps untouched; MAXLOC on pairs; the _c form. */
        int s[10], r[10], p[4], q[4];
        FOR_ITERS {
            for (int i = 0; i < 10; i++) s[i] = val(rank, i), r[i] = -1;
            FORMS(Allreduce, Iallreduce, , s, r, 2, VEC, MPI_MAX, C);
            for (int i = 0; i < 10; i++) CHECK(r[i] == ((i % 5) % 2 == 0 ? val(size - 1, i) : -1));
            p[0] = (rank * 3) % size, p[1] = rank, p[2] = -rank, p[3] = rank;
            FORMS(Allreduce, Iallreduce, _c, p, q, (MPI_Count)2, MPI_2INT, MPI_MAXLOC, C);
            int best = 0;
            for (int x = 0; x < size; x++)
                if ((x * 3) % size > (best * 3) % size) best = x;
            CHECK(q[0] == (best * 3) % size && q[1] == best && q[2] == 0 && q[3] == 0);
        }
        DONE();
    }
    if (!noncomm_ok("ALLREDUCE")) return;
    FOR_FORMS {
        unsigned s[20], r[20];
        FOR_ITERS {
            for (int k = 0; k < 5; k++) mat_of(rank, k, s + 4 * k);
            FORMS(Allreduce, Iallreduce, , s, r, 5, MAT, MATMUL, C);
            for (int k = 0; k < 5; k++) {
                unsigned w[4];
                mat_ref(0, size, k, w);
                CHECK(memcmp(w, r + 4 * k, sizeof w) == 0);
            }
        }
        DONE();
    }
}

static void t_scans(void) {
    FOR_FORMS for (int ip = 0; ip < 2; ip++) for (int n = 0; n < 8; n += 7) {
        int s[7], r[7];
        FOR_ITERS {
            for (int i = 0; i < n; i++) s[i] = val(rank, i), r[i] = ip ? val(rank, i) : -1;
            FORMS(Scan, Iscan, , ip ? MPI_IN_PLACE : s, r, n, MPI_INT, MPI_SUM, C);
            for (int i = 0; i < n; i++) {
                int want = 0;
                for (int q = 0; q <= rank; q++) want += val(q, i);
                CHECK(r[i] == want);
            }
            for (int i = 0; i < n; i++) s[i] = val(rank, i), r[i] = ip ? val(rank, i) : -1;
            FORMS(Exscan, Iexscan, , ip ? MPI_IN_PLACE : s, r, n, MPI_INT, MPI_SUM, C);
            if (rank > 0)
                for (int i = 0; i < n; i++) {
                    int want = 0;
                    for (int q = 0; q < rank; q++) want += val(q, i);
                    CHECK(r[i] == want);
                }
        }
        DONE();
    }
    FOR_FORMS {
        unsigned s[8], r[8];
        FOR_ITERS {
            for (int k = 0; k < 2; k++) mat_of(rank, k, s + 4 * k);
            FORMS(Scan, Iscan, , s, r, 2, MAT, MATMUL, C);
            for (int k = 0; k < 2; k++) {
                unsigned w[4];
                mat_ref(0, rank + 1, k, w);
                CHECK(memcmp(w, r + 4 * k, sizeof w) == 0);
            }
            FORMS(Exscan, Iexscan, , s, r, 2, MAT, MATMUL, C);
            if (rank > 0)
                for (int k = 0; k < 2; k++) {
                    unsigned w[4];
                    mat_ref(0, rank, k, w);
                    CHECK(memcmp(w, r + 4 * k, sizeof w) == 0);
                }
        }
        DONE();
    }
}

static void t_reduce_scatter(void) {
    FOR_FORMS for (int ip = 0; ip < 2; ip++) for (int blk = 0; blk < 4; blk += 3) {
        int n = blk * size, *s = ints(n), *r = ints(n);
        FOR_ITERS {
            for (int i = 0; i < n; i++) s[i] = val(rank, i), r[i] = ip ? val(rank, i) : -1;
            FORMS(Reduce_scatter_block, Ireduce_scatter_block, , ip ? MPI_IN_PLACE : s, r, blk, MPI_INT, MPI_SUM, C);
            for (int i = 0; i < blk; i++) {
                int want = 0;
                for (int q = 0; q < size; q++) want += val(q, rank * blk + i);
                CHECK(r[i] == want);
            }
        }
        DONE();
        /* per-rank counts q % 3 */
        int *cs = ints(size), tot = 0, off = 0;
        for (int q = 0; q < size; q++) cs[q] = q % 3, tot += q % 3, off += q < rank ? q % 3 : 0;
        int *s2 = ints(tot), *r2 = ints(tot);
        FOR_ITERS {
            for (int i = 0; i < tot; i++) s2[i] = val(rank, i), r2[i] = ip ? val(rank, i) : -1;
            FORMS(Reduce_scatter, Ireduce_scatter, , ip ? MPI_IN_PLACE : s2, r2, cs, MPI_INT, MPI_SUM, C);
            for (int i = 0; i < cs[rank]; i++) {
                int want = 0;
                for (int q = 0; q < size; q++) want += val(q, off + i);
                CHECK(r2[i] == want);
            }
        }
        DONE();
        free(cs);
        free(s2);
        free(r2);
        free(s);
        free(r);
    }
    if (!noncomm_ok("REDUCE_SCATTER_BLOCK") || !noncomm_ok("REDUCE_SCATTER")) return;
    FOR_FORMS {
        unsigned *s = malloc(8 * size * sizeof(unsigned)), r[8];
        int *cs = ints(size);
        for (int q = 0; q < size; q++) cs[q] = 2;
        FOR_ITERS {
            for (int k = 0; k < 2 * size; k++) mat_of(rank, k, s + 4 * k);
            FORMS(Reduce_scatter_block, Ireduce_scatter_block, , s, r, 2, MAT, MATMUL, C);
            for (int k = 0; k < 2; k++) {
                unsigned w[4];
                mat_ref(0, size, 2 * rank + k, w);
                CHECK(memcmp(w, r + 4 * k, sizeof w) == 0);
            }
        }
        DONE();
        free(s);
        free(cs);
    }
}

static void t_gather_scatter(void) {
    int counts[] = {0, 1, 7};
    FOR_FORMS for (int ci = 0; ci < 3; ci++) for (int root = 0; root < size; root++) for (int ip = 0; ip < 2; ip++) {
        int n = counts[ci], *s = ints(n), *r = ints(n * size);
        int inplace = ip && rank == root;
        FOR_ITERS {
            /* gather */
            for (int i = 0; i < n; i++) s[i] = val(rank, i);
            for (int i = 0; i < n * size; i++) r[i] = inplace && i / n == rank ? val(rank, i % n) : -1;
            FORMS(Gather, Igather, , inplace ? MPI_IN_PLACE : s, n, MPI_INT, r, n, MPI_INT, root, C);
            if (rank == root)
                for (int i = 0; i < n * size; i++) CHECK(r[i] == val(i / n, i % n));
        }
        DONE();
        FOR_ITERS {
            /* scatter */
            for (int i = 0; i < n * size; i++) r[i] = rank == root ? val(100 + i / n, i % n) : -1;
            for (int i = 0; i < n; i++) s[i] = -1;
            FORMS(Scatter, Iscatter, , r, n, MPI_INT, inplace ? MPI_IN_PLACE : s, n, MPI_INT, root, C);
            if (!inplace)
                for (int i = 0; i < n; i++) CHECK(s[i] == val(100 + rank, i));
        }
        DONE();
        /* gatherv / scatterv: rank q has q % 4 + n items, placed in reverse rank order with gaps */
        int *cs = ints(size), *ds = ints(size), tot = 1;
        for (int q = size - 1; q >= 0; q--) cs[q] = q % 4 + n, ds[q] = tot, tot += cs[q] + 1;
        int *v = ints(tot), *mine = ints(rank % 4 + n);
        FOR_ITERS {
            for (int i = 0; i < cs[rank]; i++) mine[i] = val(rank, i);
            for (int i = 0; i < tot; i++) v[i] = -1;
            if (inplace)
                for (int i = 0; i < cs[rank]; i++) v[ds[rank] + i] = val(rank, i);
            FORMS(Gatherv, Igatherv, , inplace ? MPI_IN_PLACE : mine, cs[rank], MPI_INT, v, cs, ds, MPI_INT, root, C);
            if (rank == root) {
                int seen = 0;
                for (int q = 0; q < size; q++)
                    for (int i = 0; i < cs[q]; i++, seen++) CHECK(v[ds[q] + i] == val(q, i));
                for (int i = 0; i < tot; i++) {
                    int in_block = 0;
                    for (int q = 0; q < size; q++) in_block |= i >= ds[q] && i < ds[q] + cs[q];
                    if (!in_block) CHECK(v[i] == -1);
                }
                (void)seen;
            }
            for (int i = 0; i < tot; i++) v[i] = -1;
            if (rank == root)
                for (int q = 0; q < size; q++)
                    for (int i = 0; i < cs[q]; i++) v[ds[q] + i] = val(200 + q, i);
            for (int i = 0; i < cs[rank]; i++) mine[i] = -1;
            FORMS(Scatterv, Iscatterv, , v, cs, ds, MPI_INT, inplace ? MPI_IN_PLACE : mine, cs[rank], MPI_INT, root, C);
            if (!inplace)
                for (int i = 0; i < cs[rank]; i++) CHECK(mine[i] == val(200 + rank, i));
        }
        DONE();
        free(cs);
        free(ds);
        free(v);
        free(mine);
        free(s);
        free(r);
    }
    /* gather of the strided type into plain ints, and the _c form */
    FOR_FORMS {
        int s[10], *r = ints(6 * size);
        FOR_ITERS {
            for (int i = 0; i < 10; i++) s[i] = val(rank, i);
            for (int i = 0; i < 6 * size; i++) r[i] = -1;
            FORMS(Gather, Igather, _c, s, (MPI_Count)2, VEC, r, (MPI_Count)6, MPI_INT, 0, C);
            if (rank == 0)
                for (int q = 0; q < size; q++)
                    for (int k = 0; k < 6; k++) CHECK(r[6 * q + k] == val(q, (k / 3) * 5 + (k % 3) * 2));
        }
        DONE();
        free(r);
    }
}

static void t_allgather(void) {
    int counts[] = {0, 1, 7, LARGE / 16};
    FOR_FORMS for (int ci = 0; ci < 4; ci++) for (int ip = 0; ip < 2; ip++) {
        int n = counts[ci], *s = ints(n), *r = ints(n * size);
        FOR_ITERS {
            for (int i = 0; i < n; i++) s[i] = val(rank, i);
            for (int i = 0; i < n * size; i++) r[i] = ip && i / n == rank ? val(rank, i % n) : -1;
            FORMS(Allgather, Iallgather, , ip ? MPI_IN_PLACE : s, n, MPI_INT, r, n, MPI_INT, C);
            for (int i = 0; i < n * size; i++) CHECK(r[i] == val(i / n, i % n));
        }
        DONE();
        int *cs = ints(size), *ds = ints(size), tot = 2;
        for (int q = size - 1; q >= 0; q--) cs[q] = (q + n) % 3, ds[q] = tot, tot += cs[q] + 2;
        int *v = ints(tot);
        FOR_ITERS {
            for (int i = 0; i < cs[rank] && i < n; i++) s[i] = val(rank, i);
            for (int i = 0; i < tot; i++) v[i] = -1;
            if (ip)
                for (int i = 0; i < cs[rank]; i++) v[ds[rank] + i] = val(rank, i);
            if (cs[rank] <= n || ip)
                FORMS(Allgatherv, Iallgatherv, , ip ? MPI_IN_PLACE : s, cs[rank], MPI_INT, v, cs, ds, MPI_INT, C);
            else {
                int tmp[3];
                for (int i = 0; i < cs[rank]; i++) tmp[i] = val(rank, i);
                FORMS(Allgatherv, Iallgatherv, , tmp, cs[rank], MPI_INT, v, cs, ds, MPI_INT, C);
            }
            for (int q = 0; q < size; q++)
                for (int i = 0; i < cs[q]; i++) CHECK(v[ds[q] + i] == val(q, i));
            CHECK(v[0] == -1 && v[1] == -1);
        }
        DONE();
        free(cs);
        free(ds);
        free(v);
        free(s);
        free(r);
    }
}

static void t_alltoall(void) {
    int counts[] = {0, 1, 3, LARGE / 64};
    FOR_FORMS for (int ci = 0; ci < 4; ci++) for (int ip = 0; ip < 2; ip++) {
        int n = counts[ci], *s = ints(n * size), *r = ints(n * size);
        FOR_ITERS {
            /* block j from rank q holds val(q*50 + j, i) */
            for (int i = 0; i < n * size; i++) s[i] = val(rank * 50 + i / n, i % n), r[i] = ip ? s[i] : -1;
            FORMS(Alltoall, Ialltoall, , ip ? MPI_IN_PLACE : s, n, MPI_INT, r, n, MPI_INT, C);
            for (int i = 0; i < n * size; i++) CHECK(r[i] == val((i / n) * 50 + rank, i % n));
        }
        DONE();
    }
    /* alltoallv: q sends j (q + j) % 3 items; displacements reversed with gaps */
    FOR_FORMS for (int ip = 0; ip < 2; ip++) {
        int *sc = ints(size), *sd = ints(size), *rc = ints(size), *rd = ints(size), st = 1, rt = 1;
        for (int j = size - 1; j >= 0; j--) {
            sc[j] = (rank + j) % 3, sd[j] = st, st += sc[j] + 1;
            rc[j] = (j + rank) % 3, rd[j] = rt, rt += rc[j] + 1;
        }
        int *s = ints(st), *r = ints(rt);
        FOR_ITERS {
            for (int j = 0; j < size; j++)
                for (int i = 0; i < sc[j]; i++) s[sd[j] + i] = val(rank * 50 + j, i);
            for (int i = 0; i < rt; i++) r[i] = -1;
            if (ip)
                for (int j = 0; j < size; j++)
                    for (int i = 0; i < rc[j]; i++) r[rd[j] + i] = val(rank * 50 + j, i);
            FORMS(Alltoallv, Ialltoallv, , ip ? MPI_IN_PLACE : s, sc, sd, MPI_INT, r, rc, rd, MPI_INT, C);
            for (int j = 0; j < size; j++)
                for (int i = 0; i < rc[j]; i++) CHECK(r[rd[j] + i] == val(j * 50 + rank, i));
            CHECK(r[0] == -1);
        }
        DONE();
        free(sc), free(sd), free(rc), free(rd), free(s), free(r);
    }
    /* alltoallw: 3 ints per pair; sent as VEC or as 3 MPI_INT, received as either, byte displacements */
    FOR_FORMS for (int ip = 0; ip < 2; ip++) {
        int *sc = ints(size), *sd = ints(size), *rc = ints(size), *rd = ints(size);
        MPI_Datatype *stt = malloc(size * sizeof(MPI_Datatype)), *rtt = malloc(size * sizeof(MPI_Datatype));
        for (int j = 0; j < size; j++) {
            int sv = (rank + 2 * j) % 2, rv = ip ? sv : (j + rank + 1) % 2;
            /* in place, the receive side describes both */
            sc[j] = sv ? 1 : 3, stt[j] = sv ? VEC : MPI_INT, sd[j] = 5 * j * (int)sizeof(int);
            rc[j] = rv ? 1 : 3, rtt[j] = rv ? VEC : MPI_INT, rd[j] = 5 * j * (int)sizeof(int);
        }
        int *s = ints(5 * size), *r = ints(5 * size);
        FOR_ITERS {
            for (int j = 0; j < size; j++)
                for (int k = 0; k < 5; k++) s[5 * j + k] = val(rank * 50 + j, k);
            for (int i = 0; i < 5 * size; i++) r[i] = ip ? s[i] : -1;
            FORMS(Alltoallw, Ialltoallw, , ip ? MPI_IN_PLACE : s, sc, sd, stt, r, rc, rd, rtt, C);
            for (int j = 0; j < size; j++) {
                /* what j sent me: its block for me, as VEC (items 0,2,4) or the first 3 ints */
                int sv = (j + 2 * rank) % 2;
                if (ip) sv = (j + 2 * rank) % 2;
                int got[3];
                for (int k = 0; k < 3; k++) got[k] = val(j * 50 + rank, sv ? 2 * k : k);
                int rv = ip ? (rank + 2 * j) % 2 : (j + rank + 1) % 2;
                for (int k = 0; k < 3; k++) CHECK(r[5 * j + (rv ? 2 * k : k)] == got[k]);
            }
        }
        DONE();
        free(sc), free(sd), free(rc), free(rd), free(stt), free(rtt), free(s), free(r);
    }
}

/* ------------------------------------------------------------------ neighbourhood (a periodic ring) */

static void t_neighbor(void) {
    MPI_Comm ring;
    int dims[1] = {size}, periods[1] = {1};
    CHECK(MPI_Cart_create(C, 1, dims, periods, 0, &ring) == MPI_SUCCESS);
    int left = (rank + size - 1) % size, right = (rank + 1) % size;
    FOR_FORMS {
        int s[4], r[8];
        FOR_ITERS {
            for (int i = 0; i < 4; i++) s[i] = val(rank, i);
            for (int i = 0; i < 8; i++) r[i] = -1;
            MPI_Comm C0 = C;
            C = ring;
            FORMS(Neighbor_allgather, Ineighbor_allgather, , s, 4, MPI_INT, r, 4, MPI_INT, C);
            for (int i = 0; i < 4; i++) CHECK(r[i] == val(left, i) && r[4 + i] == val(right, i));
            /* alltoall: block 0 goes left, block 1 right */
            int a[4] = {val(rank, 0), val(rank, 1), val(rank, 2), val(rank, 3)};
            FORMS(Neighbor_alltoall, Ineighbor_alltoall, , a, 2, MPI_INT, r, 2, MPI_INT, C);
            CHECK(r[0] == val(left, 2) && r[1] == val(left, 3) && r[2] == val(right, 0) && r[3] == val(right, 1));
            int sc[2] = {1, 2}, sd[2] = {3, 0}, rc[2] = {2, 1}, rd[2] = {0, 5};
            for (int i = 0; i < 8; i++) r[i] = -1;
            FORMS(Neighbor_alltoallv, Ineighbor_alltoallv, , a, sc, sd, MPI_INT, r, rc, rd, MPI_INT, C);
            CHECK(r[0] == val(left, 0) && r[1] == val(left, 1) && r[2] == -1 && r[5] == val(right, 3));
            MPI_Aint bsd[2] = {0, 2 * sizeof(int)}, brd[2] = {4 * sizeof(int), 0};
            MPI_Datatype ty[2] = {MPI_INT, MPI_INT};
            int wc[2] = {2, 2};
            for (int i = 0; i < 8; i++) r[i] = -1;
            FORMS(Neighbor_alltoallw, Ineighbor_alltoallw, , a, wc, bsd, ty, r, wc, brd, ty, C);
            CHECK(r[4] == val(left, 2) && r[5] == val(left, 3) && r[0] == val(right, 0) && r[1] == val(right, 1));
            C = C0;
        }
        DONE();
    }
    CHECK(MPI_Comm_free(&ring) == MPI_SUCCESS);
}

/* ------------------------------------------------------------------ intercommunicator */

static void t_inter(void) {
    if (size < 2) return;
    int half = size / 2, low = rank < half;
    MPI_Comm local, ic;
    CHECK(MPI_Comm_split(MPI_COMM_WORLD, low, rank, &local) == MPI_SUCCESS);
    CHECK(MPI_Intercomm_create(local, 0, MPI_COMM_WORLD, low ? half : 0, 77, &ic) == MPI_SUCCESS);
    int lr, ln, rn;
    MPI_Comm_rank(local, &lr);
    MPI_Comm_size(local, &ln);
    MPI_Comm_remote_size(ic, &rn);
    int rbase = low ? half : 0; /* world rank of remote rank 0 */
    C = ic;
    FOR_FORMS {
        FOR_ITERS FORMS(Barrier, Ibarrier, , C);
        DONE();
        /* bcast from every root of each group */
        for (int g = 0; g < 2; g++)
            for (int root = 0; root < (g ? size - half : half); root++) {
                int b[5], in_root_group = (g == 0) == low, me_root = in_root_group && lr == root;
                int rt = in_root_group ? (me_root ? MPI_ROOT : MPI_PROC_NULL) : root;
                FOR_ITERS {
                    for (int i = 0; i < 5; i++) b[i] = me_root ? val(root, i) : -1;
                    FORMS(Bcast, Ibcast, , b, 5, MPI_INT, rt, C);
                    if (!in_root_group)
                        for (int i = 0; i < 5; i++) CHECK(b[i] == val(root, i));
                    else if (!me_root)
                        for (int i = 0; i < 5; i++) CHECK(b[i] == -1);
                }
                DONE();
            }
        /* allreduce: each group gets the other's sum */
        int s[6], r[6];
        FOR_ITERS {
            for (int i = 0; i < 6; i++) s[i] = val(rank, i), r[i] = -1;
            FORMS(Allreduce, Iallreduce, , s, r, 6, MPI_INT, MPI_SUM, C);
            for (int i = 0; i < 6; i++) {
                int want = 0;
                for (int q = 0; q < rn; q++) want += val(rbase + q, i);
                CHECK(r[i] == want);
            }
        }
        DONE();
        /* reduce to rank 0 of the high group, non-commutative when allowed */
        if (noncomm_ok("REDUCE")) {
            unsigned m[8], o[8];
            int rt = low ? 0 : (lr == 0 ? MPI_ROOT : MPI_PROC_NULL);
            FOR_ITERS {
                for (int k = 0; k < 2; k++) mat_of(rank, k, m + 4 * k);
                FORMS(Reduce, Ireduce, , m, o, 2, MAT, MATMUL, rt, C);
                if (rt == MPI_ROOT)
                    for (int k = 0; k < 2; k++) {
                        unsigned w[4];
                        mat_ref(0, half, k, w);
                        CHECK(memcmp(w, o + 4 * k, sizeof w) == 0);
                    }
            }
            DONE();
        }
        /* allgather(v), alltoall, gather, scatter across */
        int *g = ints(3 * rn), *a = ints(3 * rn), *b = ints(3 * rn);
        FOR_ITERS {
            for (int i = 0; i < 3; i++) s[i] = val(rank, i);
            FORMS(Allgather, Iallgather, , s, 3, MPI_INT, g, 3, MPI_INT, C);
            for (int i = 0; i < 3 * rn; i++) CHECK(g[i] == val(rbase + i / 3, i % 3));
            int *cs = ints(rn), *ds = ints(rn), tot = 0;
            for (int q = rn - 1; q >= 0; q--) cs[q] = (rbase + q) % 3, ds[q] = tot, tot += cs[q];
            for (int i = 0; i < 3 * rn; i++) g[i] = -1;
            FORMS(Allgatherv, Iallgatherv, , s, rank % 3, MPI_INT, g, cs, ds, MPI_INT, C);
            for (int q = 0; q < rn; q++)
                for (int i = 0; i < cs[q]; i++) CHECK(g[ds[q] + i] == val(rbase + q, i));
            free(cs);
            free(ds);
            for (int i = 0; i < 3 * rn; i++) a[i] = val(rank * 50 + rbase + i / 3, i % 3);
            FORMS(Alltoall, Ialltoall, , a, 3, MPI_INT, b, 3, MPI_INT, C);
            for (int i = 0; i < 3 * rn; i++) CHECK(b[i] == val((rbase + i / 3) * 50 + rank, i % 3));
            /* gather to and scatter from rank 0 of the low group */
            int rt = low ? (lr == 0 ? MPI_ROOT : MPI_PROC_NULL) : 0;
            for (int i = 0; i < 3 * rn; i++) g[i] = -1;
            FORMS(Gather, Igather, , s, 3, MPI_INT, g, 3, MPI_INT, rt, C);
            if (rt == MPI_ROOT)
                for (int i = 0; i < 3 * rn; i++) CHECK(g[i] == val(rbase + i / 3, i % 3));
            for (int i = 0; i < 3 * rn; i++) a[i] = val(300 + i / 3, i % 3);
            for (int i = 0; i < 3; i++) r[i] = -1;
            FORMS(Scatter, Iscatter, , a, 3, MPI_INT, r, 3, MPI_INT, rt, C);
            if (!low)
                for (int i = 0; i < 3; i++) CHECK(r[i] == val(300 + lr, i));
        }
        DONE();
        /* reduce_scatter_block: each side's vectors have ln*rn ints; this group gets rn each */
        int *v = ints(ln * rn), *o = ints(rn);
        FOR_ITERS {
            for (int i = 0; i < ln * rn; i++) v[i] = val(rank, i);
            FORMS(Reduce_scatter_block, Ireduce_scatter_block, , v, o, rn, MPI_INT, MPI_SUM, C);
            for (int i = 0; i < rn; i++) {
                int want = 0;
                for (int q = 0; q < rn; q++) want += val(rbase + q, lr * rn + i);
                CHECK(o[i] == want);
            }
        }
        DONE();
        free(v), free(o), free(g), free(a), free(b);
    }
    /* MPI_IN_PLACE is refused where the standard does not allow it (every
     * process fails before sending anything, so the next call still matches). */
    CHECK(MPI_Comm_set_errhandler(ic, MPI_ERRORS_RETURN) == MPI_SUCCESS);
    int g3[3 * 16], cls = 0;
    int rc = MPI_Allgather(MPI_IN_PLACE, 3, MPI_INT, g3, 3, MPI_INT, ic);
    MPI_Error_class(rc, &cls);
    CHECK(rc != MPI_SUCCESS && cls == MPI_ERR_BUFFER);
    CHECK(MPI_Barrier(ic) == MPI_SUCCESS);
    C = MPI_COMM_WORLD;
    CHECK(MPI_Comm_free(&ic) == MPI_SUCCESS);
    CHECK(MPI_Comm_free(&local) == MPI_SUCCESS);
}

/* ------------------------------------------------------------------ many in flight */

#define NOPS 48

static void t_many_in_flight(void) {
    MPI_Comm comms[4];
    comms[0] = MPI_COMM_WORLD;
    CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comms[1]) == MPI_SUCCESS);
    CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comms[2]) == MPI_SUCCESS);
    CHECK(MPI_Comm_split(MPI_COMM_WORLD, rank % 2, -rank, &comms[3]) == MPI_SUCCESS);
    for (int round = 0; round < 2; round++) {
        /* round 0: all on one communicator; round 1: spread over four */
        MPI_Request req[NOPS];
        int *buf[NOPS], *in[NOPS], kind[NOPS], len[NOPS], csize[NOPS], crank[NOPS];
        MPI_Comm on[NOPS];
        for (int k = 0; k < NOPS; k++) {
            MPI_Comm c = round ? comms[k % 4] : MPI_COMM_WORLD;
            int cs, cr;
            MPI_Comm_size(c, &cs);
            MPI_Comm_rank(c, &cr);
            on[k] = c, csize[k] = cs, crank[k] = cr, kind[k] = k % 4;
            len[k] = 1 + (k * 37) % (k % 5 == 0 ? 5000 : 20);
            int n = len[k] * cs;
            in[k] = ints(n);
            buf[k] = ints(n);
            for (int i = 0; i < n; i++) in[k][i] = (k + 1) * 100000 + cr * 1000 + i;
            switch (kind[k]) {
            case 0: CHECK(MPI_Iallreduce(in[k], buf[k], len[k], MPI_INT, MPI_SUM, c, &req[k]) == MPI_SUCCESS); break;
            case 1:
                if (cr == k % cs) memcpy(buf[k], in[k], len[k] * sizeof(int));
                CHECK(MPI_Ibcast(buf[k], len[k], MPI_INT, k % cs, c, &req[k]) == MPI_SUCCESS);
                break;
            case 2: CHECK(MPI_Ialltoall(in[k], len[k], MPI_INT, buf[k], len[k], MPI_INT, c, &req[k]) == MPI_SUCCESS); break;
            default: CHECK(MPI_Iallgather(in[k], len[k], MPI_INT, buf[k], len[k], MPI_INT, c, &req[k]) == MPI_SUCCESS);
            }
        }
        /* complete in an order unrelated to the start order */
        int left = NOPS;
        while (left > 0) {
            int idx;
            CHECK(MPI_Waitany(NOPS, req, &idx, MPI_STATUS_IGNORE) == MPI_SUCCESS);
            CHECK(idx != MPI_UNDEFINED);
            left--;
        }
        for (int k = 0; k < NOPS; k++) {
            int cs = csize[k], cr = crank[k], n = len[k];
            for (int i = 0; i < n * (kind[k] >= 2 ? cs : 1); i++) {
                int want;
                switch (kind[k]) {
                case 0:
                    want = 0;
                    for (int q = 0; q < cs; q++) want += (k + 1) * 100000 + q * 1000 + i;
                    break;
                case 1: want = (k + 1) * 100000 + (k % cs) * 1000 + i; break;
                case 2: want = (k + 1) * 100000 + (i / n) * 1000 + cr * n + i % n; break;
                default: want = (k + 1) * 100000 + (i / n) * 1000 + i % n;
                }
                CHECK(buf[k][i] == want);
            }
            free(buf[k]);
            free(in[k]);
        }
        (void)on;
    }
    for (int i = 1; i < 4; i++) CHECK(MPI_Comm_free(&comms[i]) == MPI_SUCCESS);
}

/* ------------------------------------------------------------------ nonblocking send-receive */

static void t_isendrecv(void) {
    int right = (rank + 1) % size, left = (rank + size - 1) % size;
    int s[10], r[10];
    for (int i = 0; i < 10; i++) s[i] = val(rank, i), r[i] = -1;
    MPI_Request q[2];
    MPI_Status st;
    /* strided send into a dense receive, and the replace form, both in flight at once */
    CHECK(MPI_Isendrecv(s, 2, VEC, right, 5, r, 6, MPI_INT, left, 5, MPI_COMM_WORLD, &q[0]) == MPI_SUCCESS);
    int x[10];
    for (int i = 0; i < 10; i++) x[i] = val(rank + 7, i);
    CHECK(MPI_Isendrecv_replace(x, 2, VEC, left, 6, right, 6, MPI_COMM_WORLD, &q[1]) == MPI_SUCCESS);
    CHECK(MPI_Wait(&q[0], &st) == MPI_SUCCESS);
    int cnt;
    MPI_Get_count(&st, MPI_INT, &cnt);
    CHECK(st.MPI_SOURCE == left && st.MPI_TAG == 5 && cnt == 6);
    for (int k = 0; k < 6; k++) CHECK(r[k] == val(left, (k / 3) * 5 + (k % 3) * 2));
    CHECK(MPI_Wait(&q[1], &st) == MPI_SUCCESS);
    for (int i = 0; i < 10; i++) CHECK(x[i] == ((i % 5) % 2 == 0 ? val(right + 7, i) : val(rank + 7, i)));
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    C = MPI_COMM_WORLD;
    CHECK(MPI_Type_vector(3, 1, 2, MPI_INT, &VEC) == MPI_SUCCESS);
    MPI_Datatype v0 = VEC;
    CHECK(MPI_Type_create_resized(v0, 0, 5 * sizeof(int), &VEC) == MPI_SUCCESS);
    CHECK(MPI_Type_free(&v0) == MPI_SUCCESS);
    CHECK(MPI_Type_commit(&VEC) == MPI_SUCCESS);
    CHECK(MPI_Type_contiguous(4, MPI_UNSIGNED, &MAT) == MPI_SUCCESS);
    CHECK(MPI_Type_commit(&MAT) == MPI_SUCCESS);
    CHECK(MPI_Op_create(matmul_fn, 0, &MATMUL) == MPI_SUCCESS);

    t_barrier();
    t_bcast();
    t_reduce();
    t_allreduce();
    t_scans();
    t_reduce_scatter();
    t_gather_scatter();
    t_allgather();
    t_alltoall();
    t_neighbor();
    t_inter();
    t_many_in_flight();
    t_isendrecv();

    CHECK(MPI_Op_free(&MATMUL) == MPI_SUCCESS);
    CHECK(MPI_Type_free(&VEC) == MPI_SUCCESS);
    CHECK(MPI_Type_free(&MAT) == MPI_SUCCESS);
    if (rank == 0) printf("coll_matrix OK\n");
    MPI_Finalize();
    return 0;
}
