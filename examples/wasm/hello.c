// A WASI command for `berth run --wasm`: greets its arguments, reads the preopened directory
// it was given, and exits with a code of its choosing.
//
//   clang --target=wasm32-wasi -O2 hello.c -o hello.wasm
//   berth run --rm --wasm hello.wasm --dir /etc::/host-etc -- world
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) printf("hello, %s, from a wasm module\n", argv[i]);
  DIR* dir = opendir("/host-etc");
  if (dir) {
    int entries = 0;
    while (readdir(dir)) ++entries;
    closedir(dir);
    printf("it sees %d entries in /host-etc and nothing outside it\n", entries);
  }
  FILE* escape = fopen("/etc/shadow", "r");
  printf("/etc/shadow: %s\n", escape ? "readable (!)" : "not there for it");
  return argc > 1 ? 0 : 2;
}
