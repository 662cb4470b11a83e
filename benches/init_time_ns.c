/* Start-up cost: each rank reads the wall clock right after MPI_Init; rank 0
 * prints the latest of them as `init_end_ns=N` (CLOCK_REALTIME, ns), which
 * benches/startup.sh compares with the time it started the launcher.
 * Built with MPICH's mpicc, so the same binary runs on MPICH and, through
 * LD_LIBRARY_PATH, on rmpi's libmpi.so.12. */
#include <mpi.h>
#include <stdio.h>
#include <time.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long mine = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, latest = 0;
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Reduce(&mine, &latest, 1, MPI_LONG_LONG, MPI_MAX, 0, MPI_COMM_WORLD);
    if (rank == 0) printf("init_end_ns=%lld size=%d\n", latest, size);
    MPI_Finalize();
    return 0;
}
