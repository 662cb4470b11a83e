/* A C program for the Slurm tests: every rank prints its rank, the size,
 * its processor name and the sum of all ranks (an allreduce).
 *   rmpicc hello.c -o hello && srun --mpi=pmi2 -n 4 ./hello
 * prints "c rank R of N on HOST sum S" once per rank. */
#include <mpi.h>
#include <stdio.h>

int main(int argc, char **argv) {
  int rank, size, len, sum = 0;
  char name[MPI_MAX_PROCESSOR_NAME];
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Get_processor_name(name, &len);
  MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  printf("c rank %d of %d on %s sum %d\n", rank, size, name, sum);
  MPI_Finalize();
  return 0;
}
