/* The blocking alltoall of equal blocks on communicators whose members share
 * a node (the shared-memory path, runtime/src/shmcoll/alltoall.rs) and
 * around it: block sizes on both sides of the inline row (56 bytes), the
 * row (512 KiB, so several pieces per block) and the path's limit (4 MiB),
 * odd sizes, in place and not, dense and non-dense datatypes (different on
 * the two sides), on the world, split and duplicated communicators, many
 * consecutive calls mixed with bcast, allreduce and barrier. The blocking
 * allgather (the same path with one row for all) likewise. Every received
 * byte is checked. */
#include <stdint.h>

#include "check.h"

/* The byte `i` of the block rank `src` sends to rank `dst` in round `round`. */
static unsigned char val(int src, int dst, size_t i, int round) {
    return (unsigned char)(src * 131 + dst * 31 + i * 7 + (i >> 8) * 13 + round * 17 + 1);
}

static void fill(unsigned char *buf, int me, int n, size_t block, int round) {
    for (int d = 0; d < n; d++)
        for (size_t i = 0; i < block; i++) buf[d * block + i] = val(me, d, i, round);
}

static void check_recv(const unsigned char *buf, int me, int n, size_t block, int round) {
    for (int s = 0; s < n; s++)
        for (size_t i = 0; i < block; i++)
            if (buf[s * block + i] != val(s, me, i, round)) {
                fprintf(stderr, "rank %d of %d: block %zu round %d: byte %zu from %d is %d, want %d\n", me, n, block,
                        round, i, s, buf[s * block + i], val(s, me, i, round));
                MPI_Abort(MPI_COMM_WORLD, 3);
            }
}

/* One alltoall of `block` bytes per pair, as bytes, in place or not. */
static void one(MPI_Comm comm, size_t block, int in_place, int round) {
    int me, n;
    MPI_Comm_rank(comm, &me);
    MPI_Comm_size(comm, &n);
    size_t total = block * n;
    unsigned char *s = malloc(total + 1), *r = malloc(total + 1);
    CHECK(s && r);
    r[total] = 0xa5;
    if (in_place) {
        fill(r, me, n, block, round);
        CHECK(MPI_Alltoall(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, r, (int)block, MPI_BYTE, comm) == MPI_SUCCESS);
    } else {
        fill(s, me, n, block, round);
        memset(r, 0, total);
        CHECK(MPI_Alltoall(s, (int)block, MPI_BYTE, r, (int)block, MPI_BYTE, comm) == MPI_SUCCESS);
    }
    check_recv(r, me, n, block, round);
    CHECK(r[total] == 0xa5);
    free(s);
    free(r);
}

/* One allgather of `block` bytes per rank, in place or not. */
static void gather_one(MPI_Comm comm, size_t block, int in_place, int round) {
    int me, n;
    MPI_Comm_rank(comm, &me);
    MPI_Comm_size(comm, &n);
    size_t total = block * n;
    unsigned char *s = malloc(block + 1), *r = malloc(total + 1);
    CHECK(s && r);
    r[total] = 0x5a;
    memset(r, 0, total);
    for (size_t i = 0; i < block; i++) s[i] = val(me, 0, i, round);
    if (in_place) {
        memcpy(r + me * block, s, block);
        CHECK(MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, r, (int)block, MPI_BYTE, comm) == MPI_SUCCESS);
    } else {
        CHECK(MPI_Allgather(s, (int)block, MPI_BYTE, r, (int)block, MPI_BYTE, comm) == MPI_SUCCESS);
    }
    for (int src = 0; src < n; src++)
        for (size_t i = 0; i < block; i++) CHECK(r[src * block + i] == val(src, 0, i, round));
    CHECK(r[total] == 0x5a);
    free(s);
    free(r);
}

/* Allgather of `count` ints, received through a vector type on odd ranks
 * (in place on ranks 1 and 2 mod 4). */
static void gather_typed(MPI_Comm comm, int count, int round) {
    int me, n;
    MPI_Comm_rank(comm, &me);
    MPI_Comm_size(comm, &n);
    int *s = malloc(sizeof(int) * count + 1), *r = malloc(sizeof(int) * 2 * count * n + 1);
    CHECK(s && r);
    for (int i = 0; i < count; i++) s[i] = me * 1000003 + i + round;
    MPI_Datatype t;
    if (me % 2) {
        MPI_Datatype v;
        MPI_Type_vector(count, 1, 2, MPI_INT, &v);
        MPI_Type_create_resized(v, 0, (MPI_Aint)sizeof(int) * 2 * count, &t);
        MPI_Type_free(&v);
    } else {
        MPI_Type_contiguous(count, MPI_INT, &t);
    }
    MPI_Type_commit(&t);
    for (int i = 0; i < 2 * count * n; i++) r[i] = -1;
    int ip = me % 4 == 1 || me % 4 == 2;
    if (ip) {
        for (int i = 0; i < count; i++) {
            if (me % 2) r[me * 2 * count + 2 * i] = s[i];
            else r[me * count + i] = s[i];
        }
        CHECK(MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, r, 1, t, comm) == MPI_SUCCESS);
    } else {
        CHECK(MPI_Allgather(s, count, MPI_INT, r, 1, t, comm) == MPI_SUCCESS);
    }
    for (int src = 0; src < n; src++)
        for (int i = 0; i < count; i++) {
            int got = me % 2 ? r[src * 2 * count + 2 * i] : r[src * count + i];
            CHECK(got == src * 1000003 + i + round);
        }
    MPI_Type_free(&t);
    free(s);
    free(r);
}

/* Blocks of `count` ints sent as MPI_INT and received through a vector
 * type (every other int of a doubled buffer) on odd ranks, as a
 * contiguous type on even ones: the ranks take different dispatches. */
static void typed(MPI_Comm comm, int count, int round) {
    int me, n;
    MPI_Comm_rank(comm, &me);
    MPI_Comm_size(comm, &n);
    int *s = malloc(sizeof(int) * count * n + 1), *r = malloc(sizeof(int) * 2 * count * n + 1);
    CHECK(s && r);
    for (int d = 0; d < n; d++)
        for (int i = 0; i < count; i++) s[d * count + i] = me * 1000003 + d * 1009 + i + round;
    MPI_Datatype t;
    if (me % 2) {
        MPI_Type_vector(count, 1, 2, MPI_INT, &t);
        MPI_Datatype rt;
        MPI_Type_create_resized(t, 0, (MPI_Aint)sizeof(int) * 2 * count, &rt);
        MPI_Type_free(&t);
        t = rt;
    } else {
        MPI_Type_contiguous(count, MPI_INT, &t);
    }
    MPI_Type_commit(&t);
    for (int i = 0; i < 2 * count * n; i++) r[i] = -1;
    CHECK(MPI_Alltoall(s, count, MPI_INT, r, 1, t, comm) == MPI_SUCCESS);
    for (int src = 0; src < n; src++)
        for (int i = 0; i < count; i++) {
            int got = me % 2 ? r[src * 2 * count + 2 * i] : r[src * count + i];
            CHECK(got == src * 1000003 + me * 1009 + i + round);
        }
    MPI_Type_free(&t);
    free(s);
    free(r);
}

static void sizes(MPI_Comm comm, int round) {
    int n;
    MPI_Comm_size(comm, &n);
    size_t row = 512 * 1024;
    size_t per = n > 1 ? row / (n - 1) : row;
    size_t list[] = {0,
                     1,
                     3,
                     8,
                     n > 1 ? 56 / (n - 1) : 56,
                     n > 1 ? 56 / (n - 1) + 1 : 57,
                     64,
                     1000,
                     4097,
                     per - 1,
                     per,
                     per + 1,
                     65536,
                     65537,
                     per / 64 * 64 * 2 + 5,
                     (size_t)1 << 20,
                     (size_t)4 << 20,
                     ((size_t)4 << 20) + 1};
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
        /* keep the largest ones to small communicators (memory, time) */
        if ((list[i] > 600000 && n > 4) || (list[i] > 2000000 && n > 3)) continue;
        one(comm, list[i], 0, round + (int)i);
        one(comm, list[i], 1, round + (int)i + 1);
        gather_one(comm, list[i], 0, round + (int)i);
        gather_one(comm, list[i], 1, round + (int)i + 2);
    }
}

/* Many consecutive small and medium alltoalls mixed with the other
 * shared-memory collectives on the same communicator. */
static void mixed(MPI_Comm comm, int rounds) {
    int me, n;
    MPI_Comm_rank(comm, &me);
    MPI_Comm_size(comm, &n);
    for (int k = 0; k < rounds; k++) {
        size_t block = (size_t[]){8, 1, 24, 700, 8192, 70000}[k % 6];
        one(comm, block, k % 3 == 0, k);
        if (k % 4 == 1) {
            double x = me + k, sum = 0;
            CHECK(MPI_Allreduce(&x, &sum, 1, MPI_DOUBLE, MPI_SUM, comm) == MPI_SUCCESS);
            CHECK(sum == (double)n * (n - 1) / 2 + (double)n * k);
        }
        if (k % 5 == 2) {
            int v[300];
            for (int i = 0; i < 300; i++) v[i] = me == k % n ? k * 7 + i : -1;
            CHECK(MPI_Bcast(v, 300, MPI_INT, k % n, comm) == MPI_SUCCESS);
            for (int i = 0; i < 300; i++) CHECK(v[i] == k * 7 + i);
        }
        if (k % 7 == 3) CHECK(MPI_Barrier(comm) == MPI_SUCCESS);
        if (k % 11 == 5) typed(comm, 3 + k % 5, k);
        if (k % 3 == 1) gather_one(comm, block, k % 2, k);
        if (k % 13 == 7) gather_typed(comm, 2 + k % 7, k);
    }
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    sizes(MPI_COMM_WORLD, 0);
    typed(MPI_COMM_WORLD, 1, 0);
    typed(MPI_COMM_WORLD, 17, 1);
    typed(MPI_COMM_WORLD, 5000, 2);
    gather_typed(MPI_COMM_WORLD, 1, 3);
    gather_typed(MPI_COMM_WORLD, 40000, 4);
    mixed(MPI_COMM_WORLD, 400);

    MPI_Comm half, dup;
    MPI_Comm_split(MPI_COMM_WORLD, rank % 2, size - rank, &half);
    MPI_Comm_dup(MPI_COMM_WORLD, &dup);
    for (int k = 0; k < 3; k++) {
        mixed(half, 60);
        mixed(dup, 60);
    }
    one(half, 65537, 1, 5);
    one(dup, 300001 / (size > 4 ? 8 : 1), 0, 6);
    MPI_Comm_free(&half);
    MPI_Comm_free(&dup);

    CHECK(MPI_Barrier(MPI_COMM_WORLD) == MPI_SUCCESS);
    if (rank == 0) printf("shmalltoall OK\n");
    MPI_Finalize();
    return 0;
}
