/* Attributes: callbacks run on dup (copy) and free (delete); predefined keys; a freed keyval's
 * attributes still get their delete callback; keyvals belong to one kind of object. */
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

    /* A keyval freed while an attribute uses it: the attribute's delete callback still runs. */
    MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, delete_fn, &key, NULL);
    MPI_Comm_dup(MPI_COMM_WORLD, &dup);
    MPI_Comm_set_attr(dup, key, (void *)0x2000);
    {
        int k2 = key;
        MPI_Comm_free_keyval(&k2);
        CHECK(k2 == MPI_KEYVAL_INVALID);
    }
    MPI_Comm_free(&dup);
    CHECK(deletes == 3);

    /* Keyvals of one kind are refused on another kind of object. */
    {
        int tkey, wkey, rc, tdeletes_before = deletes;
        MPI_Datatype t;
        MPI_Win win;
        int buf[4];
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        MPI_Type_create_keyval(MPI_TYPE_NULL_COPY_FN, (MPI_Type_delete_attr_function *)delete_fn, &tkey, NULL);
        rc = MPI_Comm_set_attr(MPI_COMM_WORLD, tkey, (void *)1);
        CHECK(rc != MPI_SUCCESS);
        {
            int cls;
            MPI_Error_class(rc, &cls);
            CHECK(cls == MPI_ERR_KEYVAL);
        }
        MPI_Type_contiguous(2, MPI_INT, &t);
        MPI_Type_set_attr(t, tkey, (void *)7);
        MPI_Type_get_attr(t, tkey, &v, &flag);
        CHECK(flag && v == (void *)7);
        MPI_Type_free(&t);
        CHECK(deletes == tdeletes_before + 1);
        MPI_Type_free_keyval(&tkey);

        MPI_Win_create_keyval(MPI_WIN_NULL_COPY_FN, (MPI_Win_delete_attr_function *)delete_fn, &wkey, NULL);
        MPI_Win_create(buf, sizeof buf, sizeof(int), MPI_INFO_NULL, MPI_COMM_WORLD, &win);
        MPI_Win_set_attr(win, wkey, (void *)9);
        MPI_Win_get_attr(win, wkey, &v, &flag);
        CHECK(flag && v == (void *)9);
        MPI_Win_get_attr(win, MPI_WIN_BASE, &v, &flag);
        CHECK(flag && v == (void *)buf);
        MPI_Win_free_keyval(&wkey);
        MPI_Win_free(&win);
        CHECK(deletes == tdeletes_before + 2);
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    }

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
