/* MPI-4 additions: sessions and communicators from groups, split_type kinds,
 * communicator buffers, partitioned point-to-point, status conversions and
 * accessors, MPI_Info_create_env, removable error classes, dup and split of
 * intercommunicators, ports within a job. */
#include "check.h"

int main(int argc, char **argv) {
    int rank, size, i, n, flag;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);

    { /* a session, its process sets, and a communicator made from mpi://WORLD */
        MPI_Session s;
        MPI_Group g;
        MPI_Comm c;
        MPI_Info info;
        char pset[64], val[16];
        int len = sizeof pset, sum, cls;
        CHECK(MPI_Session_init(MPI_INFO_NULL, MPI_ERRORS_RETURN, &s) == MPI_SUCCESS);
        MPI_Session_get_num_psets(s, MPI_INFO_NULL, &n);
        CHECK(n == 2);
        MPI_Session_get_nth_pset(s, MPI_INFO_NULL, 0, &len, pset);
        CHECK(strcmp(pset, "mpi://WORLD") == 0 && len == (int)strlen(pset) + 1);
        MPI_Session_get_pset_info(s, "mpi://WORLD", &info);
        MPI_Info_get(info, "mpi_size", sizeof val - 1, val, &flag);
        CHECK(flag && atoi(val) == size);
        MPI_Info_free(&info);
        CHECK(MPI_Session_get_pset_info(s, "mpi://NOPE", &info) != MPI_SUCCESS);
        MPI_Group_from_session_pset(s, "mpi://WORLD", &g);
        MPI_Comm_create_from_group(g, "rmpi.test.world", MPI_INFO_NULL, MPI_ERRORS_RETURN, &c);
        MPI_Comm_rank(c, &i);
        CHECK(i == rank);
        MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, c);
        CHECK(sum == size * (size - 1) / 2);
        MPI_Comm_free(&c);
        MPI_Group_free(&g);
        MPI_Session_finalize(&s);
        CHECK(s == MPI_SESSION_NULL);
        MPI_Error_class(MPI_Session_get_num_psets(MPI_SESSION_NULL, MPI_INFO_NULL, &n), &cls);
        CHECK(cls == MPI_ERR_SESSION);
    }
    { /* split_type: guided kinds need mpi_shared_memory; unguided goes down a level */
        MPI_Comm c;
        MPI_Info info;
        char val[64];
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_HW_GUIDED, 0, MPI_INFO_NULL, &c);
        CHECK(c == MPI_COMM_NULL);
        MPI_Info_create(&info);
        MPI_Info_set(info, "mpi_hw_resource_type", "mpi_shared_memory");
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_RESOURCE_GUIDED, 0, info, &c);
        MPI_Comm_size(c, &n);
        CHECK(n == size); /* one node */
        MPI_Comm_free(&c);
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_HW_UNGUIDED, 0, info, &c);
        if (size == 1) {
            CHECK(c == MPI_COMM_NULL);
        } else {
            MPI_Comm_size(c, &n);
            CHECK(n < size);
            MPI_Info_get(info, "mpi_hw_resource_type", sizeof val - 1, val, &flag);
            CHECK(flag);
            MPI_Comm_free(&c);
        }
        MPI_Info_free(&info);
    }
    { /* a buffer attached to a communicator serves its buffered sends */
        MPI_Comm c;
        char *buf = malloc(1024 + MPI_BSEND_OVERHEAD), *back;
        int v = rank, got, bsize;
        MPI_Comm_dup(MPI_COMM_WORLD, &c);
        MPI_Comm_attach_buffer(c, buf, 1024 + MPI_BSEND_OVERHEAD);
        MPI_Bsend(&v, 1, MPI_INT, (rank + 1) % size, 5, c);
        MPI_Recv(&got, 1, MPI_INT, (rank + size - 1) % size, 5, c, MPI_STATUS_IGNORE);
        CHECK(got == (rank + size - 1) % size);
        MPI_Comm_flush_buffer(c);
        MPI_Comm_detach_buffer(c, &back, &bsize);
        CHECK(back == buf && bsize == 1024 + MPI_BSEND_OVERHEAD);
        MPI_Comm_attach_buffer(c, MPI_BUFFER_AUTOMATIC, 0);
        MPI_Comm_detach_buffer(c, &back, &bsize);
        CHECK(back == MPI_BUFFER_AUTOMATIC);
        MPI_Comm_free(&c);
        free(buf);
    }
    { /* partitioned ring: the send starts when its last partition is ready */
        int sbuf[6], rbuf[6], p;
        MPI_Request sr, rr;
        for (i = 0; i < 6; i++) sbuf[i] = rank * 10 + i;
        MPI_Psend_init(sbuf, 3, 2, MPI_INT, (rank + 1) % size, 1, MPI_COMM_WORLD, MPI_INFO_NULL, &sr);
        MPI_Precv_init(rbuf, 3, 2, MPI_INT, (rank + size - 1) % size, 1, MPI_COMM_WORLD, MPI_INFO_NULL, &rr);
        for (n = 0; n < 2; n++) {
            for (i = 0; i < 6; i++) rbuf[i] = -1;
            MPI_Start(&rr);
            MPI_Start(&sr);
            MPI_Barrier(MPI_COMM_WORLD);
            MPI_Parrived(rr, 0, &flag);
            CHECK(!flag); /* nobody marked anything ready yet */
            MPI_Barrier(MPI_COMM_WORLD);
            MPI_Pready(0, sr);
            MPI_Pready_range(1, 2, sr);
            for (p = 0; p < 3; p++) {
                do MPI_Parrived(rr, p, &flag);
                while (!flag);
            }
            MPI_Wait(&rr, MPI_STATUS_IGNORE);
            MPI_Wait(&sr, MPI_STATUS_IGNORE);
            CHECK(rr != MPI_REQUEST_NULL && sr != MPI_REQUEST_NULL);
            for (i = 0; i < 6; i++) CHECK(rbuf[i] == ((rank + size - 1) % size) * 10 + i);
        }
        MPI_Request_free(&sr);
        MPI_Request_free(&rr);
    }
    { /* status: Fortran round trip and the accessors */
        MPI_Status s, t;
        MPI_Fint f[MPI_F_STATUS_SIZE];
        int v;
        MPI_Status_set_source(&s, 3);
        MPI_Status_set_tag(&s, 4);
        MPI_Status_set_error(&s, MPI_ERR_OTHER);
        MPI_Status_c2f(&s, f);
        CHECK(f[MPI_F_SOURCE] == 3 && f[MPI_F_TAG] == 4 && f[MPI_F_ERROR] == MPI_ERR_OTHER);
        MPI_Status_f2c(f, &t);
        MPI_Status_get_tag(&t, &v);
        CHECK(v == 4 && t.MPI_SOURCE == 3);
    }
    { /* MPI_Info_create_env */
        MPI_Info info;
        char val[32];
        MPI_Info_create_env(argc, argv, &info);
        MPI_Info_get(info, "maxprocs", sizeof val - 1, val, &flag);
        CHECK(flag && atoi(val) == size);
        MPI_Info_free(&info);
    }
    { /* user error classes live above MPI_ERR_LASTCODE and can be removed */
        int c, code, last, *lastp;
        char s[MPI_MAX_ERROR_STRING];
        int len;
        MPI_Add_error_class(&c);
        CHECK(c > MPI_ERR_LASTCODE);
        MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_LASTUSEDCODE, &lastp, &flag);
        last = *lastp;
        CHECK(flag && last == c);
        MPI_Add_error_code(c, &code);
        MPI_Add_error_string(code, "mine");
        MPI_Error_string(code, s, &len);
        CHECK(strcmp(s, "mine") == 0);
        CHECK(MPI_Remove_error_code(code) != MPI_SUCCESS); /* it still has a string */
        MPI_Remove_error_string(code);
        CHECK(MPI_Remove_error_code(code) == MPI_SUCCESS);
        CHECK(MPI_Remove_error_class(c) == MPI_SUCCESS);
    }
    { /* Fortran 90 parameterized types and large-count contiguous types */
        MPI_Datatype t, t2, c;
        int ni, na, nd, comb, ints[2], sz;
        MPI_Count lni, lna, lnc, lnd, cnt, big = (MPI_Count)1 << 33;
        MPI_Type_create_f90_integer(4, &t);
        MPI_Type_create_f90_integer(4, &t2);
        CHECK(t == t2); /* one handle per request */
        MPI_Type_size(t, &sz);
        CHECK(sz == 2);
        MPI_Type_get_envelope(t, &ni, &na, &nd, &comb);
        CHECK(comb == MPI_COMBINER_F90_INTEGER && ni == 1 && na == 0 && nd == 0);
        MPI_Type_get_contents(t, 1, 0, 0, ints, NULL, NULL);
        CHECK(ints[0] == 4);
        CHECK(MPI_Type_free(&t) != MPI_SUCCESS); /* predefined */
        MPI_Type_create_f90_real(15, MPI_UNDEFINED, &t);
        MPI_Type_size(t, &sz);
        CHECK(sz == 8);
        MPI_Type_contiguous_c(big, MPI_BYTE, &c);
        MPI_Type_get_envelope_c(c, &lni, &lna, &lnc, &lnd, &comb);
        CHECK(comb == MPI_COMBINER_CONTIGUOUS && lni == 0 && lnc == 1 && lnd == 1);
        MPI_Type_get_contents_c(c, 0, 0, 1, 1, NULL, NULL, &cnt, &t2);
        CHECK(cnt == big && t2 == MPI_BYTE);
        MPI_Type_size_c(c, &cnt);
        CHECK(cnt == big);
        MPI_Type_free(&c);
    }
    if (size >= 2) { /* intercommunicator: dup, split; ports between the halves */
        MPI_Comm half, inter, dup, sp, viaport;
        int color = rank < size / 2, rsize, v;
        char port[MPI_MAX_PORT_NAME];
        MPI_Comm_split(MPI_COMM_WORLD, color, rank, &half);
        MPI_Intercomm_create(half, 0, MPI_COMM_WORLD, color ? size / 2 : 0, 7, &inter);
        MPI_Comm_dup(inter, &dup);
        MPI_Comm_remote_size(dup, &rsize);
        CHECK(rsize == (color ? size - size / 2 : size / 2));
        v = rank;
        MPI_Bcast(&v, 1, MPI_INT, 0, MPI_COMM_WORLD);
        MPI_Comm_split(dup, 0, 0, &sp);
        MPI_Comm_remote_size(sp, &n);
        CHECK(n == rsize);
        MPI_Comm_free(&sp);
        MPI_Comm_free(&dup);
        MPI_Comm_free(&inter);
        /* the low half accepts on rank 0's port, the high half connects */
        if (rank == 0) MPI_Open_port(MPI_INFO_NULL, port);
        MPI_Bcast(port, MPI_MAX_PORT_NAME, MPI_CHAR, 0, MPI_COMM_WORLD);
        if (color)
            MPI_Comm_accept(port, MPI_INFO_NULL, 0, half, &viaport);
        else
            MPI_Comm_connect(port, MPI_INFO_NULL, 0, half, &viaport);
        MPI_Comm_remote_size(viaport, &n);
        CHECK(n == (color ? size - size / 2 : size / 2));
        MPI_Comm_free(&viaport);
        if (rank == 0) MPI_Close_port(port);
        MPI_Comm_free(&half);
    }
    if (rank == 0) printf("mpi4 OK\n");
    MPI_Finalize();
    return 0;
}
