// A WASI command (run by berth-wasm) that connects to argv[1] with berth_tcp_connect, sends
// "ping" and prints the reply, or "ERR <BERTH_NET_* code>" (exit 1), for
// tests/functions/net_test.cpp.
#include <berth/guest/berth.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  int fd = berth_tcp_connect(argv[1]);
  if (fd < 0) {
    printf("ERR %d\n", fd);
    return 1;
  }
  if (write(fd, "ping", 4) != 4) return 3;
  char reply[64];
  size_t got = 0;
  while (got < 9) {
    ssize_t n = read(fd, reply + got, sizeof reply - got);
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  printf("%.*s\n", (int)got, reply);
  return 0;
}
