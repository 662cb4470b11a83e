/*
 * osu_like: one MPI benchmark source, built with each library's mpicc
 * (rmpicc, MPICH's and Open MPI's), in the style of the OSU micro-benchmarks.
 *
 *   osu_like -t lat,bw,bibw -s 0:4194304 [-T SECONDS]
 *   osu_like -t allreduce:8,8192 -t bcast:8,65536 -t barrier -t alltoall:8,65536
 *   osu_like -t blocked:5       (CPU time of a rank blocked in MPI_Recv for 5 s)
 *   osu_like -t hello           (init, one barrier, finalize)
 *   osu_like -t lat -s 8 -n 10000   (one loop of a fixed length: for profilers)
 *
 * Tests:
 *   lat        ping-pong between ranks 0 and 1, one-way time in microseconds
 *   bw         rank 0 sends a window of 64 nonblocking messages, rank 1 acknowledges; MB/s (10^6 B/s)
 *   bibw       both ranks send a window of 64 to each other; MB/s counted both ways
 *   allreduce  MPI_SUM of doubles (size in bytes), microseconds per call
 *   bcast      bytes from rank 0, microseconds per call
 *   barrier    microseconds per call
 *   alltoall   bytes per pair, microseconds per call
 *   blocked    rank 1 waits in MPI_Recv while rank 0 sleeps N seconds, then sends: rank 1's CPU seconds
 *   hello      nothing timed (the launcher measures the wall time); prints the library's version
 * A test's sizes are given after a colon (a list, or FROM:TO in powers of two), else by -s.
 *
 * Each measurement repeats the operation in a loop whose length is doubled
 * (at least) until the slowest rank's loop takes -T seconds (default 0.1);
 * that last loop is the figure, so the earlier loops are the warm-up. The
 * time of a loop is the slowest rank's.
 *
 * Output (rank 0), one line per figure:
 *   RESULT <test> np=<N> size=<bytes> value=<number> unit=<us|MBps|cpu_s> iters=<n>
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define WINDOW 64
#define MAX_SIZES 64
#define MAX_TESTS 16

static int rank, nprocs;
static double target = 0.1;
static char *sbuf, *rbuf;
static size_t buf_bytes;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *msg) {
  if (rank == 0) fprintf(stderr, "osu_like: %s\n", msg);
  MPI_Abort(MPI_COMM_WORLD, 2);
}

/* One loop of n iterations of a test at a size; returns this rank's seconds. */
typedef double (*loop_fn)(long n, size_t size);

static double loop_lat(long n, size_t size) {
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = now();
  if (rank == 0) {
    for (long i = 0; i < n; i++) {
      MPI_Send(sbuf, (int)size, MPI_CHAR, 1, 1, MPI_COMM_WORLD);
      MPI_Recv(rbuf, (int)size, MPI_CHAR, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
  } else if (rank == 1) {
    for (long i = 0; i < n; i++) {
      MPI_Recv(rbuf, (int)size, MPI_CHAR, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(sbuf, (int)size, MPI_CHAR, 0, 1, MPI_COMM_WORLD);
    }
  }
  return now() - t0;
}

static double loop_bw(long n, size_t size) {
  MPI_Request req[WINDOW];
  char ack[4];
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = now();
  if (rank == 0) {
    for (long i = 0; i < n; i++) {
      for (int w = 0; w < WINDOW; w++) MPI_Isend(sbuf, (int)size, MPI_CHAR, 1, 2, MPI_COMM_WORLD, &req[w]);
      MPI_Waitall(WINDOW, req, MPI_STATUSES_IGNORE);
      MPI_Recv(ack, 4, MPI_CHAR, 1, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
  } else if (rank == 1) {
    for (long i = 0; i < n; i++) {
      for (int w = 0; w < WINDOW; w++) MPI_Irecv(rbuf, (int)size, MPI_CHAR, 0, 2, MPI_COMM_WORLD, &req[w]);
      MPI_Waitall(WINDOW, req, MPI_STATUSES_IGNORE);
      MPI_Send(ack, 4, MPI_CHAR, 0, 3, MPI_COMM_WORLD);
    }
  }
  return now() - t0;
}

static double loop_bibw(long n, size_t size) {
  MPI_Request req[2 * WINDOW];
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = now();
  if (rank <= 1) {
    int peer = 1 - rank;
    for (long i = 0; i < n; i++) {
      for (int w = 0; w < WINDOW; w++) MPI_Irecv(rbuf, (int)size, MPI_CHAR, peer, 4, MPI_COMM_WORLD, &req[w]);
      for (int w = 0; w < WINDOW; w++)
        MPI_Isend(sbuf, (int)size, MPI_CHAR, peer, 4, MPI_COMM_WORLD, &req[WINDOW + w]);
      MPI_Waitall(2 * WINDOW, req, MPI_STATUSES_IGNORE);
    }
  }
  return now() - t0;
}

static double loop_allreduce(long n, size_t size) {
  int count = (int)(size / sizeof(double));
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = now();
  for (long i = 0; i < n; i++) MPI_Allreduce(sbuf, rbuf, count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  return now() - t0;
}

static double loop_bcast(long n, size_t size) {
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = now();
  for (long i = 0; i < n; i++) MPI_Bcast(sbuf, (int)size, MPI_CHAR, 0, MPI_COMM_WORLD);
  return now() - t0;
}

static double loop_barrier(long n, size_t size) {
  (void)size;
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = now();
  for (long i = 0; i < n; i++) MPI_Barrier(MPI_COMM_WORLD);
  return now() - t0;
}

static double loop_alltoall(long n, size_t size) {
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = now();
  for (long i = 0; i < n; i++) MPI_Alltoall(sbuf, (int)size, MPI_CHAR, rbuf, (int)size, MPI_CHAR, MPI_COMM_WORLD);
  return now() - t0;
}

/* Run loops of growing length until the slowest rank's loop takes `target` seconds. */
static long fixed_iters = 0; /* -n: one loop of this many iterations (for profilers) */

static void measure(const char *name, loop_fn fn, size_t size) {
  long n = fixed_iters > 0 ? fixed_iters : 1, max_iters = 100000000;
  double t = 0;
  for (;;) {
    double mine = fn(n, size);
    MPI_Allreduce(&mine, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (t >= target || n >= max_iters || fixed_iters > 0) break;
    long next = t > 0 ? (long)((double)n * 1.3 * target / t) : n * 16;
    if (next < 2 * n) next = 2 * n;
    if (next > 16 * n) next = 16 * n;
    n = next;
  }
  double per = t / (double)n, value;
  const char *unit = "us";
  if (strcmp(name, "lat") == 0) {
    value = per / 2 * 1e6;
  } else if (strcmp(name, "bw") == 0) {
    value = (double)size * WINDOW / per / 1e6;
    unit = "MBps";
  } else if (strcmp(name, "bibw") == 0) {
    value = 2.0 * (double)size * WINDOW / per / 1e6;
    unit = "MBps";
  } else {
    value = per * 1e6;
  }
  if (rank == 0) {
    printf("RESULT %s np=%d size=%zu value=%.6g unit=%s iters=%ld\n", name, nprocs, size, value, unit, n);
    fflush(stdout);
  }
}

/* Rank 1 waits in MPI_Recv while rank 0 sleeps; rank 1's CPU time (all threads) is the figure. */
static void blocked(double seconds) {
  int token = 0;
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
    MPI_Send(&token, 1, MPI_INT, 1, 5, MPI_COMM_WORLD);
    double cpu;
    MPI_Recv(&cpu, 1, MPI_DOUBLE, 1, 6, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    printf("RESULT blocked np=%d size=%.0f value=%.6g unit=cpu_s iters=1\n", nprocs, seconds, cpu);
    fflush(stdout);
  } else if (rank == 1) {
    struct rusage a, b;
    getrusage(RUSAGE_SELF, &a);
    MPI_Recv(&token, 1, MPI_INT, 0, 5, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    getrusage(RUSAGE_SELF, &b);
    double cpu = (double)(b.ru_utime.tv_sec - a.ru_utime.tv_sec) + 1e-6 * (double)(b.ru_utime.tv_usec - a.ru_utime.tv_usec) +
                 (double)(b.ru_stime.tv_sec - a.ru_stime.tv_sec) + 1e-6 * (double)(b.ru_stime.tv_usec - a.ru_stime.tv_usec);
    MPI_Send(&cpu, 1, MPI_DOUBLE, 0, 6, MPI_COMM_WORLD);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

/* "a,b,c" or "FROM:TO" (powers of two from FROM, 0 first if FROM is 0). */
static int parse_sizes(const char *s, size_t *out) {
  int k = 0;
  const char *colon = strchr(s, ':');
  if (colon) {
    size_t from = strtoull(s, NULL, 10), to = strtoull(colon + 1, NULL, 10);
    if (from == 0) {
      out[k++] = 0;
      from = 1;
    }
    for (size_t v = from; v <= to && k < MAX_SIZES; v *= 2) out[k++] = v;
    return k;
  }
  char *copy = strdup(s), *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok && k < MAX_SIZES; tok = strtok_r(NULL, ",", &save))
    out[k++] = strtoull(tok, NULL, 10);
  free(copy);
  return k;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nprocs);

  const char *tests[MAX_TESTS];
  int ntests = 0;
  size_t default_sizes[MAX_SIZES];
  int ndefault = parse_sizes("0:4194304", default_sizes);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
      char *save = NULL, *copy = strdup(argv[++i]);
      /* "-t a,b" names tests; sizes after a colon belong to one test */
      if (strchr(copy, ':')) {
        if (ntests < MAX_TESTS) tests[ntests++] = copy;
      } else {
        for (char *tok = strtok_r(copy, ",", &save); tok && ntests < MAX_TESTS; tok = strtok_r(NULL, ",", &save))
          tests[ntests++] = tok;
      }
    } else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
      ndefault = parse_sizes(argv[++i], default_sizes);
    } else if (strcmp(argv[i], "-T") == 0 && i + 1 < argc) {
      target = atof(argv[++i]);
    } else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
      fixed_iters = atol(argv[++i]);
    } else {
      die("usage: osu_like [-t TEST[:SIZES]]... [-s SIZES] [-T SECONDS] [-n ITERS]");
    }
  }

  /* Buffers as large as the largest size a test will use (hello, blocked
     and barrier use none: a hello world must not pay for 4 MiB buffers). */
  size_t max_size = 0;
  for (int t = 0; t < ntests; t++) {
    const char *c = strchr(tests[t], ':');
    if (strncmp(tests[t], "hello", 5) == 0 || strncmp(tests[t], "blocked", 7) == 0 ||
        strncmp(tests[t], "barrier", 7) == 0)
      continue;
    size_t s[MAX_SIZES];
    int k = c ? parse_sizes(c + 1, s) : ndefault;
    for (int i = 0; i < k; i++) {
      size_t v = c ? s[i] : default_sizes[i];
      if (v > max_size) max_size = v;
    }
  }
  /* alltoall needs size bytes per rank */
  buf_bytes = (max_size ? max_size : 1) * (size_t)nprocs;
  sbuf = malloc(buf_bytes);
  rbuf = malloc(buf_bytes);
  if (!sbuf || !rbuf) die("out of memory");
  memset(sbuf, 1, buf_bytes);
  memset(rbuf, 0, buf_bytes);

  for (int t = 0; t < ntests; t++) {
    char name[32];
    const char *c = strchr(tests[t], ':');
    int len = c ? (int)(c - tests[t]) : (int)strlen(tests[t]);
    snprintf(name, sizeof name, "%.*s", len, tests[t]);
    size_t sizes[MAX_SIZES];
    int nsizes;
    if (c) {
      nsizes = parse_sizes(c + 1, sizes);
    } else {
      nsizes = ndefault;
      memcpy(sizes, default_sizes, sizeof sizes);
    }

    if (strcmp(name, "hello") == 0) {
      MPI_Barrier(MPI_COMM_WORLD);
      if (rank == 0) {
        char version[MPI_MAX_LIBRARY_VERSION_STRING];
        int vlen = 0;
        MPI_Get_library_version(version, &vlen);
        version[strcspn(version, "\n")] = 0; /* the first line */
        printf("LIBRARY %s\n", version);
        printf("RESULT hello np=%d size=0 value=1 unit=ok iters=1\n", nprocs);
      }
      continue;
    }
    if (strcmp(name, "blocked") == 0) {
      if (nprocs < 2) die("blocked needs 2 ranks");
      blocked(c ? atof(c + 1) : 5.0);
      continue;
    }
    loop_fn fn = NULL;
    if (strcmp(name, "lat") == 0) fn = loop_lat;
    else if (strcmp(name, "bw") == 0) fn = loop_bw;
    else if (strcmp(name, "bibw") == 0) fn = loop_bibw;
    else if (strcmp(name, "allreduce") == 0) fn = loop_allreduce;
    else if (strcmp(name, "bcast") == 0) fn = loop_bcast;
    else if (strcmp(name, "barrier") == 0) fn = loop_barrier;
    else if (strcmp(name, "alltoall") == 0) fn = loop_alltoall;
    else die("unknown test");
    if ((fn == loop_lat || fn == loop_bw || fn == loop_bibw) && nprocs < 2) die("point-to-point tests need 2 ranks");
    if (fn == loop_barrier) {
      measure(name, fn, 0);
      continue;
    }
    for (int i = 0; i < nsizes; i++) measure(name, fn, sizes[i]);
  }
  free(sbuf);
  free(rbuf);
  MPI_Finalize();
  return 0;
}
