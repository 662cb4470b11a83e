/* Communicator attributes: callbacks run on dup (copy) and free (delete); predefined keys. */
#include "check.h"

static int copies, deletes;

static int copy_fn(MPI_Comm c, int key, void *extra, void *in, void *out, int *flag) {
    (void)c; (void)key;
    CHECK(extra == (void *)&copies);
    copies++;
    *(void **)out = (char *)in + 1;
    *flag = 1;
    return MPI_SUCCESS;
}

static int delete_fn(MPI_Comm c, int key, void *val, void *extra) {
    (void)c; (void)key; (void)val; (void)extra;
    deletes++;
    return MPI_SUCCESS;
}

int main(int argc, char **argv) {
    int key, flag, *ip, size;
    void *v;
    MPI_Comm dup;
    char name[MPI_MAX_OBJECT_NAME];
    int len;
    MPI_Init(&argc, &argv);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &ip, &flag);
    CHECK(flag && *ip >= 32767);
    MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_UNIVERSE_SIZE, &ip, &flag);
    CHECK(flag && *ip == size);
    MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_WTIME_IS_GLOBAL, &ip, &flag);
    CHECK(flag);
    MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_HOST, &ip, &flag);
    CHECK(flag);

    MPI_Comm_create_keyval(copy_fn, delete_fn, &key, &copies);
    MPI_Comm_set_attr(MPI_COMM_WORLD, key, (void *)0x1000);
    MPI_Comm_get_attr(MPI_COMM_WORLD, key, &v, &flag);
    CHECK(flag && v == (void *)0x1000);
    MPI_Comm_dup(MPI_COMM_WORLD, &dup);
    CHECK(copies == 1);
    MPI_Comm_get_attr(dup, key, &v, &flag);
    CHECK(flag && v == (void *)0x1001);
    MPI_Comm_free(&dup);
    CHECK(deletes == 1 && dup == MPI_COMM_NULL);
    MPI_Comm_delete_attr(MPI_COMM_WORLD, key);
    CHECK(deletes == 2);
    MPI_Comm_get_attr(MPI_COMM_WORLD, key, &v, &flag);
    CHECK(!flag);
    MPI_Comm_free_keyval(&key);
    CHECK(key == MPI_KEYVAL_INVALID);

    MPI_Comm_get_name(MPI_COMM_WORLD, name, &len);
    CHECK(strcmp(name, "MPI_COMM_WORLD") == 0 && len == 14);
    MPI_Comm_dup(MPI_COMM_WORLD, &dup);
    MPI_Comm_set_name(dup, "mine");
    MPI_Comm_get_name(dup, name, &len);
    CHECK(strcmp(name, "mine") == 0);
    MPI_Comm_free(&dup);
    MPI_Finalize();
    printf("attr OK\n");
    return 0;
}
