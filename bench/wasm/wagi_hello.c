// The HTTP trigger benchmark's handler: a WAGI (CGI over WASI) hello, the same bytes the static
// nginx serves.
#include <stdio.h>

int main(void) {
  fputs("Content-Type: text/plain\n\nhello from wasm\n", stdout);
  return 0;
}
