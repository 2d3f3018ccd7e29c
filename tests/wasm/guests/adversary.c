// Guests that misbehave, one per argv[1]: loop (forever), membomb (malloc until it fails and say
// how far it got), recursion (big frames until the C stack, which lives in linear memory, runs
// off its bottom: an out-of-bounds access), deep (calls without frames in memory until the
// engine's call stack is exhausted), oob (a store far outside memory),
// unreachable (__builtin_trap), ok (prints "fine" and exits 0).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile unsigned sink;
static void* volatile kept;  // every block stays reachable, so the compiler keeps each malloc

__attribute__((noinline)) static unsigned recurse(unsigned n) {
  volatile char frame[256];
  frame[n % 256] = (char)n;
  if (n == 0xffffffffu) return frame[0];  // never: the stack runs out long before
  return recurse(n + 1) + frame[(n * 7) % 256];
}

__attribute__((noinline)) static unsigned deep(unsigned n) {
  if (n == 0xffffffffu) return 0;  // never
  unsigned r = deep(n + 1);
  return r * sink + n;  // work after the call: no tail call, no loop
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "ok";
  printf("mode=%s\n", mode);
  fflush(stdout);
  if (strcmp(mode, "loop") == 0) {
    for (unsigned i = 0;; ++i) sink = i;
  } else if (strcmp(mode, "membomb") == 0) {
    unsigned long mib = 0;
    for (;;) {
      char* block = malloc(1 << 20);
      if (!block) break;
      for (int page = 0; page < (1 << 20); page += 4096) block[page] = 1;  // touched, cheaply
      *(void**)block = kept;
      kept = block;
      ++mib;
    }
    printf("malloc failed after %lu MiB\n", mib);
    return 0;
  } else if (strcmp(mode, "recursion") == 0) {
    sink = recurse(0);
  } else if (strcmp(mode, "deep") == 0) {
    sink = deep(0);
  } else if (strcmp(mode, "oob") == 0) {
    volatile unsigned* far = (volatile unsigned*)0xfffffff0u;
    *far = 42;
  } else if (strcmp(mode, "unreachable") == 0) {
    __builtin_trap();
  }
  printf("fine\n");
  return 0;
}
