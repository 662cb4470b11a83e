/* MPI-IO: explicit offsets, views with a derived filetype, the shared and
 * ordered pointers, nonblocking and split collective forms, sizes, error
 * classes and handlers of files. */
#include <unistd.h>
#include "check.h"

#define N 8

static int handler_calls;
static void file_handler(MPI_File *fh, int *code, ...) {
    (void)fh;
    (void)code;
    handler_calls++;
}

int main(int argc, char **argv) {
    int rank, size, i, cls, count;
    char name[256];
    MPI_File fh;
    MPI_Status st;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    /* Every rank uses rank 0's name. */
    if (rank == 0) snprintf(name, sizeof name, "/tmp/rmpi-io-test-%d.dat", (int)getpid());
    MPI_Bcast(name, sizeof name, MPI_CHAR, 0, MPI_COMM_WORLD);

    /* Opening a missing file fails with MPI_ERR_NO_SUCH_FILE (files return errors by default). */
    {
        int rc = MPI_File_open(MPI_COMM_WORLD, "/nonexistent-dir/x", MPI_MODE_RDONLY, MPI_INFO_NULL, &fh);
        MPI_Error_class(rc, &cls);
        CHECK(cls == MPI_ERR_NO_SUCH_FILE);
    }

    CHECK(MPI_File_open(MPI_COMM_WORLD, name, MPI_MODE_CREATE | MPI_MODE_RDWR, MPI_INFO_NULL, &fh) == MPI_SUCCESS);
    { /* explicit offsets: rank r writes N ints r*100+i at r*N */
        int w[N], r[N], j;
        MPI_Offset sz;
        for (i = 0; i < N; i++) w[i] = rank * 100 + i;
        MPI_File_write_at(fh, (MPI_Offset)rank * N * sizeof(int), w, N, MPI_INT, &st);
        MPI_Get_count(&st, MPI_INT, &count);
        CHECK(count == N);
        MPI_File_sync(fh);
        MPI_Barrier(MPI_COMM_WORLD);
        MPI_File_get_size(fh, &sz);
        CHECK(sz == (MPI_Offset)size * N * sizeof(int));
        for (j = 0; j < size; j++) {
            MPI_File_read_at(fh, (MPI_Offset)j * N * sizeof(int), r, N, MPI_INT, &st);
            for (i = 0; i < N; i++) CHECK(r[i] == j * 100 + i);
        }
        /* reading past the end returns fewer items */
        MPI_File_read_at(fh, sz - sizeof(int), r, N, MPI_INT, &st);
        MPI_Get_count(&st, MPI_INT, &count);
        CHECK(count == 1 && r[0] == (size - 1) * 100 + N - 1);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_File_set_size(fh, 0);
    { /* a view interleaving the ranks: rank r sees every size-th int from the r-th */
        MPI_Datatype vec, ftype;
        int w[N], r[N * 4], all[N * 4], ok = 1;
        MPI_Offset pos, disp;
        MPI_Type_vector(1, 1, size, MPI_INT, &vec);
        MPI_Type_create_resized(vec, 0, size * sizeof(int), &ftype);
        MPI_Type_commit(&ftype);
        MPI_File_set_view(fh, rank * sizeof(int), MPI_INT, ftype, "native", MPI_INFO_NULL);
        for (i = 0; i < N; i++) w[i] = rank + size * i;
        MPI_File_write_all(fh, w, N, MPI_INT, &st);
        MPI_File_get_position(fh, &pos);
        CHECK(pos == N);
        MPI_File_get_byte_offset(fh, 2, &disp);
        CHECK(disp == (MPI_Offset)(rank + 2 * size) * sizeof(int));
        MPI_File_sync(fh);
        MPI_Barrier(MPI_COMM_WORLD);
        MPI_File_seek(fh, 0, MPI_SEEK_SET);
        MPI_File_read_all(fh, r, N, MPI_INT, &st);
        for (i = 0; i < N; i++) CHECK(r[i] == rank + size * i);
        /* the plain byte view shows 0, 1, 2, ... */
        MPI_File_set_view(fh, 0, MPI_BYTE, MPI_BYTE, "native", MPI_INFO_NULL);
        if (size * N <= N * 4) {
            MPI_File_read_at(fh, 0, all, size * N, MPI_INT, &st);
            for (i = 0; i < size * N; i++) ok &= all[i] == i;
            CHECK(ok);
        }
        MPI_Type_free(&ftype);
        MPI_Type_free(&vec);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_File_set_size(fh, 0);
    { /* ordered and shared pointers */
        int w[2] = {rank, rank}, r[2], total = 0, v;
        MPI_Offset sp;
        MPI_File_set_view(fh, 0, MPI_INT, MPI_INT, "native", MPI_INFO_NULL);
        MPI_File_write_ordered(fh, w, 2, MPI_INT, &st);
        MPI_File_get_position_shared(fh, &sp);
        CHECK(sp == 2 * size);
        MPI_File_sync(fh);
        MPI_Barrier(MPI_COMM_WORLD);
        MPI_File_seek_shared(fh, 0, MPI_SEEK_SET);
        MPI_File_read_ordered(fh, r, 2, MPI_INT, &st);
        CHECK(r[0] == rank && r[1] == rank);
        /* each rank appends one int through the shared pointer: all land once */
        MPI_File_seek_shared(fh, 0, MPI_SEEK_END);
        MPI_File_write_shared(fh, &rank, 1, MPI_INT, &st);
        MPI_File_sync(fh);
        MPI_Barrier(MPI_COMM_WORLD);
        for (i = 0; i < size; i++) {
            MPI_File_read_at(fh, 2 * size + i, &v, 1, MPI_INT, &st);
            total += v;
        }
        CHECK(total == size * (size - 1) / 2);
    }
    { /* nonblocking and split collective forms */
        int w = 7 + rank, r = -1;
        MPI_Request req;
        MPI_File_iwrite_at(fh, 100 + rank, &w, 1, MPI_INT, &req);
        MPI_Wait(&req, &st);
        MPI_File_sync(fh);
        MPI_Barrier(MPI_COMM_WORLD);
        MPI_File_read_at_all_begin(fh, 100 + rank, &r, 1, MPI_INT);
        MPI_File_read_at_all_end(fh, &r, &st);
        CHECK(r == 7 + rank);
        r = -1;
        MPI_File_iread_at(fh, 100 + rank, &r, 1, MPI_INT, &req);
        MPI_Wait(&req, &st);
        CHECK(r == 7 + rank);
    }
    { /* queries, atomicity, the group */
        int amode, flag, res;
        MPI_Group g, wg;
        MPI_File_get_amode(fh, &amode);
        CHECK(amode == (MPI_MODE_CREATE | MPI_MODE_RDWR));
        MPI_File_set_atomicity(fh, 1);
        MPI_File_get_atomicity(fh, &flag);
        CHECK(flag == 1);
        MPI_File_get_group(fh, &g);
        MPI_Comm_group(MPI_COMM_WORLD, &wg);
        MPI_Group_compare(g, wg, &res);
        CHECK(res == MPI_IDENT);
        MPI_Group_free(&g);
        MPI_Group_free(&wg);
    }
    { /* a user handler sees errors on this file */
        MPI_Errhandler eh;
        int rc;
        MPI_File_create_errhandler(file_handler, &eh);
        MPI_File_set_errhandler(fh, eh);
        rc = MPI_File_read_at(fh, -1, &i, 1, MPI_INT, &st);
        MPI_Error_class(rc, &cls);
        CHECK(cls == MPI_ERR_ARG && handler_calls == 1);
        MPI_File_set_errhandler(fh, MPI_ERRORS_RETURN);
        MPI_Errhandler_free(&eh);
    }
    MPI_File_close(&fh);
    CHECK(fh == MPI_FILE_NULL);
    MPI_Barrier(MPI_COMM_WORLD);
    { /* read-only files refuse writes; delete removes the file */
        int rc;
        MPI_File_open(MPI_COMM_SELF, name, MPI_MODE_RDONLY, MPI_INFO_NULL, &fh);
        rc = MPI_File_write_at(fh, 0, &rank, 1, MPI_INT, &st);
        MPI_Error_class(rc, &cls);
        CHECK(cls == MPI_ERR_READ_ONLY);
        MPI_File_close(&fh);
        MPI_Barrier(MPI_COMM_WORLD);
        if (rank == 0) CHECK(MPI_File_delete(name, MPI_INFO_NULL) == MPI_SUCCESS);
        MPI_Barrier(MPI_COMM_WORLD);
        CHECK(access(name, F_OK) != 0);
    }
    { /* MPI_MODE_DELETE_ON_CLOSE */
        MPI_File_open(MPI_COMM_WORLD, name, MPI_MODE_CREATE | MPI_MODE_WRONLY | MPI_MODE_DELETE_ON_CLOSE, MPI_INFO_NULL,
                      &fh);
        MPI_File_close(&fh);
        MPI_Barrier(MPI_COMM_WORLD);
        CHECK(access(name, F_OK) != 0);
    }
    if (rank == 0) printf("io OK\n");
    MPI_Finalize();
    return 0;
}
