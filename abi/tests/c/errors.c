/* With MPI_ERRORS_RETURN every invalid argument gives its class; error strings and user classes. */
#include "check.h"

static int cls(int rc) {
    int c;
    MPI_Error_class(rc, &c);
    return c;
}

int main(int argc, char **argv) {
    int rank, size, v = 0, c, len, flag;
    char msg[MPI_MAX_ERROR_STRING];
    MPI_Comm dup;
    MPI_Datatype t;
    MPI_Request r;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);

    CHECK(cls(MPI_Send(&v, 1, MPI_INT, size + 6, 0, MPI_COMM_WORLD)) == MPI_ERR_RANK);
    CHECK(cls(MPI_Send(&v, 1, MPI_INT, 0, -5, MPI_COMM_WORLD)) == MPI_ERR_TAG);
    CHECK(cls(MPI_Send(&v, -1, MPI_INT, 0, 0, MPI_COMM_WORLD)) == MPI_ERR_COUNT);
    CHECK(cls(MPI_Send(&v, 1, MPI_INT, 0, 0, MPI_COMM_NULL)) == MPI_ERR_COMM);
    CHECK(cls(MPI_Send(&v, 1, (MPI_Datatype)0x4c00ff77, 0, 0, MPI_COMM_WORLD)) == MPI_ERR_TYPE);
    CHECK(cls(MPI_Send(&v, 1, MPI_DATATYPE_NULL, 0, 0, MPI_COMM_WORLD)) == MPI_ERR_TYPE);
    CHECK(cls(MPI_Send(NULL, 1, MPI_INT, 0, 0, MPI_COMM_WORLD)) == MPI_ERR_BUFFER);
    CHECK(cls(MPI_Bcast(&v, 1, MPI_INT, size, MPI_COMM_WORLD)) == MPI_ERR_ROOT);
    CHECK(cls(MPI_Allreduce(&v, &c, 1, MPI_INT, MPI_OP_NULL, MPI_COMM_WORLD)) == MPI_ERR_OP);
    CHECK(cls(MPI_Allreduce(&v, &c, 1, MPI_DOUBLE, MPI_BAND, MPI_COMM_WORLD)) == MPI_ERR_OP);
    r = (MPI_Request)0x12345;
    CHECK(cls(MPI_Wait(&r, MPI_STATUS_IGNORE)) == MPI_ERR_REQUEST);
    CHECK(cls(MPI_Group_size((MPI_Group)0x7, &v)) == MPI_ERR_GROUP);

    /* freed handles */
    MPI_Comm_dup(MPI_COMM_WORLD, &dup);
    {
        MPI_Comm old = dup;
        MPI_Comm_free(&dup);
        CHECK(cls(MPI_Comm_size(old, &v)) == MPI_ERR_COMM);
    }
    MPI_Type_contiguous(2, MPI_INT, &t);
    MPI_Type_commit(&t);
    MPI_Type_size(t, &v);
    CHECK(v == 8);
    {
        MPI_Datatype old = t;
        MPI_Type_free(&t);
        CHECK(t == MPI_DATATYPE_NULL);
        CHECK(cls(MPI_Type_size(old, &v)) == MPI_ERR_TYPE);
    }

    /* strings and user classes */
    MPI_Error_string(MPI_ERR_RANK, msg, &len);
    CHECK(len > 0 && strstr(msg, "rank") != NULL);
    {
        int ec, code;
        MPI_Add_error_class(&ec);
        MPI_Add_error_code(ec, &code);
        MPI_Add_error_string(code, "my own error");
        MPI_Error_string(code, msg, &len);
        CHECK(strcmp(msg, "my own error") == 0);
        MPI_Error_class(code, &c);
        CHECK(c == ec);
        {
            int *last;
            MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_LASTUSEDCODE, &last, &flag);
            CHECK(flag && *last >= code);
        }
    }
    /* an unsupported function reports its class */
    {
        MPI_Comm child;
        CHECK(cls(MPI_Comm_spawn("x", MPI_ARGV_NULL, 1, MPI_INFO_NULL, 0, MPI_COMM_WORLD, &child,
                                 MPI_ERRCODES_IGNORE)) == MPI_ERR_UNSUPPORTED_OPERATION);
    }
    {
        int major, minor;
        MPI_Abi_get_version(&major, &minor);
        CHECK(major == -1 && minor == -1);
    }
    MPI_Finalize();
    if (rank == 0) printf("errors OK\n");
    return 0;
}
