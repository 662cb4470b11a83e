/* A window's default error handler is MPI_ERRORS_ARE_FATAL: an access outside
 * the target's window ends the job with a message naming the call. */
#include "check.h"

int main(int argc, char **argv) {
    int mem[4], v = 1;
    MPI_Win win;
    MPI_Init(&argc, &argv);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN); /* the window's own handler applies */
    MPI_Win_create(mem, sizeof mem, sizeof(int), MPI_INFO_NULL, MPI_COMM_WORLD, &win);
    MPI_Win_fence(0, win);
    MPI_Put(&v, 1, MPI_INT, 0, 9, 1, MPI_INT, win);
    printf("still alive\n");
    MPI_Finalize();
    return 0;
}
