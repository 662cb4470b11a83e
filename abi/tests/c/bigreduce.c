/* Large blocking allreduce, and reduce, on one node (runtime/src/shmcoll/bigreduce.rs,
 * the chunked pipeline through the shared area) and around its limits:
 * sums of 1-, 4- and 8-byte items, MAXLOC on a pair type, a
 * non-commutative user op (16-byte items), in place and not, sizes on
 * both sides of the small path's limit (16 KiB) and of the chunk sizes
 * (128 and 256 KiB), odd counts; many calls in a row mixed with bcast,
 * barrier and small allreduce, on the world and on a reversed
 * communicator; MPI_Reduce (which takes the same path at every size) to
 * every root. Values only: the same program passes with the path forced
 * off and over TCP. */
#include <stdint.h>

#include "check.h"
#include "matop.h"

static MPI_Datatype mat_type;
static MPI_Op mat_mpi_op;

static void check_mat(MPI_Comm comm, long count, int in_place) {
    int r, n;
    MPI_Comm_rank(comm, &r);
    MPI_Comm_size(comm, &n);
    mat *s = malloc(sizeof(mat) * (count + 1)), *o = malloc(sizeof(mat) * (count + 1));
    for (long i = 0; i < count; i++) s[i] = mat_of(r, i);
    if (in_place) {
        memcpy(o, s, sizeof(mat) * count);
        CHECK(MPI_Allreduce(MPI_IN_PLACE, o, count, mat_type, mat_mpi_op, comm) == MPI_SUCCESS);
    } else {
        CHECK(MPI_Allreduce(s, o, count, mat_type, mat_mpi_op, comm) == MPI_SUCCESS);
    }
    for (long i = 0; i < count; i++) {
        mat want = mat_of(0, i);
        for (int q = 1; q < n; q++) want = mat_mul(want, mat_of(q, i));
        CHECK(o[i].a == want.a && o[i].b == want.b && o[i].c == want.c && o[i].d == want.d);
    }
    free(s);
    free(o);
}

static void check_bytes(MPI_Comm comm, long count, int in_place) {
    int r, n;
    MPI_Comm_rank(comm, &r);
    MPI_Comm_size(comm, &n);
    unsigned char *s = malloc(count + 1), *o = malloc(count + 1);
    for (long i = 0; i < count; i++) s[i] = (unsigned char)(i * 7 + r * 31);
    if (in_place) {
        memcpy(o, s, count);
        CHECK(MPI_Allreduce(MPI_IN_PLACE, o, count, MPI_UNSIGNED_CHAR, MPI_SUM, comm) == MPI_SUCCESS);
    } else {
        CHECK(MPI_Allreduce(s, o, count, MPI_UNSIGNED_CHAR, MPI_SUM, comm) == MPI_SUCCESS);
    }
    for (long i = 0; i < count; i++) {
        unsigned char w = 0;
        for (int q = 0; q < n; q++) w += (unsigned char)(i * 7 + q * 31);
        CHECK(o[i] == w);
    }
    free(s);
    free(o);
}

static void check_ints(MPI_Comm comm, long count, int in_place) {
    int r, n;
    MPI_Comm_rank(comm, &r);
    MPI_Comm_size(comm, &n);
    int32_t *s = malloc(4 * (count + 1)), *o = malloc(4 * (count + 1));
    for (long i = 0; i < count; i++) s[i] = (int32_t)(i * 3 - r * 1000);
    if (in_place) {
        memcpy(o, s, 4 * count);
        CHECK(MPI_Allreduce(MPI_IN_PLACE, o, count, MPI_INT32_T, MPI_SUM, comm) == MPI_SUCCESS);
    } else {
        CHECK(MPI_Allreduce(s, o, count, MPI_INT32_T, MPI_SUM, comm) == MPI_SUCCESS);
    }
    for (long i = 0; i < count; i++) CHECK(o[i] == (int32_t)(n * i * 3 - 1000 * n * (n - 1) / 2));
    free(s);
    free(o);
}

static void check_doubles(MPI_Comm comm, long count, int in_place, int round) {
    int r, n;
    MPI_Comm_rank(comm, &r);
    MPI_Comm_size(comm, &n);
    double *s = malloc(8 * (count + 1)), *o = malloc(8 * (count + 1));
    for (long i = 0; i < count; i++) s[i] = r + 0.5 * i + round;
    if (in_place) {
        memcpy(o, s, 8 * count);
        CHECK(MPI_Allreduce(MPI_IN_PLACE, o, count, MPI_DOUBLE, MPI_SUM, comm) == MPI_SUCCESS);
    } else {
        CHECK(MPI_Allreduce(s, o, count, MPI_DOUBLE, MPI_SUM, comm) == MPI_SUCCESS);
    }
    for (long i = 0; i < count; i++) CHECK(o[i] == n * (n - 1) / 2.0 + n * (0.5 * i + round));
    free(s);
    free(o);
}

static void check_maxloc(MPI_Comm comm, long count, int in_place) {
    int r, n;
    MPI_Comm_rank(comm, &r);
    MPI_Comm_size(comm, &n);
    int *s = malloc(8 * (count + 1)), *o = malloc(8 * (count + 1));
    for (long i = 0; i < count; i++) {
        s[2 * i] = (int)((r * 5 + i) % n);
        s[2 * i + 1] = r;
    }
    if (in_place) {
        memcpy(o, s, 8 * count);
        CHECK(MPI_Allreduce(MPI_IN_PLACE, o, count, MPI_2INT, MPI_MAXLOC, comm) == MPI_SUCCESS);
    } else {
        CHECK(MPI_Allreduce(s, o, count, MPI_2INT, MPI_MAXLOC, comm) == MPI_SUCCESS);
    }
    for (long i = 0; i < count; i++) {
        int best = -1, at = -1;
        for (int q = 0; q < n; q++)
            if ((int)((q * 5 + i) % n) > best) best = (int)((q * 5 + i) % n), at = q;
        CHECK(o[2 * i] == best && o[2 * i + 1] == at);
    }
    free(s);
    free(o);
}

/* MPI_Reduce of doubles (sum) and of matrices (non-commutative) to `root`,
 * in place at the root or not; the other ranks' receive buffers stay
 * untouched. */
static void check_reduce(MPI_Comm comm, long count, int root, int in_place) {
    int r, n;
    MPI_Comm_rank(comm, &r);
    MPI_Comm_size(comm, &n);
    double *s = malloc(8 * (count + 1)), *o = malloc(8 * (count + 1));
    for (long i = 0; i < count; i++) s[i] = r * 3 + 0.25 * i;
    for (long i = 0; i < count; i++) o[i] = -1.0;
    if (in_place && r == root) {
        memcpy(o, s, 8 * count);
        CHECK(MPI_Reduce(MPI_IN_PLACE, o, count, MPI_DOUBLE, MPI_SUM, root, comm) == MPI_SUCCESS);
    } else {
        CHECK(MPI_Reduce(s, o, count, MPI_DOUBLE, MPI_SUM, root, comm) == MPI_SUCCESS);
    }
    for (long i = 0; i < count; i++) CHECK(o[i] == (r == root ? 1.5 * n * (n - 1) + n * 0.25 * i : -1.0));
    free(s);
    free(o);
    long mc = count / 2 + 1;
    mat *ms = malloc(sizeof(mat) * mc), *mo = malloc(sizeof(mat) * mc);
    for (long i = 0; i < mc; i++) ms[i] = mat_of(r, i);
    memset(mo, 0, sizeof(mat) * mc);
    if (in_place && r == root) {
        memcpy(mo, ms, sizeof(mat) * mc);
        CHECK(MPI_Reduce(MPI_IN_PLACE, mo, mc, mat_type, mat_mpi_op, root, comm) == MPI_SUCCESS);
    } else {
        CHECK(MPI_Reduce(ms, mo, mc, mat_type, mat_mpi_op, root, comm) == MPI_SUCCESS);
    }
    for (long i = 0; i < mc; i++) {
        if (r != root) {
            CHECK(mo[i].a == 0 && mo[i].d == 0);
            continue;
        }
        mat want = mat_of(0, i);
        for (int q = 1; q < n; q++) want = mat_mul(want, mat_of(q, i));
        CHECK(mo[i].a == want.a && mo[i].b == want.b && mo[i].c == want.c && mo[i].d == want.d);
    }
    free(ms);
    free(mo);
}

static void reduces(MPI_Comm comm) {
    int n;
    MPI_Comm_size(comm, &n);
    long counts[] = {0, 1, 7, 2048, 2049, 16384 / 8 * 3 + 1, 131072 + 3, 524288};
    for (int c = 0; c < 8; c++)
        for (int root = 0; root < n; root += (n > 4 ? 3 : 1))
            for (int ip = 0; ip < 2; ip++) {
                check_reduce(comm, counts[c], root, ip);
                if (c % 2) {
                    /* Mixed with the other collectives. */
                    int v = 1, sum;
                    CHECK(MPI_Allreduce(&v, &sum, 1, MPI_INT, MPI_SUM, comm) == MPI_SUCCESS && sum == n);
                    check_doubles(comm, counts[c], ip, c);
                }
            }
}

static void values(MPI_Comm comm) {
    /* Bytes around the small path's limit and the chunk sizes, and large. */
    long bytes[] = {16384, 16384 + 16, 16384 + 48, 131072 - 16, 131072, 131072 + 16, 262144 - 16,
                    262144, 262144 + 48, 3 * 131072 + 32, 1048576 + 16, 4194304, 4194304 + 4096 + 48};
    int nb = sizeof bytes / sizeof bytes[0];
    for (int b = 0; b < nb; b++)
        for (int ip = 0; ip < 2; ip++) {
            check_doubles(comm, bytes[b] / 8, ip, b);
            check_ints(comm, bytes[b] / 4 + 1, ip);
            check_bytes(comm, bytes[b] + 3, ip);
            check_maxloc(comm, bytes[b] / 8 + 1, ip);
            check_mat(comm, bytes[b] / 16 + 1, ip);
        }
}

/* Many large allreduces in a row, mixed with bcast, barrier and small
 * allreduce on the same communicator. */
static void mixed(MPI_Comm comm) {
    int r, n;
    MPI_Comm_rank(comm, &r);
    MPI_Comm_size(comm, &n);
    long count = 300000 + 5;
    double *s = malloc(8 * count), *o = malloc(8 * count);
    for (int k = 0; k < 40; k++) {
        for (long i = 0; i < count; i++) s[i] = r * 2 + i % 1000 + k;
        CHECK(MPI_Allreduce(s, o, count, MPI_DOUBLE, MPI_SUM, comm) == MPI_SUCCESS);
        for (long i = 0; i < count; i += 997) CHECK(o[i] == n * (n - 1) + n * (double)(i % 1000 + k));
        CHECK(o[count - 1] == n * (n - 1) + n * (double)((count - 1) % 1000 + k));
        if (k % 3 == 0) CHECK(MPI_Barrier(comm) == MPI_SUCCESS);
        if (k % 4 == 1) {
            int v = r == k % n ? k : -1;
            CHECK(MPI_Bcast(&v, 1, MPI_INT, k % n, comm) == MPI_SUCCESS && v == k);
        }
        if (k % 5 == 2) {
            int v = r, sum;
            CHECK(MPI_Allreduce(&v, &sum, 1, MPI_INT, MPI_SUM, comm) == MPI_SUCCESS && sum == n * (n - 1) / 2);
        }
        if (k % 7 == 3) check_mat(comm, 3000 + k, k % 2);
    }
    free(s);
    free(o);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Type_contiguous(4, MPI_UINT32_T, &mat_type);
    MPI_Type_commit(&mat_type);
    MPI_Op_create(mat_op, 0, &mat_mpi_op);
    values(MPI_COMM_WORLD);
    mixed(MPI_COMM_WORLD);
    reduces(MPI_COMM_WORLD);
    MPI_Comm rev;
    MPI_Comm_split(MPI_COMM_WORLD, 0, size - rank, &rev); /* ranks reversed */
    values(rev);
    mixed(rev);
    reduces(rev);
    MPI_Comm_free(&rev);
    MPI_Op_free(&mat_mpi_op);
    MPI_Type_free(&mat_type);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) printf("bigreduce OK\n");
    MPI_Finalize();
    return 0;
}
