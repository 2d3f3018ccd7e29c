// A small WASI command exercising what most programs use: arguments, environment, stdout,
// a file in the preopened directory, a directory listing, clocks and randomness. Exits with
// the number of checks that failed.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int failures = 0;

static void check(int ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "wasi_smoke: %s failed\n", what);
    ++failures;
  }
}

int main(int argc, char** argv) {
  printf("argc=%d", argc);
  for (int i = 1; i < argc; ++i) printf(" [%s]", argv[i]);
  printf("\n");
  const char* greeting = getenv("GREETING");
  printf("GREETING=%s\n", greeting ? greeting : "(unset)");

  const char* dir = argc > 1 ? argv[1] : "/sandbox";
  char path[256];
  snprintf(path, sizeof path, "%s/smoke.txt", dir);
  FILE* out = fopen(path, "w");
  check(out != NULL, "fopen for writing");
  if (out) {
    fputs("written by a wasm guest\n", out);
    fclose(out);
  }
  FILE* in = fopen(path, "r");
  check(in != NULL, "fopen for reading");
  if (in) {
    char line[64] = {0};
    check(fgets(line, sizeof line, in) != NULL && strcmp(line, "written by a wasm guest\n") == 0,
          "read back");
    fclose(in);
  }
  DIR* listing = opendir(dir);
  check(listing != NULL, "opendir");
  int found = 0;
  if (listing) {
    struct dirent* entry;
    while ((entry = readdir(listing)) != NULL) found |= strcmp(entry->d_name, "smoke.txt") == 0;
    closedir(listing);
  }
  check(found, "readdir finds the file");
  check(unlink(path) == 0, "unlink");
  check(fopen("/etc/passwd", "r") == NULL, "/etc/passwd is out of reach");

  struct timespec now;
  check(clock_gettime(CLOCK_MONOTONIC, &now) == 0, "clock_gettime");
  unsigned char random_bytes[16];
  check(getentropy(random_bytes, sizeof random_bytes) == 0, "getentropy");
  printf("failures=%d\n", failures);
  return failures;
}
