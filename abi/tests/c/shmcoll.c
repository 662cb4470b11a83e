/* The blocking barrier, allreduce and bcast on communicators whose members
 * share a node (the shared-memory path) and around it: every predefined op
 * class and a non-commutative user op, in place and not, every root, sizes
 * on both sides of the path's limits; many communicators created and freed
 * (no /dev/shm file or descriptor left behind); blocking collectives
 * interleaved with nonblocking ones and point-to-point traffic on the same
 * communicator. `shmcoll kill` instead makes the last rank die while the
 * others wait in a barrier. */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>

#include "check.h"
#include "matop.h"

static int rank, size;

static void check_user_op(MPI_Comm comm, int count, int in_place) {
    int r, n;
    MPI_Comm_rank(comm, &r);
    MPI_Comm_size(comm, &n);
    MPI_Datatype mt;
    MPI_Type_contiguous(4, MPI_UINT32_T, &mt);
    MPI_Type_commit(&mt);
    MPI_Op op;
    MPI_Op_create(mat_op, 0, &op);
    mat *s = malloc(sizeof(mat) * (count + 1)), *o = malloc(sizeof(mat) * (count + 1));
    for (int i = 0; i < count; i++) s[i] = mat_of(r, i);
    if (in_place) {
        memcpy(o, s, sizeof(mat) * count);
        CHECK(MPI_Allreduce(MPI_IN_PLACE, o, count, mt, op, comm) == MPI_SUCCESS);
    } else {
        CHECK(MPI_Allreduce(s, o, count, mt, op, comm) == MPI_SUCCESS);
    }
    for (int i = 0; i < count; i++) {
        mat want = mat_of(0, i);
        for (int q = 1; q < n; q++) want = mat_mul(want, mat_of(q, i));
        CHECK(o[i].a == want.a && o[i].b == want.b && o[i].c == want.c && o[i].d == want.d);
    }
    free(s);
    free(o);
    MPI_Op_free(&op);
    MPI_Type_free(&mt);
}

static void check_int_ops(MPI_Comm comm, int count, int in_place) {
    int r, n;
    MPI_Comm_rank(comm, &r);
    MPI_Comm_size(comm, &n);
    MPI_Op ops[] = {MPI_SUM, MPI_PROD, MPI_MAX, MPI_MIN, MPI_LAND, MPI_LOR, MPI_LXOR, MPI_BAND, MPI_BOR, MPI_BXOR};
    int *s = malloc(sizeof(int) * (count + 1)), *o = malloc(sizeof(int) * (count + 1));
    for (int k = 0; k < 10; k++) {
        for (int i = 0; i < count; i++) s[i] = (r * 7 + i * 3) % 5 + (k == 1 ? 0 : r);
        if (in_place) {
            memcpy(o, s, sizeof(int) * count);
            CHECK(MPI_Allreduce(MPI_IN_PLACE, o, count, MPI_INT, ops[k], comm) == MPI_SUCCESS);
        } else {
            CHECK(MPI_Allreduce(s, o, count, MPI_INT, ops[k], comm) == MPI_SUCCESS);
        }
        for (int i = 0; i < count; i++) {
            int w = 0;
            for (int q = 0; q < n; q++) {
                int v = (q * 7 + i * 3) % 5 + (k == 1 ? 0 : q);
                if (q == 0) {
                    w = v; /* one rank: the input unchanged */
                    continue;
                }
                if (ops[k] == MPI_SUM) w += v;
                else if (ops[k] == MPI_PROD) w *= v;
                else if (ops[k] == MPI_MAX) w = v > w ? v : w;
                else if (ops[k] == MPI_MIN) w = v < w ? v : w;
                else if (ops[k] == MPI_LAND) w = w && v;
                else if (ops[k] == MPI_LOR) w = w || v;
                else if (ops[k] == MPI_LXOR) w = (w != 0) != (v != 0);
                else if (ops[k] == MPI_BAND) w &= v;
                else if (ops[k] == MPI_BOR) w |= v;
                else w ^= v;
            }
            CHECK(o[i] == w);
        }
    }
    free(s);
    free(o);
}

static void check_float_and_loc(MPI_Comm comm, int count, int in_place) {
    int r, n;
    MPI_Comm_rank(comm, &r);
    MPI_Comm_size(comm, &n);
    double *s = malloc(sizeof(double) * (count + 1)), *o = malloc(sizeof(double) * (count + 1));
    for (int i = 0; i < count; i++) s[i] = r + 0.5 * i;
    if (in_place) {
        memcpy(o, s, sizeof(double) * count);
        CHECK(MPI_Allreduce(MPI_IN_PLACE, o, count, MPI_DOUBLE, MPI_SUM, comm) == MPI_SUCCESS);
    } else {
        CHECK(MPI_Allreduce(s, o, count, MPI_DOUBLE, MPI_SUM, comm) == MPI_SUCCESS);
    }
    for (int i = 0; i < count; i++) CHECK(o[i] == n * (n - 1) / 2.0 + n * 0.5 * i);
    /* MAXLOC on a dense pair type, MINLOC on a sparse one (double_int). */
    struct { int v, at; } p = {(r * 5) % n, r}, q;
    CHECK(MPI_Allreduce(&p, &q, 1, MPI_2INT, MPI_MAXLOC, comm) == MPI_SUCCESS);
    int best = -1, at = -1;
    for (int k = 0; k < n; k++)
        if ((k * 5) % n > best) best = (k * 5) % n, at = k;
    CHECK(q.v == best && q.at == at);
    struct { double v; int at; } dp = {(double)((r * 3) % n), r}, dq;
    CHECK(MPI_Allreduce(&dp, &dq, 1, MPI_DOUBLE_INT, MPI_MINLOC, comm) == MPI_SUCCESS);
    CHECK(dq.v == 0.0 && dq.at == 0);
    free(s);
    free(o);
}

static void check_bcast(MPI_Comm comm, int bytes, int rounds) {
    int r, n;
    MPI_Comm_rank(comm, &r);
    MPI_Comm_size(comm, &n);
    unsigned char *b = malloc(bytes + 1);
    for (int k = 0; k < rounds; k++) {
        int root = (k * 5 + bytes) % n;
        for (int i = 0; i < bytes; i++) b[i] = r == root ? (unsigned char)(i * 13 + k + root) : 0xee;
        CHECK(MPI_Bcast(b, bytes, MPI_BYTE, root, comm) == MPI_SUCCESS);
        for (int i = 0; i < bytes; i++) CHECK(b[i] == (unsigned char)(i * 13 + k + root));
    }
    free(b);
}

static void values(MPI_Comm comm) {
    int counts[] = {0, 1, 7, 14, 15, 100, 2048, 2049, 5000};
    for (int c = 0; c < 9; c++)
        for (int ip = 0; ip < 2; ip++) {
            check_int_ops(comm, counts[c], ip);
            check_float_and_loc(comm, counts[c], ip);
            check_user_op(comm, counts[c] / 4, ip);
        }
    int sizes[] = {0, 1, 56, 57, 1000, 16384, 16385, 65536};
    for (int s = 0; s < 8; s++) check_bcast(comm, sizes[s], s < 5 ? 60 : 6);
    for (int k = 0; k < 50; k++) CHECK(MPI_Barrier(comm) == MPI_SUCCESS);
}

/* Files of this job's collective areas left under /dev/shm. */
static int leftover_files(void) {
    const char *job = getenv("PMI_JOBID");
    char prefix[256];
    snprintf(prefix, sizeof prefix, "rmpi-%s-coll-", job ? job : "");
    int count = 0;
    DIR *d = opendir("/dev/shm");
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) count++;
    closedir(d);
    return count;
}

static int open_fds(void) {
    int count = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; (e = readdir(d));) count++;
    closedir(d);
    return count;
}

static void many_comms(void) {
    MPI_Barrier(MPI_COMM_WORLD);
    int fds = open_fds();
    for (int k = 0; k < 150; k++) {
        MPI_Comm dup, half;
        MPI_Comm_dup(MPI_COMM_WORLD, &dup);
        int v = rank, sum;
        CHECK(MPI_Allreduce(&v, &sum, 1, MPI_INT, MPI_SUM, dup) == MPI_SUCCESS);
        CHECK(sum == size * (size - 1) / 2);
        MPI_Comm_split(dup, rank % 2, -rank, &half);
        int hr, hn;
        MPI_Comm_rank(half, &hr);
        MPI_Comm_size(half, &hn);
        CHECK(MPI_Barrier(half) == MPI_SUCCESS);
        int root_val = k;
        CHECK(MPI_Bcast(&root_val, 1, MPI_INT, k % hn, half) == MPI_SUCCESS);
        CHECK(root_val == k);
        MPI_Comm_free(&half);
        MPI_Comm_free(&dup);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    CHECK(leftover_files() == 0);
    CHECK(open_fds() == fds);
}

static void interleaved(void) {
    MPI_Comm comm;
    MPI_Comm_dup(MPI_COMM_WORLD, &comm);
    for (int round = 0; round < 20; round++) {
        /* Nonblocking collectives started before, between and after
         * blocking ones on the same communicator. */
        int a = rank + round, asum = -1, b = round, c = rank, csum = -1, d = -1;
        MPI_Request req[4];
        MPI_Iallreduce(&a, &asum, 1, MPI_INT, MPI_SUM, comm, &req[0]);
        MPI_Ibarrier(comm, &req[1]);
        int v = 1, vs;
        CHECK(MPI_Allreduce(&v, &vs, 1, MPI_INT, MPI_SUM, comm) == MPI_SUCCESS && vs == size);
        MPI_Ibcast(&b, 1, MPI_INT, round % size, comm, &req[2]);
        CHECK(MPI_Barrier(comm) == MPI_SUCCESS);
        int e = rank == (round + 1) % size ? 77 : 0;
        CHECK(MPI_Bcast(&e, 1, MPI_INT, (round + 1) % size, comm) == MPI_SUCCESS && e == 77);
        MPI_Iallreduce(&c, &csum, 1, MPI_INT, MPI_MAX, comm, &req[3]);
        if (rank == round % size) d = 5;
        CHECK(MPI_Bcast(&d, 1, MPI_INT, round % size, comm) == MPI_SUCCESS && d == 5);
        MPI_Waitall(4, req, MPI_STATUSES_IGNORE);
        CHECK(asum == size * (size - 1) / 2 + size * round);
        CHECK(b == round && csum == size - 1);
    }
    /* A rank waiting in a barrier keeps point-to-point moving: a large
     * message (rendezvous) posted before the barrier completes only if
     * its sender progresses inside it. */
    if (size >= 2) {
        int len = 4 << 20;
        char *big = malloc(len);
        if (rank == 0) {
            memset(big, 7, len);
            MPI_Request r;
            MPI_Isend(big, len, MPI_BYTE, 1, 9, comm, &r);
            CHECK(MPI_Barrier(comm) == MPI_SUCCESS);
            MPI_Wait(&r, MPI_STATUS_IGNORE);
        } else if (rank == 1) {
            memset(big, 0, len);
            MPI_Recv(big, len, MPI_BYTE, 0, 9, comm, MPI_STATUS_IGNORE);
            CHECK(big[0] == 7 && big[len - 1] == 7);
            CHECK(MPI_Barrier(comm) == MPI_SUCCESS);
        } else {
            CHECK(MPI_Barrier(comm) == MPI_SUCCESS);
        }
        free(big);
    }
    MPI_Comm_free(&comm);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc > 1 && strcmp(argv[1], "kill") == 0) {
        for (int k = 0; k < 100; k++) MPI_Barrier(MPI_COMM_WORLD);
        if (rank == 0) {
            printf("waiting\n");
            fflush(stdout);
        }
        if (rank == size - 1) {
            /* Not a wait for a condition: the test passes whether or not the
             * others are already asleep in the barrier when this rank dies;
             * the pause only makes the interesting case (sleepers) the usual one. */
            usleep(200 * 1000);
            raise(SIGKILL);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        printf("not reached\n");
        MPI_Finalize();
        return 0;
    }
    values(MPI_COMM_WORLD);
    MPI_Comm rev;
    MPI_Comm_split(MPI_COMM_WORLD, 0, size - rank, &rev); /* ranks reversed */
    values(rev);
    MPI_Comm_free(&rev);
    many_comms();
    interleaved();
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) printf("shmcoll OK\n");
    MPI_Finalize();
    return 0;
}
