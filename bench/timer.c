/* The bench's stopwatch (compiled by bench/startup.js). Every timed command is started the way a
 * shell starts it, by fork and exec from a small process: timed from Node, each spawn would fork
 * the whole Node process first, which adds about a millisecond to both columns and hides what
 * python and pynwheel themselves cost (the spec timed its runs from a shell script).
 *
 *   timer [--stderr FILE] rows WARMUP N CMD ARGS... [--- CMD ARGS...]...
 *       WARMUP untimed rounds, then N rounds; a round runs each command once, in turn
 *       (interleaved). Prints one line per command: its N wall times in ms, spawn to exit.
 *   timer [--stderr FILE] loop SECONDS LOOPS CMD ARGS...
 *       LOOPS parallel loops of back-to-back runs for SECONDS. Prints "RUNS ELAPSED_SECONDS".
 *
 * Commands get /dev/null as stdin and stdout, and FILE (or /dev/null) as stderr, truncated at
 * each run; a run that fails stops the timer with status 1 and leaves its stderr in FILE.
 * A command may start with NAME=VALUE words, as with env(1): they are set in its environment
 * (so that two builds of pynwheel, each with its own runtime directory, interleave in one row). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *stderr_path = "/dev/null";

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* fork, exec, wait: 0 if the command exited 0. */
static int run(char **argv) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int in = open("/dev/null", O_RDWR);
    int err = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || err < 0 || dup2(in, 0) < 0 || dup2(in, 1) < 0 || dup2(err, 2) < 0) _exit(126);
    while (argv[0] && argv[0][0] != '/' && strchr(argv[0], '=')) putenv(*argv++);
    execvp(argv[0], argv);
    _exit(127);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

static void failed(char **argv, int status) {
  fprintf(stderr, "timer: %s failed (wait status %d; its stderr is in %s)\n", argv[0], status, stderr_path);
  exit(1);
}

static int rows(int warmup, int n, char **args, int count) {
  char **commands[64];
  int ncommands = 0;
  commands[ncommands++] = args;
  for (int i = 0; i < count; i++) {
    if (strcmp(args[i], "---") == 0) {
      args[i] = NULL;
      if (ncommands == 64 || i + 1 >= count) return 2;
      commands[ncommands++] = &args[i + 1];
    }
  }
  double *times = calloc((size_t)n * ncommands + 1, sizeof(double));
  if (!times) return 1;
  for (int round = -warmup; round < n; round++) {
    for (int c = 0; c < ncommands; c++) {
      double started = now_ms();
      int status = run(commands[c]);
      double elapsed = now_ms() - started;
      if (status != 0) failed(commands[c], status);
      if (round >= 0) times[c * n + round] = elapsed;
    }
  }
  for (int c = 0; c < ncommands; c++) {
    for (int i = 0; i < n; i++) printf(i ? " %.4f" : "%.4f", times[c * n + i]);
    printf("\n");
  }
  return 0;
}

static int loop(double seconds, int loops, char **argv) {
  int results[2];
  if (pipe(results) != 0) return 1;
  double started = now_ms(), deadline = started + seconds * 1e3;
  for (int l = 0; l < loops; l++) {
    if (fork() == 0) {
      long runs = 0;
      while (now_ms() < deadline) {
        int status = run(argv);
        if (status != 0) failed(argv, status);
        runs++;
      }
      if (write(results[1], &runs, sizeof runs) != sizeof runs) _exit(1);
      _exit(0);
    }
  }
  close(results[1]);  /* a loop that fails leaves without writing: the reads below see EOF */
  long total = 0;
  for (int l = 0; l < loops; l++) {
    long runs;
    if (read(results[0], &runs, sizeof runs) != sizeof runs) return 1;  /* a loop failed */
    total += runs;
  }
  while (wait(NULL) > 0) {
  }
  printf("%ld %.4f\n", total, (now_ms() - started) / 1e3);
  return 0;
}

int main(int argc, char **argv) {
  int i = 1;
  if (i + 1 < argc && strcmp(argv[i], "--stderr") == 0) {
    stderr_path = argv[i + 1];
    i += 2;
  }
  if (i + 3 < argc && strcmp(argv[i], "rows") == 0) return rows(atoi(argv[i + 1]), atoi(argv[i + 2]), &argv[i + 3], argc - i - 3);
  if (i + 3 < argc && strcmp(argv[i], "loop") == 0) return loop(atof(argv[i + 1]), atoi(argv[i + 2]), &argv[i + 3]);
  fprintf(stderr, "usage: timer [--stderr FILE] rows WARMUP N CMD... [--- CMD...]... | loop SECONDS LOOPS CMD...\n");
  return 2;
}
