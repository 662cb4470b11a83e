/* Generalized requests, Comm_create_group, neighbourhood collectives on a periodic ring. */
#include "check.h"

static int queried, freed;

static int query_fn(void *extra, MPI_Status *st) {
    queried++;
    MPI_Status_set_elements(st, MPI_INT, *(int *)extra);
    MPI_Status_set_cancelled(st, 0);
    st->MPI_SOURCE = MPI_UNDEFINED;
    st->MPI_TAG = MPI_UNDEFINED;
    return MPI_SUCCESS;
}
static int free_fn(void *extra) { (void)extra; freed++; return MPI_SUCCESS; }
static int cancel_fn(void *extra, int complete) { (void)extra; (void)complete; return MPI_SUCCESS; }

int main(int argc, char **argv) {
    int rank, size, i;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    { /* generalized request */
        MPI_Request r;
        MPI_Status st;
        int n = 3, flag, count;
        MPI_Grequest_start(query_fn, free_fn, cancel_fn, &n, &r);
        MPI_Test(&r, &flag, MPI_STATUS_IGNORE);
        CHECK(!flag && r != MPI_REQUEST_NULL);
        MPI_Grequest_complete(r);
        MPI_Wait(&r, &st);
        CHECK(r == MPI_REQUEST_NULL && queried == 1 && freed == 1);
        MPI_Get_count(&st, MPI_INT, &count);
        CHECK(count == 3);
    }
    { /* the even ranks make a communicator among themselves */
        MPI_Group world, evens;
        MPI_Comm ec = MPI_COMM_NULL;
        int n = (size + 1) / 2, *ranks = malloc(sizeof(int) * n);
        for (i = 0; i < n; i++) ranks[i] = 2 * i;
        MPI_Comm_group(MPI_COMM_WORLD, &world);
        MPI_Group_incl(world, n, ranks, &evens);
        if (rank % 2 == 0) {
            int s, r, sum;
            MPI_Comm_create_group(MPI_COMM_WORLD, evens, 9, &ec);
            MPI_Comm_size(ec, &s);
            MPI_Comm_rank(ec, &r);
            CHECK(s == n && r == rank / 2);
            MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, ec);
            CHECK(sum == n * (n - 1));
            MPI_Comm_free(&ec);
        }
        MPI_Group_free(&evens);
        MPI_Group_free(&world);
        free(ranks);
    }
    { /* neighbours on a periodic ring */
        MPI_Comm ring;
        int dims[1] = {size}, periods[1] = {1}, got[2], send[2];
        MPI_Cart_create(MPI_COMM_WORLD, 1, dims, periods, 0, &ring);
        MPI_Neighbor_allgather(&rank, 1, MPI_INT, got, 1, MPI_INT, ring);
        CHECK(got[0] == (rank + size - 1) % size && got[1] == (rank + 1) % size);
        send[0] = rank * 10;     /* to the -1 side */
        send[1] = rank * 10 + 1; /* to the +1 side */
        MPI_Neighbor_alltoall(send, 1, MPI_INT, got, 1, MPI_INT, ring);
        /* from my -1 neighbour comes what it sent to its +1 side, and vice versa */
        CHECK(got[0] == ((rank + size - 1) % size) * 10 + 1 && got[1] == ((rank + 1) % size) * 10);
        MPI_Comm_free(&ring);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Finalize();
    if (rank == 0) printf("extra OK\n");
    return 0;
}
