/* Collectives with predefined ops on several types, MINLOC/MAXLOC, a user op, in-place forms. */
#include "check.h"

static void user_max_abs(void *in, void *inout, int *len, MPI_Datatype *dt) {
    int i;
    int *a = in, *b = inout;
    (void)dt;
    for (i = 0; i < *len; i++) {
        int x = a[i] < 0 ? -a[i] : a[i], y = b[i] < 0 ? -b[i] : b[i];
        b[i] = x > y ? x : y;
    }
}

/* Non-commutative: keeps the left operand's value, so the result is rank 0's. */
static void first(void *in, void *inout, int *len, MPI_Datatype *dt) {
    (void)dt;
    memcpy(inout, in, *len * sizeof(int));
}

int main(int argc, char **argv) {
    int rank, size, i;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    { /* bcast */
        int v[4] = {0, 0, 0, 0};
        if (rank == 1 % size) for (i = 0; i < 4; i++) v[i] = i + 1;
        MPI_Bcast(v, 4, MPI_INT, 1 % size, MPI_COMM_WORLD);
        CHECK(v[0] == 1 && v[3] == 4);
    }
    { /* int ops */
        int x = rank + 1, r;
        MPI_Allreduce(&x, &r, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        CHECK(r == size * (size + 1) / 2);
        MPI_Allreduce(&x, &r, 1, MPI_INT, MPI_PROD, MPI_COMM_WORLD);
        { int f = 1; for (i = 1; i <= size; i++) f *= i; CHECK(r == f); }
        MPI_Allreduce(&x, &r, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        CHECK(r == size);
        MPI_Allreduce(&x, &r, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        CHECK(r == 1);
        MPI_Allreduce(&x, &r, 1, MPI_INT, MPI_BOR, MPI_COMM_WORLD);
        { int o = 0; for (i = 1; i <= size; i++) o |= i; CHECK(r == o); }
        x = rank != 0;
        MPI_Allreduce(&x, &r, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
        CHECK(r == 0); /* rank 0 contributes false */
        MPI_Allreduce(&x, &r, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
        CHECK(r == (size > 1));
    }
    { /* doubles, long long, unsigned char, float */
        double d = rank + 0.5, dr;
        long long l = (long long)rank << 33, lr;
        unsigned char c = (unsigned char)(1 << rank), cr;
        float f = (float)rank, fr;
        MPI_Allreduce(&d, &dr, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        CHECK(dr == size * (size - 1) / 2.0 + 0.5 * size);
        MPI_Allreduce(&l, &lr, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
        CHECK(lr == ((long long)(size * (size - 1) / 2) << 33));
        MPI_Allreduce(&c, &cr, 1, MPI_UNSIGNED_CHAR, MPI_BXOR, MPI_COMM_WORLD);
        CHECK(cr == (unsigned char)((1 << size) - 1));
        MPI_Reduce(&f, &fr, 1, MPI_FLOAT, MPI_MAX, 0, MPI_COMM_WORLD);
        if (rank == 0) CHECK(fr == (float)(size - 1));
    }
    { /* in place */
        int v[2] = {rank, 1};
        MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        CHECK(v[0] == size * (size - 1) / 2 && v[1] == size);
        v[0] = rank;
        if (rank == 0) MPI_Reduce(MPI_IN_PLACE, v, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
        else MPI_Reduce(v, NULL, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
        if (rank == 0) CHECK(v[0] == size * (size - 1) / 2);
    }
    { /* MINLOC / MAXLOC */
        struct { double v; int i; } in = {(double)((rank * 7) % size), rank}, out;
        struct { int v; int i; } a = {-rank, rank}, b;
        MPI_Allreduce(&in, &out, 1, MPI_DOUBLE_INT, MPI_MAXLOC, MPI_COMM_WORLD);
        CHECK(out.v == (double)(size - 1));
        CHECK((out.i * 7) % size == size - 1);
        MPI_Allreduce(&a, &b, 1, MPI_2INT, MPI_MINLOC, MPI_COMM_WORLD);
        CHECK(b.v == -(size - 1) && b.i == size - 1);
        a.v = 5;
        MPI_Allreduce(&a, &b, 1, MPI_2INT, MPI_MAXLOC, MPI_COMM_WORLD);
        CHECK(b.v == 5 && b.i == 0); /* ties take the lowest index */
    }
    { /* user ops */
        MPI_Op op, op2;
        int x = rank % 2 ? -rank * 3 : rank, r, commute;
        MPI_Op_create(user_max_abs, 1, &op);
        MPI_Allreduce(&x, &r, 1, MPI_INT, op, MPI_COMM_WORLD);
        { int m = 0; for (i = 0; i < size; i++) { int a = i % 2 ? i * 3 : i; if (a > m) m = a; } CHECK(r == m); }
        MPI_Op_commutative(op, &commute);
        CHECK(commute == 1);
        MPI_Op_create(first, 0, &op2);
        x = rank + 100;
        MPI_Allreduce(&x, &r, 1, MPI_INT, op2, MPI_COMM_WORLD);
        CHECK(r == 100);
        MPI_Op_commutative(op2, &commute);
        CHECK(commute == 0);
        {
            int a[2] = {-9, 1}, b[2] = {2, -3};
            MPI_Reduce_local(a, b, 2, MPI_INT, op);
            CHECK(b[0] == 9 && b[1] == 3);
        }
        MPI_Op_free(&op);
        MPI_Op_free(&op2);
        CHECK(op == MPI_OP_NULL);
    }
    { /* gather, scatter, allgather, alltoall, scan, exscan, reduce_scatter_block */
        int *all = malloc(sizeof(int) * size * 2), *mine = malloc(sizeof(int) * size), got, r;
        int two[2] = {rank, rank * rank};
        MPI_Gather(two, 2, MPI_INT, all, 2, MPI_INT, 0, MPI_COMM_WORLD);
        if (rank == 0) for (i = 0; i < size; i++) CHECK(all[2 * i] == i && all[2 * i + 1] == i * i);
        MPI_Allgather(&rank, 1, MPI_INT, mine, 1, MPI_INT, MPI_COMM_WORLD);
        for (i = 0; i < size; i++) CHECK(mine[i] == i);
        for (i = 0; i < size; i++) all[i] = i * 10;
        MPI_Scatter(all, 1, MPI_INT, &got, 1, MPI_INT, 0, MPI_COMM_WORLD);
        CHECK(got == rank * 10);
        for (i = 0; i < size; i++) all[i] = rank * 100 + i;
        MPI_Alltoall(all, 1, MPI_INT, mine, 1, MPI_INT, MPI_COMM_WORLD);
        for (i = 0; i < size; i++) CHECK(mine[i] == i * 100 + rank);
        MPI_Scan(&rank, &r, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        CHECK(r == rank * (rank + 1) / 2);
        MPI_Exscan(&rank, &r, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        if (rank > 0) CHECK(r == rank * (rank - 1) / 2);
        for (i = 0; i < size; i++) all[i] = i + rank;
        MPI_Reduce_scatter_block(all, &r, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        CHECK(r == rank * size + size * (size - 1) / 2);
        free(all);
        free(mine);
    }
    { /* nonblocking */
        MPI_Request r[2];
        int x = 1, s = 0;
        MPI_Ibarrier(MPI_COMM_WORLD, &r[0]);
        MPI_Iallreduce(&x, &s, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD, &r[1]);
        MPI_Waitall(2, r, MPI_STATUSES_IGNORE);
        CHECK(s == size);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) printf("coll OK\n");
    MPI_Finalize();
    return 0;
}
