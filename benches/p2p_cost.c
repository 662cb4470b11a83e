/*
 * p2p_cost: instructions of one small blocking MPI_Send and MPI_Recv on the
 * path where nobody waits: a ping-pong paced by the clock (90 ms a round),
 * so each MPI_Recv finds its message already in the queue. Run it under
 * callgrind (benches/p2p_cost.sh) and divide by the iterations.
 *
 *   p2p_cost [SIZE [ITERATIONS]]
 */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static void at(struct timespec t0, long ms) {
  struct timespec t = t0;
  t.tv_sec += ms / 1000;
  t.tv_nsec += (ms % 1000) * 1000000L;
  if (t.tv_nsec >= 1000000000L) { t.tv_sec++; t.tv_nsec -= 1000000000L; }
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, 0);
}
int main(int argc, char **argv) {
  int rank, size = argc > 1 ? atoi(argv[1]) : 8, iters = argc > 2 ? atoi(argv[2]) : 200;
  char buf[65536];
  memset(buf, 1, sizeof buf);
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  long t[2] = {t0.tv_sec, t0.tv_nsec};
  MPI_Bcast(t, 2, MPI_LONG, 0, MPI_COMM_WORLD);
  t0.tv_sec = t[0]; t0.tv_nsec = t[1];
  for (int i = 0; i < iters; i++) {
    long base = 300 + 90L * i;
    if (rank == 0) {
      at(t0, base);
      MPI_Send(buf, size, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
      at(t0, base + 60);
      MPI_Recv(buf, size, MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else {
      at(t0, base + 30);
      MPI_Recv(buf, size, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(buf, size, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
    }
  }
  MPI_Finalize();
  return 0;
}
