/* The sessions model alone: no MPI_Init; the last MPI_Session_finalize ends MPI. */
#include "check.h"

int main(void) {
    MPI_Session s;
    MPI_Group g;
    MPI_Comm c;
    int rank, size, sum, flag;
    CHECK(MPI_Session_init(MPI_INFO_NULL, MPI_ERRORS_RETURN, &s) == MPI_SUCCESS);
    MPI_Group_from_session_pset(s, "mpi://WORLD", &g);
    MPI_Comm_create_from_group(g, "rmpi.test.session-only", MPI_INFO_NULL, MPI_ERRORS_RETURN, &c);
    MPI_Group_free(&g);
    MPI_Comm_rank(c, &rank);
    MPI_Comm_size(c, &size);
    MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, c);
    CHECK(sum == size * (size - 1) / 2);
    MPI_Comm_free(&c);
    MPI_Session_finalize(&s);
    MPI_Finalized(&flag);
    CHECK(flag);
    if (rank == 0) printf("session_only OK\n");
    return 0;
}
