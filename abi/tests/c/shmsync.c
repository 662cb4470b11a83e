/* Long runs of small blocking collectives on the shared-memory path, with
 * ranks arriving late in turn (ranks outnumbering cores at -n 9): no rank
 * leaves a barrier before the last one arrived (checked through a shared
 * window), every allreduce and bcast value is right, and broadcasts that
 * fit in the area's line ring (many more than it holds, the root running
 * ahead) interleave with larger ones and with allreduces. */
#include <sched.h>
#include <stdint.h>

#include "check.h"

static int rank, size;

/* Keep this rank busy for a while (not a wait for anything: it only makes
 * the others arrive first, and wait, spin or sleep). */
static void be_late(int rounds) {
    for (int k = 0; k < rounds; k++) sched_yield();
}

/* Barriers back to back, one rank late in turn: each rank publishes how
 * many barriers it entered in a shared window, and after each barrier
 * every rank must have entered at least as many. */
static void barriers(MPI_Comm comm, int iters) {
    int r, n;
    MPI_Comm_rank(comm, &r);
    MPI_Comm_size(comm, &n);
    MPI_Win win;
    int64_t *mine;
    MPI_Win_allocate_shared(sizeof(int64_t), sizeof(int64_t), MPI_INFO_NULL, comm, &mine, &win);
    int64_t **slot = malloc(sizeof(int64_t *) * n);
    for (int q = 0; q < n; q++) {
        MPI_Aint sz;
        int du;
        MPI_Win_shared_query(win, q, &sz, &du, &slot[q]);
    }
    __atomic_store_n(mine, 0, __ATOMIC_SEQ_CST);
    MPI_Barrier(comm);
    for (int i = 1; i <= iters; i++) {
        if (i % n == r) be_late(1 + i % 7);
        __atomic_store_n(mine, i, __ATOMIC_SEQ_CST);
        CHECK(MPI_Barrier(comm) == MPI_SUCCESS);
        for (int q = 0; q < n; q++) CHECK(__atomic_load_n(slot[q], __ATOMIC_SEQ_CST) >= i);
    }
    MPI_Barrier(comm);
    free(slot);
    MPI_Win_free(&win);
}

/* Allreduces of one and of seven doubles, sums and maxima, one rank late in turn. */
static void allreduces(MPI_Comm comm, int iters) {
    int r, n;
    MPI_Comm_rank(comm, &r);
    MPI_Comm_size(comm, &n);
    for (int i = 0; i < iters; i++) {
        if (i % n == r) be_late(1 + i % 5);
        double in[7], out[7];
        for (int j = 0; j < 7; j++) in[j] = r + i + j;
        int count = i % 2 ? 7 : 1;
        CHECK(MPI_Allreduce(in, out, count, MPI_DOUBLE, MPI_SUM, comm) == MPI_SUCCESS);
        for (int j = 0; j < count; j++) CHECK(out[j] == (double)n * (n - 1) / 2 + (double)n * (i + j));
        int64_t v = (int64_t)r * 1000 + i, m;
        CHECK(MPI_Allreduce(&v, &m, 1, MPI_INT64_T, MPI_MAX, comm) == MPI_SUCCESS);
        CHECK(m == (int64_t)(n - 1) * 1000 + i);
    }
}

/* Broadcasts from rotating roots: runs of small ones longer than the line
 * ring (the root runs ahead; a late reader has many to consume), sizes on
 * both sides of the 56 bytes a line carries, between allreduces. */
static void bcasts(MPI_Comm comm, int runs) {
    int r, n;
    MPI_Comm_rank(comm, &r);
    MPI_Comm_size(comm, &n);
    static const int sizes[] = {8, 56, 57, 4096};
    char buf[4096];
    for (int run = 0; run < runs; run++) {
        int root = run % n;
        int len = run % 3 == 0 ? 3000 : 40;
        if ((run + 1) % n == r) be_late(3);
        for (int i = 0; i < len; i++) {
            int size_i = sizes[(i + run) % 4];
            if (i % 16 != 0) size_i = 8;
            char fill = (char)(run * 31 + i * 7 + root);
            if (r == root) memset(buf, fill, size_i);
            else memset(buf, 0, size_i);
            CHECK(MPI_Bcast(buf, size_i, MPI_CHAR, root, comm) == MPI_SUCCESS);
            CHECK(buf[0] == fill && buf[size_i - 1] == fill && buf[size_i / 2] == fill);
        }
        int one = 1, total;
        CHECK(MPI_Allreduce(&one, &total, 1, MPI_INT, MPI_SUM, comm) == MPI_SUCCESS);
        CHECK(total == n);
    }
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    barriers(MPI_COMM_WORLD, 3000);
    allreduces(MPI_COMM_WORLD, 2000);
    bcasts(MPI_COMM_WORLD, 12);
    MPI_Comm rev;
    MPI_Comm_split(MPI_COMM_WORLD, 0, size - rank, &rev); /* ranks reversed */
    barriers(rev, 1000);
    bcasts(rev, 6);
    allreduces(rev, 500);
    MPI_Comm_free(&rev);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) printf("shmsync OK\n");
    MPI_Finalize();
    return 0;
}
