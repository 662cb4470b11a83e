/* Derived datatypes: vector send/receive, struct, pack/unpack round trips, envelope/contents, external32. */
#include "check.h"

int main(int argc, char **argv) {
    int rank, size, i;
    MPI_Datatype vec, st, dup;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    /* every other double of 8: 4 doubles, extent 7 doubles */
    MPI_Type_vector(4, 1, 2, MPI_DOUBLE, &vec);
    MPI_Type_commit(&vec);
    {
        int s;
        MPI_Aint lb, ext;
        MPI_Type_size(vec, &s);
        MPI_Type_get_extent(vec, &lb, &ext);
        CHECK(s == 32 && lb == 0 && ext == 56);
    }
    if (size >= 2 && rank < 2) {
        double a[8];
        MPI_Status stt;
        int n;
        for (i = 0; i < 8; i++) a[i] = rank == 0 ? i : -1;
        if (rank == 0) MPI_Send(a, 1, vec, 1, 0, MPI_COMM_WORLD);
        else {
            MPI_Recv(a, 1, vec, 0, 0, MPI_COMM_WORLD, &stt);
            for (i = 0; i < 8; i++) CHECK(a[i] == (i % 2 ? -1 : i));
            MPI_Get_count(&stt, vec, &n);
            CHECK(n == 1);
            MPI_Get_elements(&stt, MPI_DOUBLE, &n);
            CHECK(n == 4);
        }
        /* nonblocking, received as plain doubles */
        if (rank == 0) {
            MPI_Request r;
            MPI_Isend(a, 1, vec, 1, 1, MPI_COMM_WORLD, &r);
            MPI_Wait(&r, MPI_STATUS_IGNORE);
        } else {
            double b[4];
            MPI_Request r;
            MPI_Irecv(b, 4, MPI_DOUBLE, 0, 1, MPI_COMM_WORLD, &r);
            MPI_Wait(&r, MPI_STATUS_IGNORE);
            CHECK(b[0] == 0 && b[1] == 2 && b[3] == 6);
        }
    }
    /* bcast and allreduce of a vector type */
    {
        double a[8], r[8];
        for (i = 0; i < 8; i++) a[i] = rank == 0 ? i : 100 + i;
        MPI_Bcast(a, 1, vec, 0, MPI_COMM_WORLD);
        for (i = 0; i < 8; i += 2) CHECK(a[i] == i);
        for (i = 0; i < 8; i++) r[i] = -5;
        MPI_Allreduce(a, r, 1, vec, MPI_SUM, MPI_COMM_WORLD);
        for (i = 0; i < 8; i++) CHECK(r[i] == (i % 2 ? -5 : i * size));
    }
    /* struct {int; double} with pack / unpack */
    {
        struct { int i; double d; } in = {7, 2.5}, back = {0, 0};
        int bl[2] = {1, 1}, pos = 0, psize;
        MPI_Aint disp[2], base;
        MPI_Datatype types[2] = {MPI_INT, MPI_DOUBLE};
        char buf[64];
        MPI_Get_address(&in, &base);
        MPI_Get_address(&in.i, &disp[0]);
        MPI_Get_address(&in.d, &disp[1]);
        disp[0] -= base;
        disp[1] -= base;
        MPI_Type_create_struct(2, bl, disp, types, &st);
        MPI_Type_commit(&st);
        MPI_Pack_size(1, st, MPI_COMM_WORLD, &psize);
        CHECK(psize >= 12);
        MPI_Pack(&in, 1, st, buf, sizeof buf, &pos, MPI_COMM_WORLD);
        CHECK(pos == 12);
        pos = 0;
        MPI_Unpack(buf, sizeof buf, &pos, &back, 1, st, MPI_COMM_WORLD);
        CHECK(back.i == 7 && back.d == 2.5 && pos == 12);
    }
    /* envelope and contents */
    {
        int ni, na, nd, comb, ints[4];
        MPI_Aint addrs[2];
        MPI_Datatype ts[2];
        MPI_Type_get_envelope(vec, &ni, &na, &nd, &comb);
        CHECK(comb == MPI_COMBINER_VECTOR && ni == 3 && na == 0 && nd == 1);
        MPI_Type_get_contents(vec, 4, 2, 2, ints, addrs, ts);
        CHECK(ints[0] == 4 && ints[1] == 1 && ints[2] == 2 && ts[0] == MPI_DOUBLE);
        MPI_Type_get_envelope(MPI_INT, &ni, &na, &nd, &comb);
        CHECK(comb == MPI_COMBINER_NAMED);
        MPI_Type_dup(vec, &dup);
        MPI_Type_get_envelope(dup, &ni, &na, &nd, &comb);
        CHECK(comb == MPI_COMBINER_DUP);
        MPI_Type_free(&dup);
    }
    /* external32 is big-endian */
    {
        int v = 0x01020304, back = 0;
        unsigned char ext[4];
        MPI_Aint pos = 0;
        MPI_Pack_external("external32", &v, 1, MPI_INT, ext, 4, &pos);
        CHECK(pos == 4 && ext[0] == 1 && ext[3] == 4);
        pos = 0;
        MPI_Unpack_external("external32", ext, 4, &pos, &back, 1, MPI_INT);
        CHECK(back == v);
    }
    /* MINLOC on MPI_DOUBLE_INT (size 12, extent 16) */
    {
        struct { double v; int i; } in[2] = {{(double)rank, rank}, {(double)-rank, rank}}, out[2];
        MPI_Allreduce(in, out, 2, MPI_DOUBLE_INT, MPI_MINLOC, MPI_COMM_WORLD);
        CHECK(out[0].v == 0 && out[0].i == 0 && out[1].v == -(size - 1) && out[1].i == size - 1);
    }
    MPI_Type_free(&vec);
    MPI_Type_free(&st);
    CHECK(vec == MPI_DATATYPE_NULL);
    MPI_Finalize();
    if (rank == 0) printf("types OK\n");
    return 0;
}
