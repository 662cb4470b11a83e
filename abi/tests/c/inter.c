/* Intercommunicators: create from two halves, p2p across, barrier, bcast, allreduce, merge. */
#include "check.h"

int main(int argc, char **argv) {
    int rank, size, half, color, lrank, lsize, rsize, flag, v, sum;
    MPI_Comm local, ic, merged;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    CHECK(size >= 2);
    half = size / 2;
    color = rank < half ? 0 : 1;
    MPI_Comm_split(MPI_COMM_WORLD, color, rank, &local);
    MPI_Comm_rank(local, &lrank);
    MPI_Intercomm_create(local, 0, MPI_COMM_WORLD, color == 0 ? half : 0, 77, &ic);
    MPI_Comm_test_inter(ic, &flag);
    CHECK(flag);
    MPI_Comm_size(ic, &lsize);
    MPI_Comm_remote_size(ic, &rsize);
    CHECK(lsize == (color == 0 ? half : size - half) && rsize == size - lsize);
    /* leaders talk across */
    if (lrank == 0) {
        int got;
        v = 1000 + color;
        MPI_Sendrecv(&v, 1, MPI_INT, 0, 5, &got, 1, MPI_INT, 0, 5, ic, MPI_STATUS_IGNORE);
        CHECK(got == 1000 + (1 - color));
    }
    MPI_Barrier(ic);
    /* group 0's rank 0 broadcasts to group 1 */
    v = -1;
    if (color == 0) {
        v = 42;
        MPI_Bcast(&v, 1, MPI_INT, lrank == 0 ? MPI_ROOT : MPI_PROC_NULL, ic);
    } else {
        MPI_Bcast(&v, 1, MPI_INT, 0, ic);
        CHECK(v == 42);
    }
    /* each group receives the other's sum */
    v = rank;
    MPI_Allreduce(&v, &sum, 1, MPI_INT, MPI_SUM, ic);
    {
        int want = 0, r;
        for (r = 0; r < size; r++) if ((r < half ? 0 : 1) != color) want += r;
        CHECK(sum == want);
    }
    MPI_Intercomm_merge(ic, color, &merged);
    {
        int mr, ms;
        MPI_Comm_rank(merged, &mr);
        MPI_Comm_size(merged, &ms);
        CHECK(ms == size && mr == rank);
        MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, merged);
        CHECK(sum == size * (size - 1) / 2);
    }
    MPI_Comm_free(&merged);
    MPI_Comm_free(&ic);
    MPI_Comm_free(&local);
    MPI_Finalize();
    if (rank == 0) printf("inter OK\n");
    return 0;
}
