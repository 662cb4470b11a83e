/* Start-up benchmark program: rank 0 prints the library version and the
 * wall-clock time (CLOCK_REALTIME, seconds since the epoch) at which the last
 * rank finished MPI_Init:  "init_end 1700000000.123456".  Built with rmpicc;
 * the same binary runs on MPICH's libmpi.so.12 through LD_LIBRARY_PATH. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  double t = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec, last = 0;
  int rank, size, len;
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Reduce(&t, &last, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    MPI_Get_library_version(version, &len);
    char *nl = strchr(version, '\n');
    if (nl) *nl = 0;
    printf("library %s\nsize %d\ninit_end %.6f\n", version, size, last);
  }
  MPI_Finalize();
  return 0;
}
