/* One-sided communication: fence, PSCW, passive target (with the target in a
 * barrier), atomics from every rank, derived target datatypes, request-based
 * operations, dynamic and shared windows, window attributes, and errors. */
#include <stdint.h>
#include "check.h"

static int rank, size;

/* Fence epochs: put, get and accumulate, including large (rendezvous) puts. */
static void fence_epochs(void) {
    int *mem, i, n = 4 * size;
    MPI_Win win;
    MPI_Alloc_mem(n * sizeof(int), MPI_INFO_NULL, &mem);
    for (i = 0; i < n; i++) mem[i] = -1;
    MPI_Win_create(mem, n * sizeof(int), sizeof(int), MPI_INFO_NULL, MPI_COMM_WORLD, &win);
    MPI_Win_fence(MPI_MODE_NOPRECEDE, win);
    for (i = 0; i < size; i++) {
        int v = 100 * rank + i;
        MPI_Put(&v, 1, MPI_INT, i, rank, 1, MPI_INT, win);
    }
    MPI_Win_fence(0, win);
    for (i = 0; i < size; i++) CHECK(mem[i] == 100 * i + rank);
    {
        int got[64], right = (rank + 1) % size;
        MPI_Get(got, size, MPI_INT, right, 0, size, MPI_INT, win);
        MPI_Win_fence(0, win);
        for (i = 0; i < size; i++) CHECK(got[i] == 100 * i + right);
    }
    /* Every rank adds to every slot of rank 0's second quarter. */
    {
        int ones[64];
        for (i = 0; i < size; i++) ones[i] = i + 1;
        if (rank == 0)
            for (i = 0; i < size; i++) mem[size + i] = 0;
        MPI_Win_fence(0, win);
        MPI_Accumulate(ones, size, MPI_INT, 0, size, size, MPI_INT, MPI_SUM, win);
        MPI_Win_fence(0, win);
        if (rank == 0)
            for (i = 0; i < size; i++) CHECK(mem[size + i] == (i + 1) * size);
    }
    MPI_Win_fence(MPI_MODE_NOSUCCEED, win);
    MPI_Win_free(&win);
    CHECK(win == MPI_WIN_NULL);
    MPI_Free_mem(mem);

    /* 4 MiB into the right neighbour: the request travels by rendezvous. */
    {
        int big = 1 << 20, right = (rank + 1) % size, left = (rank + size - 1) % size;
        int *dst = malloc(big * sizeof(int)), *src = malloc(big * sizeof(int));
        for (i = 0; i < big; i++) { src[i] = rank * 7 + i; dst[i] = -1; }
        MPI_Win_create(dst, (MPI_Aint)big * sizeof(int), sizeof(int), MPI_INFO_NULL, MPI_COMM_WORLD, &win);
        MPI_Win_fence(0, win);
        MPI_Put(src, big, MPI_INT, right, 0, big, MPI_INT, win);
        MPI_Win_fence(0, win);
        for (i = 0; i < big; i += 4099) CHECK(dst[i] == left * 7 + i);
        CHECK(dst[big - 1] == left * 7 + big - 1);
        MPI_Win_free(&win);
        free(dst);
        free(src);
    }
}

/* Derived datatypes at the target and at the origin. */
static void derived_types(void) {
    int mem[32], i, right = (rank + 1) % size, left = (rank + size - 1) % size;
    MPI_Datatype every_other, pairs;
    MPI_Win win;
    MPI_Type_vector(4, 1, 2, MPI_INT, &every_other);
    MPI_Type_commit(&every_other);
    MPI_Type_vector(2, 2, 4, MPI_INT, &pairs);
    MPI_Type_commit(&pairs);
    for (i = 0; i < 32; i++) mem[i] = -1;
    MPI_Win_create(mem, sizeof mem, sizeof(int), MPI_INFO_NULL, MPI_COMM_WORLD, &win);
    MPI_Win_fence(0, win);
    {
        int v[4] = {rank, rank + 1, rank + 2, rank + 3};
        /* target: slots 1, 3, 5, 7 */
        MPI_Put(v, 4, MPI_INT, right, 1, 1, every_other, win);
    }
    MPI_Win_fence(0, win);
    for (i = 0; i < 8; i++) CHECK(mem[i] == (i % 2 ? left + i / 2 : -1));
    {
        /* origin strided: slots 1, 3, 5, 7 of the neighbour land in o[0], o[2], o[4], o[6] */
        int o[8];
        for (i = 0; i < 8; i++) o[i] = -5;
        MPI_Get(o, 1, every_other, right, 1, 1, every_other, win);
        MPI_Win_fence(0, win);
        for (i = 0; i < 8; i++) CHECK(o[i] == (i % 2 ? -5 : rank + i / 2));
    }
    /* accumulate through a derived target type: slots 16,17,20,21 get += 10 from everyone */
    for (i = 16; i < 24; i++) mem[i] = 1;
    MPI_Win_fence(0, win);
    {
        int ten[4] = {10, 10, 10, 10};
        MPI_Accumulate(ten, 4, MPI_INT, 0, 16, 1, pairs, MPI_SUM, win);
    }
    MPI_Win_fence(0, win);
    if (rank == 0) {
        int want[8] = {1 + 10 * size, 1 + 10 * size, 1, 1, 1 + 10 * size, 1 + 10 * size, 1, 1};
        for (i = 0; i < 8; i++) CHECK(mem[16 + i] == want[i]);
    }
    MPI_Win_free(&win);
    MPI_Type_free(&every_other);
    MPI_Type_free(&pairs);
}

/* Post/start/complete/wait: rank 0 writes into every other rank. */
static void pscw(void) {
    int mem[4] = {0, 0, 0, 0}, i;
    MPI_Group world, others, zero;
    MPI_Win win;
    MPI_Win_create(mem, sizeof mem, sizeof(int), MPI_INFO_NULL, MPI_COMM_WORLD, &win);
    MPI_Win_get_group(win, &world);
    {
        int z = 0;
        MPI_Group_excl(world, 1, &z, &others);
        MPI_Group_incl(world, 1, &z, &zero);
    }
    for (int round = 0; round < 3; round++) {
        if (rank == 0) {
            if (size > 1) {
                MPI_Win_start(others, 0, win);
                for (i = 1; i < size; i++) {
                    int v = 1000 * round + i;
                    MPI_Put(&v, 1, MPI_INT, i, round, 1, MPI_INT, win);
                }
                MPI_Win_complete(win);
            }
        } else {
            int flag = 0;
            MPI_Win_post(zero, 0, win);
            if (round == 1) {
                while (!flag) MPI_Win_test(win, &flag);
            } else {
                MPI_Win_wait(win);
            }
            CHECK(mem[round] == 1000 * round + rank);
        }
    }
    /* Symmetric, every rank starting before it posts (a blocking start would
     * deadlock): each writes its rank into its right neighbour's slot 3. */
    mem[3] = -1;
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Win_start(world, 0, win);
    MPI_Win_post(world, 0, win);
    MPI_Put(&rank, 1, MPI_INT, (rank + 1) % size, 3, 1, MPI_INT, win);
    MPI_Win_complete(win);
    MPI_Win_wait(win);
    CHECK(mem[3] == (rank + size - 1) % size);
    MPI_Group_free(&others);
    MPI_Group_free(&zero);
    MPI_Group_free(&world);
    MPI_Win_free(&win);
}

/* Passive target: every rank locks rank 0 and writes while rank 0 waits in a barrier. */
static void passive_target(void) {
    int *mem, i;
    MPI_Win win;
    MPI_Win_allocate(size * sizeof(int), sizeof(int), MPI_INFO_NULL, MPI_COMM_WORLD, &mem, &win);
    for (i = 0; i < size; i++) mem[i] = -1;
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank != 0) {
        int v = 10 * rank, back = -1;
        MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, win);
        MPI_Put(&v, 1, MPI_INT, 0, rank, 1, MPI_INT, win);
        MPI_Win_flush(0, win);
        MPI_Get(&back, 1, MPI_INT, 0, rank, 1, MPI_INT, win);
        MPI_Win_unlock(0, win);
        CHECK(back == v);
    }
    MPI_Barrier(MPI_COMM_WORLD); /* rank 0 serves the others from inside this barrier */
    if (rank == 0) {
        for (i = 1; i < size; i++) CHECK(mem[i] == 10 * i);
        /* and the target may lock its own window */
        MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win);
        CHECK(mem[size - 1] == 10 * (size - 1) || size == 1);
        MPI_Win_unlock(0, win);
    }
    /* Large puts (their data travels apart from the request) queued behind
     * rank 0's own exclusive lock must not land before rank 0 unlocks. */
    {
        enum { N = 20000 }; /* ints per rank: 80 KB */
        int *big, *src = malloc(N * sizeof(int)), j;
        MPI_Win bw;
        MPI_Datatype halves;
        MPI_Win_allocate((MPI_Aint)N * 2 * size * sizeof(int), sizeof(int), MPI_INFO_NULL, MPI_COMM_WORLD, &big,
                         &bw);
        for (j = 0; j < N * 2 * size; j++) big[j] = -1;
        for (j = 0; j < N; j++) src[j] = rank * N + j;
        /* two blocks of N/2 ints, N ints apart: a staged (non-contiguous) target */
        MPI_Type_vector(2, N / 2, N, MPI_INT, &halves);
        MPI_Type_commit(&halves);
        if (rank == 0) MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, bw); /* granted before the others ask */
        MPI_Barrier(MPI_COMM_WORLD);
        if (rank == 0) {
            for (i = 1; i < size; i++) MPI_Recv(NULL, 0, MPI_INT, MPI_ANY_SOURCE, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            for (j = 0; j < N * 2 * size; j++) CHECK(big[j] == -1); /* nothing landed under our lock */
            MPI_Win_unlock(0, bw);
        } else {
            MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, bw);
            MPI_Put(src, N, MPI_INT, 0, (MPI_Aint)rank * 2 * N, 1, halves, bw);
            MPI_Send(NULL, 0, MPI_INT, 0, 7, MPI_COMM_WORLD);
            MPI_Win_unlock(0, bw);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        if (rank == 0)
            for (i = 1; i < size; i++)
                for (j = 0; j < N; j++) {
                    int at = i * 2 * N + (j < N / 2 ? j : j + N / 2);
                    CHECK(big[at] == i * N + j);
                }
        /* and contiguous, straight into the window, while unlocked */
        MPI_Win_fence(0, bw);
        MPI_Put(src, N, MPI_INT, (rank + 1) % size, (MPI_Aint)rank * 2 * N, N, MPI_INT, bw);
        MPI_Win_fence(0, bw);
        {
            int left = (rank + size - 1) % size;
            for (j = 0; j < N; j++) CHECK(big[left * 2 * N + j] == left * N + j);
        }
        MPI_Type_free(&halves);
        MPI_Win_free(&bw);
        free(src);
    }
    /* Exclusive locks exclude: read-modify-write of one counter without atomics. */
    if (rank == 0) mem[0] = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    for (i = 0; i < 300; i++) {
        int c = -1;
        MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, win);
        MPI_Get(&c, 1, MPI_INT, 0, 0, 1, MPI_INT, win);
        MPI_Win_flush(0, win);
        c++;
        MPI_Put(&c, 1, MPI_INT, 0, 0, 1, MPI_INT, win);
        MPI_Win_unlock(0, win);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) CHECK(mem[0] == 300 * size);
    MPI_Win_free(&win);
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Atomics: a shared counter by fetch-and-op from every rank, and compare-and-swap. */
static void atomics(void) {
    enum { K = 50 };
    long *mem, mine[K], *all, one = 1, i;
    MPI_Win win;
    MPI_Win_allocate(2 * sizeof(long), sizeof(long), MPI_INFO_NULL, MPI_COMM_WORLD, &mem, &win);
    mem[0] = 0;
    mem[1] = -1;
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Win_lock_all(0, win);
    for (i = 0; i < K; i++) {
        MPI_Fetch_and_op(&one, &mine[i], MPI_LONG, 0, 0, MPI_SUM, win);
        MPI_Win_flush(0, win);
    }
    MPI_Win_unlock_all(win);
    all = malloc(sizeof(long) * K * size);
    MPI_Allgather(mine, K, MPI_LONG, all, K, MPI_LONG, MPI_COMM_WORLD);
    qsort(all, (size_t)K * size, sizeof(long), cmp_long);
    for (i = 0; i < K * size; i++) CHECK(all[i] == i); /* every ticket handed out once */
    free(all);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) CHECK(mem[0] == (long)K * size);

    /* Exactly one rank swaps its number in. */
    {
        long me = rank, expect = -1, old = 7, winner;
        MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win);
        MPI_Compare_and_swap(&me, &expect, &old, MPI_LONG, 0, 1, win);
        MPI_Win_unlock(0, win);
        MPI_Allreduce(&old, &winner, 1, MPI_LONG, MPI_MIN, MPI_COMM_WORLD);
        CHECK(winner == -1);
        {
            int won = old == -1, winners;
            MPI_Allreduce(&won, &winners, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
            CHECK(winners == 1);
        }
    }
    /* Get_accumulate and the request-based forms. */
    {
        long prev = -9, two = 2, now = -9;
        MPI_Request r;
        MPI_Barrier(MPI_COMM_WORLD);
        if (rank == 0) {
            MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, win);
            mem[0] = 5;
            MPI_Win_unlock(0, win);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        if (rank == size - 1) {
            MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, win);
            MPI_Get_accumulate(&two, 1, MPI_LONG, &prev, 1, MPI_LONG, 0, 0, 1, MPI_LONG, MPI_PROD, win);
            MPI_Win_flush(0, win);
            CHECK(prev == 5);
            MPI_Rget(&now, 1, MPI_LONG, 0, 0, 1, MPI_LONG, win, &r);
            MPI_Wait(&r, MPI_STATUS_IGNORE);
            CHECK(now == 10);
            MPI_Rput(&two, 1, MPI_LONG, 0, 0, 1, MPI_LONG, win, &r);
            MPI_Wait(&r, MPI_STATUS_IGNORE);
            MPI_Raccumulate(&two, 1, MPI_LONG, 0, 0, 1, MPI_LONG, MPI_MAX, win, &r);
            MPI_Wait(&r, MPI_STATUS_IGNORE);
            MPI_Rget_accumulate(NULL, 0, MPI_LONG, &now, 1, MPI_LONG, 0, 0, 1, MPI_LONG, MPI_NO_OP, win, &r);
            MPI_Wait(&r, MPI_STATUS_IGNORE);
            CHECK(now == 2);
            MPI_Win_unlock(0, win);
        }
    }
    MPI_Win_free(&win);
}

/* Dynamic windows: memory attached after creation, addressed by absolute address. */
static void dynamic(void) {
    int *mine = malloc(4 * sizeof(int)), i, right = (rank + 1) % size, left = (rank + size - 1) % size;
    MPI_Aint addr, *addrs = malloc(sizeof(MPI_Aint) * size);
    MPI_Win win;
    void *base;
    int flag;
    for (i = 0; i < 4; i++) mine[i] = -1;
    MPI_Win_create_dynamic(MPI_INFO_NULL, MPI_COMM_WORLD, &win);
    MPI_Win_get_attr(win, MPI_WIN_BASE, &base, &flag);
    CHECK(flag && base == NULL);
    MPI_Win_attach(win, mine, 4 * sizeof(int));
    MPI_Get_address(mine, &addr);
    MPI_Allgather(&addr, 1, MPI_AINT, addrs, 1, MPI_AINT, MPI_COMM_WORLD);
    MPI_Win_lock(MPI_LOCK_EXCLUSIVE, right, 0, win);
    {
        int v[2] = {rank, rank * 2};
        MPI_Put(v, 2, MPI_INT, right, MPI_Aint_add(addrs[right], sizeof(int)), 2, MPI_INT, win);
    }
    MPI_Win_unlock(right, win);
    MPI_Barrier(MPI_COMM_WORLD);
    CHECK(mine[0] == -1 && mine[1] == left && mine[2] == left * 2 && mine[3] == -1);
    MPI_Win_detach(win, mine);
    MPI_Win_free(&win);
    free(addrs);
    free(mine);
}

/* Shared windows: each rank's part is plain memory for the others. */
static void shared(void) {
    MPI_Comm node;
    MPI_Win win;
    int nrank, nsize, *mine, i;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &nrank);
    MPI_Comm_size(node, &nsize);
    MPI_Win_allocate_shared((nrank + 1) * sizeof(int), sizeof(int), MPI_INFO_NULL, node, &mine, &win);
    MPI_Win_lock_all(0, win);
    for (i = 0; i <= nrank; i++) mine[i] = 1000 * nrank + i;
    MPI_Win_sync(win);
    MPI_Barrier(node);
    MPI_Win_sync(win);
    for (int r = 0; r < nsize; r++) {
        MPI_Aint sz;
        int du, *p;
        MPI_Win_shared_query(win, r, &sz, &du, &p);
        CHECK(sz == (MPI_Aint)((r + 1) * sizeof(int)) && du == (int)sizeof(int));
        for (i = 0; i <= r; i++) CHECK(p[i] == 1000 * r + i);
        if (r == nrank) CHECK(p == mine);
    }
    MPI_Win_unlock_all(win);
    MPI_Win_free(&win);
    MPI_Comm_free(&node);
}

static int deleted;
static int del_fn(MPI_Win w, int key, void *val, void *extra) {
    (void)w; (void)key; (void)extra;
    CHECK(val == (void *)0x1234);
    deleted++;
    return MPI_SUCCESS;
}

/* Predefined and user attributes, names, info, group. */
static void attributes(void) {
    MPI_Win win;
    void *base, *v;
    MPI_Aint *sz;
    int *du, *fl, *model, flag, key, len, cmp;
    char name[MPI_MAX_OBJECT_NAME];
    MPI_Group g, wg;
    MPI_Info info;
    MPI_Win_allocate(64, 8, MPI_INFO_NULL, MPI_COMM_WORLD, &base, &win);
    MPI_Win_get_attr(win, MPI_WIN_BASE, &v, &flag);
    CHECK(flag && v == base);
    MPI_Win_get_attr(win, MPI_WIN_SIZE, &sz, &flag);
    CHECK(flag && *sz == 64);
    MPI_Win_get_attr(win, MPI_WIN_DISP_UNIT, &du, &flag);
    CHECK(flag && *du == 8);
    MPI_Win_get_attr(win, MPI_WIN_CREATE_FLAVOR, &fl, &flag);
    CHECK(flag && *fl == MPI_WIN_FLAVOR_ALLOCATE);
    MPI_Win_get_attr(win, MPI_WIN_MODEL, &model, &flag);
    CHECK(flag && *model == MPI_WIN_UNIFIED);
    MPI_Win_create_keyval(MPI_WIN_NULL_COPY_FN, del_fn, &key, NULL);
    MPI_Win_set_attr(win, key, (void *)0x1234);
    MPI_Win_get_attr(win, key, &v, &flag);
    CHECK(flag && v == (void *)0x1234);
    MPI_Win_set_name(win, "counter");
    MPI_Win_get_name(win, name, &len);
    CHECK(strcmp(name, "counter") == 0 && len == 7);
    MPI_Win_get_group(win, &wg);
    MPI_Comm_group(MPI_COMM_WORLD, &g);
    MPI_Group_compare(g, wg, &cmp);
    CHECK(cmp == MPI_IDENT);
    MPI_Group_free(&g);
    MPI_Group_free(&wg);
    MPI_Win_get_info(win, &info);
    CHECK(info != MPI_INFO_NULL);
    MPI_Info_free(&info);
    MPI_Win_free(&win);
    CHECK(deleted == 1);
    MPI_Win_free_keyval(&key);
}

static int handled;
static void on_error(MPI_Win *w, int *code, ...) {
    (void)w;
    handled = *code;
}

/* Errors come back through the window's handler with their class. */
static void errors(void) {
    int mem[4], v = 1, rc, cls;
    MPI_Win win;
    MPI_Errhandler eh;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    rc = MPI_Put(&v, 1, MPI_INT, 0, 0, 1, MPI_INT, MPI_WIN_NULL);
    MPI_Error_class(rc, &cls);
    CHECK(cls == MPI_ERR_WIN);
    MPI_Win_create(mem, sizeof mem, sizeof(int), MPI_INFO_NULL, MPI_COMM_WORLD, &win);
    MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
    rc = MPI_Put(&v, 1, MPI_INT, 0, 0, 1, MPI_INT, win); /* no epoch */
    MPI_Error_class(rc, &cls);
    CHECK(cls == MPI_ERR_RMA_SYNC);
    rc = MPI_Win_unlock(0, win);
    MPI_Error_class(rc, &cls);
    CHECK(cls == MPI_ERR_RMA_SYNC);
    rc = MPI_Win_lock(99, 0, 0, win);
    MPI_Error_class(rc, &cls);
    CHECK(cls == MPI_ERR_LOCKTYPE);
    MPI_Win_fence(0, win);
    rc = MPI_Put(&v, 1, MPI_INT, size, 0, 1, MPI_INT, win);
    MPI_Error_class(rc, &cls);
    CHECK(cls == MPI_ERR_RANK);
    rc = MPI_Put(&v, 1, MPI_INT, 0, 4, 1, MPI_INT, win); /* one past the end */
    MPI_Error_class(rc, &cls);
    CHECK(cls == MPI_ERR_RMA_RANGE);
    rc = MPI_Accumulate(&v, 1, MPI_INT, 0, 0, 1, MPI_INT, MPI_OP_NULL, win);
    MPI_Error_class(rc, &cls);
    CHECK(cls == MPI_ERR_OP);
    MPI_Win_create_errhandler(on_error, &eh);
    MPI_Win_set_errhandler(win, eh);
    MPI_Errhandler_free(&eh);
    MPI_Put(&v, 1, MPI_INT, 0, -1, 1, MPI_INT, win);
    CHECK(handled == MPI_ERR_RMA_RANGE);
    MPI_Win_call_errhandler(win, MPI_ERR_OTHER);
    CHECK(handled == MPI_ERR_OTHER);
    MPI_Win_fence(0, win);
    MPI_Win_free(&win);

    /* A dynamic window checks addresses at the target: the error comes back at the unlock. */
    MPI_Win_create_dynamic(MPI_INFO_NULL, MPI_COMM_WORLD, &win);
    MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
    MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win);
    MPI_Put(&v, 1, MPI_INT, 0, (MPI_Aint)16, 1, MPI_INT, win);
    rc = MPI_Win_unlock(0, win);
    MPI_Error_class(rc, &cls);
    CHECK(cls == MPI_ERR_RMA_RANGE);
    MPI_Win_free(&win);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    fence_epochs();
    derived_types();
    pscw();
    passive_target();
    atomics();
    dynamic();
    shared();
    attributes();
    errors();
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) printf("rma OK\n");
    MPI_Finalize();
    return 0;
}
