// Arguments, environment, clocks, randomness, poll (a sleep), stdout and stderr, and the exit
// code: `exit N` as the first argument exits with N; "unset" prints the environment's size.
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

int main(int argc, char** argv) {
  printf("argv0=%s\n", argv[0]);
  for (int i = 1; i < argc; ++i) printf("arg%d=%s\n", i, argv[i]);
  int count = 0;
  for (char** e = environ; *e; ++e, ++count) printf("env %s\n", *e);
  printf("envc=%d\n", count);

  struct timespec before, after, wall;
  int clocks = clock_gettime(CLOCK_MONOTONIC, &before) == 0 && clock_gettime(CLOCK_REALTIME, &wall) == 0;
  // poll_oneoff with only a clock subscription: a 20 ms sleep.
  poll(NULL, 0, 20);
  clock_gettime(CLOCK_MONOTONIC, &after);
  long slept_ms = (after.tv_sec - before.tv_sec) * 1000 + (after.tv_nsec - before.tv_nsec) / 1000000;
  printf("clocks=%s\n", clocks && wall.tv_sec > 1600000000 ? "ok" : "bad");
  printf("poll_slept=%s\n", slept_ms >= 19 ? "ok" : "short");
  unsigned char a[16] = {0}, b[16] = {0};
  int random_ok = getentropy(a, sizeof a) == 0 && getentropy(b, sizeof b) == 0 && memcmp(a, b, sizeof a) != 0;
  printf("random=%s\n", random_ok ? "ok" : "bad");
  fflush(stdout);
  fprintf(stderr, "to stderr\n");
  if (argc > 2 && strcmp(argv[1], "exit") == 0) return atoi(argv[2]);
  return 0;
}
