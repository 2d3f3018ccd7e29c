// Files and directories inside the preopened directory given as argv[1] (default /sandbox):
// write/read, mkdir, readdir, rename, symlink + readlink, stat, unlink, rmdir. Prints one
// "ok <check>" or "FAIL <check>" line per check and exits with the number that failed.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures = 0;

static void check(int ok, const char* what) {
  printf("%s %s\n", ok ? "ok" : "FAIL", what);
  if (!ok) ++failures;
}

static char path_buf[8][512];
static const char* at(int slot, const char* dir, const char* name) {
  snprintf(path_buf[slot], sizeof path_buf[slot], "%s/%s", dir, name);
  return path_buf[slot];
}

int main(int argc, char** argv) {
  const char* dir = argc > 1 ? argv[1] : "/sandbox";
  const char* file = at(0, dir, "hello.txt");
  FILE* out = fopen(file, "w");
  check(out != NULL && fputs("hello from wasm\n", out) >= 0 && fclose(out) == 0, "write file");
  char line[64] = {0};
  FILE* in = fopen(file, "r");
  check(in != NULL && fgets(line, sizeof line, in) && strcmp(line, "hello from wasm\n") == 0, "read file");
  if (in) fclose(in);
  struct stat st;
  check(stat(file, &st) == 0 && st.st_size == 16 && S_ISREG(st.st_mode), "stat file");

  const char* sub = at(1, dir, "sub");
  check(mkdir(sub, 0755) == 0, "mkdir");
  check(stat(sub, &st) == 0 && S_ISDIR(st.st_mode), "stat dir");
  const char* moved = at(2, sub, "moved.txt");
  check(rename(file, moved) == 0, "rename into subdir");
  check(access(file, F_OK) != 0 && access(moved, F_OK) == 0, "rename moved it");

  int seen = 0;
  DIR* listing = opendir(sub);
  if (listing) {
    struct dirent* entry;
    while ((entry = readdir(listing)) != NULL) seen |= strcmp(entry->d_name, "moved.txt") == 0;
    closedir(listing);
  }
  check(seen, "readdir");

  const char* link = at(3, dir, "link.txt");
  check(symlink("sub/moved.txt", link) == 0, "symlink");
  char target[128] = {0};
  ssize_t n = readlink(link, target, sizeof target - 1);
  check(n > 0 && strcmp(target, "sub/moved.txt") == 0, "readlink");
  in = fopen(link, "r");
  memset(line, 0, sizeof line);
  check(in != NULL && fgets(line, sizeof line, in) && strcmp(line, "hello from wasm\n") == 0, "read through symlink");
  if (in) fclose(in);

  check(unlink(link) == 0 && unlink(moved) == 0, "unlink");
  check(rmdir(sub) == 0, "rmdir");
  check(access(sub, F_OK) != 0, "rmdir removed it");
  printf("failures=%d\n", failures);
  return failures;
}
