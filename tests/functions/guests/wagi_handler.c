// A WAGI handler (a WASI command): CGI headers, a blank line and the body on stdout. The query
// string picks what it does, so tests can mix misbehaviour into a load: echo (the body and some
// of the environment back), status (a 404), trap, loop (runs until its deadline), or hello.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  const char* query = getenv("QUERY_STRING");
  if (!query) query = "";
  if (strcmp(query, "trap") == 0) __builtin_trap();
  if (strcmp(query, "loop") == 0)
    for (volatile int i = 0;; ++i) {
    }
  if (strcmp(query, "status") == 0) {
    printf("Status: 404 Not Found\nContent-Type: text/plain\n\nno such thing\n");
    return 0;
  }
  if (strcmp(query, "echo") == 0) {
    printf("Content-Type: text/plain\nX-Method: %s\n\n", getenv("REQUEST_METHOD"));
    printf("path=%s agent=%s length=%s\n", getenv("PATH_INFO"), getenv("HTTP_USER_AGENT") ? getenv("HTTP_USER_AGENT") : "-",
           getenv("CONTENT_LENGTH"));
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, stdin)) > 0) fwrite(buffer, 1, n, stdout);
    return 0;
  }
  printf("Content-Type: text/plain\n\nhello from wasm\n");
  return 0;
}
