/* The default handler (MPI_ERRORS_ARE_FATAL): an invalid rank ends the job. */
#include "check.h"

int main(int argc, char **argv) {
    int v = 1, size;
    MPI_Init(&argc, &argv);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Send(&v, 1, MPI_INT, size + 3, 0, MPI_COMM_WORLD);
    printf("still alive\n");
    MPI_Finalize();
    return 0;
}
