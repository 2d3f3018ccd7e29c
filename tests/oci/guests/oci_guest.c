// The WASI command berth-oci's Wasm handler tests run as a container's process (compiled to
// wasm32-wasi at build time). argv[1] picks what it does:
//   hello                 prints "hello from wasm", exits 0
//   full CODE             prints its argv and $GREETING, reads /input.txt (through the "/"
//                         preopen), writes /output.txt, exits CODE
//   sleep SECONDS         prints "sleeping", sleeps, exits 0
//   trap                  traps (unreachable)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "hello";
  if (strcmp(mode, "hello") == 0) {
    puts("hello from wasm");
    return 0;
  }
  if (strcmp(mode, "full") == 0) {
    for (int i = 0; i < argc; ++i) printf("argv[%d]=%s\n", i, argv[i]);
    const char* greeting = getenv("GREETING");
    printf("GREETING=%s\n", greeting ? greeting : "(unset)");
    FILE* in = fopen("/input.txt", "r");
    if (!in) {
      perror("open /input.txt");
      return 90;
    }
    char line[256] = {0};
    if (!fgets(line, sizeof line, in)) line[0] = '\0';
    fclose(in);
    line[strcspn(line, "\n")] = '\0';
    printf("read: %s\n", line);
    FILE* out = fopen("/output.txt", "w");
    if (!out) {
      perror("open /output.txt");
      return 91;
    }
    fputs("written by wasm\n", out);
    fclose(out);
    fflush(stdout);
    return argc > 2 ? atoi(argv[2]) : 0;
  }
  if (strcmp(mode, "sleep") == 0) {
    puts("sleeping");
    fflush(stdout);
    sleep(argc > 2 ? (unsigned)atoi(argv[2]) : 60);
    return 0;
  }
  if (strcmp(mode, "trap") == 0) __builtin_trap();
  fprintf(stderr, "unknown mode %s\n", mode);
  return 2;
}
