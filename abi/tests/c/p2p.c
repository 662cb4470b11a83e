/* Point-to-point: values, statuses, wildcards, truncation, probes, persistent and buffered sends. */
#include "check.h"

int main(int argc, char **argv) {
    int rank, size, i;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    CHECK(size >= 2);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);

    /* every rank sends its rank times 10 to rank 0; rank 0 receives from any source */
    if (rank == 0) {
        int seen = 0;
        for (i = 1; i < size; i++) {
            int v[3];
            MPI_Status st;
            int count;
            CHECK(MPI_Recv(v, 3, MPI_INT, MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &st) == MPI_SUCCESS);
            CHECK(v[0] == st.MPI_SOURCE * 10 && v[1] == -v[0] && v[2] == 7);
            CHECK(st.MPI_TAG == 100 + st.MPI_SOURCE);
            MPI_Get_count(&st, MPI_INT, &count);
            CHECK(count == 3);
            MPI_Get_count(&st, MPI_BYTE, &count);
            CHECK(count == 12);
            seen |= 1 << st.MPI_SOURCE;
        }
        CHECK(seen == ((1 << size) - 2));
    } else {
        int v[3] = {rank * 10, -rank * 10, 7};
        CHECK(MPI_Send(v, 3, MPI_INT, 0, 100 + rank, MPI_COMM_WORLD) == MPI_SUCCESS);
    }
    MPI_Barrier(MPI_COMM_WORLD); /* no later message may match the wildcard receives */

    /* truncation: 4 doubles into room for 2 */
    if (rank == 0) {
        double d[4] = {1, 2, 3, 4};
        MPI_Send(d, 4, MPI_DOUBLE, 1, 5, MPI_COMM_WORLD);
    } else if (rank == 1) {
        double d[2];
        MPI_Status st;
        int rc = MPI_Recv(d, 2, MPI_DOUBLE, 0, 5, MPI_COMM_WORLD, &st);
        int cls;
        MPI_Error_class(rc, &cls);
        CHECK(cls == MPI_ERR_TRUNCATE);
    }

    /* nonblocking ring with waitall, sendrecv, sendrecv_replace */
    {
        int right = (rank + 1) % size, left = (rank + size - 1) % size;
        long out = rank, in = -1;
        MPI_Request r[2];
        MPI_Status sts[2];
        MPI_Irecv(&in, 1, MPI_LONG, left, 1, MPI_COMM_WORLD, &r[0]);
        MPI_Isend(&out, 1, MPI_LONG, right, 1, MPI_COMM_WORLD, &r[1]);
        CHECK(MPI_Waitall(2, r, sts) == MPI_SUCCESS);
        CHECK(in == left && r[0] == MPI_REQUEST_NULL && r[1] == MPI_REQUEST_NULL);
        CHECK(sts[0].MPI_SOURCE == left && sts[0].MPI_TAG == 1);
        in = -1;
        MPI_Sendrecv(&out, 1, MPI_LONG, right, 2, &in, 1, MPI_LONG, left, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        CHECK(in == left);
        out = rank;
        MPI_Sendrecv_replace(&out, 1, MPI_LONG, right, 3, left, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        CHECK(out == left);
    }

    /* probes: iprobe until it arrives, probe, mprobe + mrecv */
    if (rank == 1) {
        short s[5] = {1, 2, 3, 4, 5};
        MPI_Send(s, 5, MPI_SHORT, 0, 9, MPI_COMM_WORLD);
        MPI_Send(s, 2, MPI_SHORT, 0, 10, MPI_COMM_WORLD);
    } else if (rank == 0) {
        int flag = 0, n;
        MPI_Status st;
        short s[5];
        MPI_Message m;
        while (!flag) MPI_Iprobe(1, 9, MPI_COMM_WORLD, &flag, &st);
        MPI_Get_count(&st, MPI_SHORT, &n);
        CHECK(n == 5 && st.MPI_SOURCE == 1 && st.MPI_TAG == 9);
        MPI_Probe(MPI_ANY_SOURCE, 9, MPI_COMM_WORLD, &st);
        MPI_Recv(s, 5, MPI_SHORT, 1, 9, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        CHECK(s[4] == 5);
        MPI_Mprobe(1, 10, MPI_COMM_WORLD, &m, &st);
        MPI_Get_count(&st, MPI_SHORT, &n);
        CHECK(n == 2);
        MPI_Mrecv(s, 2, MPI_SHORT, &m, MPI_STATUS_IGNORE);
        CHECK(m == MPI_MESSAGE_NULL && s[1] == 2);
    }

    /* persistent requests, started twice */
    if (rank < 2) {
        int v = 0, k;
        MPI_Request r;
        if (rank == 0) MPI_Send_init(&v, 1, MPI_INT, 1, 11, MPI_COMM_WORLD, &r);
        else MPI_Recv_init(&v, 1, MPI_INT, 0, 11, MPI_COMM_WORLD, &r);
        for (k = 1; k <= 2; k++) {
            if (rank == 0) v = k * 100;
            MPI_Start(&r);
            MPI_Wait(&r, MPI_STATUS_IGNORE);
            CHECK(r != MPI_REQUEST_NULL);
            if (rank == 1) CHECK(v == k * 100);
        }
        MPI_Request_free(&r);
        CHECK(r == MPI_REQUEST_NULL);
    }

    /* buffered send */
    if (rank < 2) {
        static char buf[1024];
        int v = 42, sz;
        void *b;
        MPI_Buffer_attach(buf, sizeof buf);
        if (rank == 0) MPI_Bsend(&v, 1, MPI_INT, 1, 12, MPI_COMM_WORLD);
        else {
            MPI_Recv(&v, 1, MPI_INT, 0, 12, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            CHECK(v == 42);
        }
        MPI_Buffer_detach(&b, &sz);
        CHECK(b == buf && sz == (int)sizeof buf);
    }

    /* MPI_PROC_NULL completes at once with source PROC_NULL */
    {
        MPI_Status st;
        int v;
        MPI_Recv(&v, 1, MPI_INT, MPI_PROC_NULL, 0, MPI_COMM_WORLD, &st);
        CHECK(st.MPI_SOURCE == MPI_PROC_NULL && st.MPI_TAG == MPI_ANY_TAG);
    }

    /* waitany / testany with a null request in the array */
    {
        MPI_Request r[3] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL, MPI_REQUEST_NULL};
        int idx, v = rank, w = -1, flag;
        int right = (rank + 1) % size, left = (rank + size - 1) % size;
        MPI_Irecv(&w, 1, MPI_INT, left, 13, MPI_COMM_WORLD, &r[1]);
        MPI_Send(&v, 1, MPI_INT, right, 13, MPI_COMM_WORLD);
        MPI_Waitany(3, r, &idx, MPI_STATUS_IGNORE);
        CHECK(idx == 1 && w == left);
        MPI_Testany(3, r, &idx, &flag, MPI_STATUS_IGNORE);
        CHECK(flag && idx == MPI_UNDEFINED);
    }

    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) printf("p2p OK\n");
    MPI_Finalize();
    return 0;
}
