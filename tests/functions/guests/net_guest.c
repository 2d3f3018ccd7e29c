// A Wasm function guest (a reactor) that talks TCP through berth_tcp_connect, for
// tests/functions/net_test.cpp. Each export takes the address ("HOST:PORT") as its input bytes
// and answers with text: what the peer said, "fd N", or "ERR <BERTH_NET_* code>".
#include <berth/guest/berth.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wasi/api.h>

static char address[256];
static char out[256];

BERTH_EXPORT(berth_alloc) int32_t berth_alloc(int32_t size) { return (int32_t)(uintptr_t)malloc((size_t)size); }

// Copies the input to `address` (NUL-terminated) and frees it.
static void take_address(int32_t input, int32_t length) {
  if (length >= (int32_t)sizeof address) length = sizeof address - 1;
  memcpy(address, (const void*)(uintptr_t)input, (size_t)length);
  address[length] = '\0';
  free((void*)(uintptr_t)input);
}

static int64_t text(const char* format, int value) {
  int n = snprintf(out, sizeof out, format, value);
  return berth_output(out, n);
}

// Connects, sends "ping", returns the reply (the test's peer answers "pong:" and what it read).
BERTH_EXPORT(roundtrip) int64_t roundtrip(int32_t input, int32_t length) {
  take_address(input, length);
  int fd = berth_tcp_connect(address);
  if (fd < 0) return text("ERR %d", fd);
  if (write(fd, "ping", 4) != 4) {
    close(fd);
    return text("ERR write %d", 0);
  }
  size_t got = 0;
  while (got < 9) {  // "pong:ping"
    ssize_t n = read(fd, out + got, sizeof out - got);
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  return berth_output(out, (int32_t)got);
}

// Connects and sends one byte, then returns without closing: the pool closes it.
BERTH_EXPORT(open_only) int64_t open_only(int32_t input, int32_t length) {
  take_address(input, length);
  int fd = berth_tcp_connect(address);
  if (fd < 0) return text("ERR %d", fd);
  (void)write(fd, "x", 1);
  return text("fd %d", fd);
}

// The same through the socket calls: fd_fdstat_get says it is a stream socket, then
// sock_send, sock_shutdown (write side) and sock_recv.
BERTH_EXPORT(socket_calls) int64_t socket_calls(int32_t input, int32_t length) {
  take_address(input, length);
  int fd = berth_tcp_connect(address);
  if (fd < 0) return text("ERR %d", fd);
  __wasi_fdstat_t stat;
  if (__wasi_fd_fdstat_get(fd, &stat) != 0 || stat.fs_filetype != __WASI_FILETYPE_SOCKET_STREAM) {
    close(fd);
    return text("ERR not a stream socket %d", 0);
  }
  if (send(fd, "ping", 4, 0) != 4 || __wasi_sock_shutdown(fd, __WASI_SDFLAGS_WR) != 0) {
    close(fd);
    return text("ERR send or shutdown %d", 0);
  }
  size_t got = 0;
  while (got < sizeof out) {
    ssize_t n = recv(fd, out + got, sizeof out - got, 0);
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  return berth_output(out, (int32_t)got);
}
