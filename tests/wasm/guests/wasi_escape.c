// Ways out of the sandbox that must all fail: "..", absolute host paths, a symlink to "/",
// a symlink climbing out, /proc/self. argv[1] is the preopened directory (default /sandbox).
// Prints "denied <how>" or "ESCAPED <how>" per attempt; exits 0 when every one was denied,
// else 3.
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int escaped = 0;

static void attempt_open(const char* path, const char* how) {
  int fd = open(path, O_RDONLY);
  if (fd >= 0) {
    close(fd);
    printf("ESCAPED %s\n", how);
    ++escaped;
  } else {
    printf("denied %s\n", how);
  }
}

int main(int argc, char** argv) {
  const char* dir = argc > 1 ? argv[1] : "/sandbox";
  char path[512];
  snprintf(path, sizeof path, "%s/../../../../etc/passwd", dir);
  attempt_open(path, "dotdot");
  attempt_open("/etc/passwd", "absolute");
  attempt_open("/proc/self/environ", "proc-self");
  snprintf(path, sizeof path, "%s/root", dir);
  if (symlink("/", path) == 0) {
    snprintf(path, sizeof path, "%s/root/etc/passwd", dir);
    attempt_open(path, "symlink-to-root");
  } else {
    printf("denied symlink-to-root (not even made)\n");
  }
  snprintf(path, sizeof path, "%s/up", dir);
  if (symlink("../../../../../..", path) == 0) {
    snprintf(path, sizeof path, "%s/up/etc/passwd", dir);
    attempt_open(path, "symlink-up");
  } else {
    printf("denied symlink-up (not even made)\n");
  }
  printf("escaped=%d\n", escaped);
  return escaped ? 3 : 0;
}
