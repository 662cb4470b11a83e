/* Prints the library version: run unchanged on any MPICH-ABI library. */
#include <stdio.h>
#include <mpi.h>

int main(int argc, char **argv) {
    char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int len, rank, size;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Get_library_version(v, &len);
    {
        int sum = 0;
        MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        if (rank == 0) printf("library: %s\nsum: %d of %d ranks\n", v, sum, size);
    }
    MPI_Finalize();
    return 0;
}
