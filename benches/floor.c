/*
 * floor: the physical limits an MPI library on this machine works against.
 *
 *   cc -O2 -pthread benches/floor.c -o floor && ./floor [SECONDS]
 *
 * handoff  two threads pinned to CPUs 0 and 1 bounce one cache line: each
 *          waits for the other's value and writes its own. One-way time in
 *          microseconds (the floor for a small-message latency).
 * memcpy   one thread copies 4 MiB buffers (and 64 KiB ones) over and over:
 *          MB/s (the floor for a large message copied once).
 *
 * Output: RESULT floor_<name> np=1 size=<bytes> value=<number> unit=<us|MBps> iters=<n>
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double seconds = 0.5;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static _Alignas(64) _Atomic long line;
static long rounds;

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) fprintf(stderr, "floor: cannot pin to CPU %d\n", cpu);
}

/* The partner: waits for odd values and answers with the next even one. */
static void *partner(void *arg) {
  (void)arg;
  pin(1);
  for (long i = 0; i < rounds; i++) {
    long want = 2 * i + 1;
    while (atomic_load_explicit(&line, memory_order_acquire) != want) {
    }
    atomic_store_explicit(&line, want + 1, memory_order_release);
  }
  return NULL;
}

static double handoff(long n) {
  pthread_t t;
  atomic_store(&line, 0);
  rounds = n;
  pthread_create(&t, NULL, partner, NULL);
  pin(0);
  double t0 = now();
  for (long i = 0; i < n; i++) {
    atomic_store_explicit(&line, 2 * i + 1, memory_order_release);
    while (atomic_load_explicit(&line, memory_order_acquire) != 2 * i + 2) {
    }
  }
  double t1 = now();
  pthread_join(t, NULL);
  return (t1 - t0) / (double)n / 2;
}

static double copy_bw(size_t size, long *iters) {
  char *a = malloc(size), *b = malloc(size);
  memset(a, 1, size);
  memset(b, 2, size);
  long n = 0;
  double t0 = now(), t;
  do {
    for (int k = 0; k < 16; k++) {
      memcpy(k & 1 ? a : b, k & 1 ? b : a, size);
      n++;
    }
    t = now() - t0;
  } while (t < seconds);
  free(a);
  free(b);
  *iters = n;
  return (double)size * (double)n / t / 1e6;
}

int main(int argc, char **argv) {
  if (argc > 1) seconds = atof(argv[1]);
  long n = 1000;
  double per = handoff(n);
  while (per * (double)n * 2 < seconds) {
    n *= 4;
    per = handoff(n);
  }
  printf("RESULT floor_handoff np=1 size=64 value=%.6g unit=us iters=%ld\n", per * 1e6, n);
  size_t sizes[] = {65536, 4194304};
  for (int i = 0; i < 2; i++) {
    long iters;
    double bw = copy_bw(sizes[i], &iters);
    printf("RESULT floor_memcpy np=1 size=%zu value=%.6g unit=MBps iters=%ld\n", sizes[i], bw, iters);
  }
  return 0;
}
