// A WAGI HTTP handler (CGI over WASI) for `berth run --wasm h.wasm --http HOST:PORT`: request
// headers arrive as environment variables, the body on stdin; it writes CGI headers, a blank
// line and the body. Each request runs in a fresh instance.
//
//   clang --target=wasm32-wasi -O2 wagi_hello.c -o wagi_hello.wasm
#include <stdio.h>
#include <stdlib.h>

int main(void) {
  const char* query = getenv("QUERY_STRING");
  printf("Content-Type: text/plain\n\n");
  printf("hello from a wasm handler: %s %s%s%s\n", getenv("REQUEST_METHOD"), getenv("PATH_INFO"),
         query && *query ? "?" : "", query ? query : "");
  return 0;
}
