// A Wasm function guest written against berth's SDK header (a reactor): the key-value store,
// logging and the bytes convention, for tests/functions/kv_test.cpp.
#include <berth/guest/berth.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

BERTH_EXPORT(berth_alloc) int32_t berth_alloc(int32_t size) { return (int32_t)(uintptr_t)malloc((size_t)size); }

// Counts its calls in the store under "hits" (not atomic across callers: the store has no
// transactions).
BERTH_EXPORT(hit) int32_t hit(void) {
  char buffer[16];
  int32_t n = berth_kv_get("hits", 4, buffer, sizeof buffer - 1);
  int value = 0;
  if (n >= 0 && n < (int32_t)sizeof buffer) {
    buffer[n] = '\0';
    value = atoi(buffer);
  }
  ++value;
  int length = snprintf(buffer, sizeof buffer, "%d", value);
  int32_t status = berth_kv_set("hits", 4, buffer, length);
  return status < 0 ? status : value;
}

static char value[2 << 20];

// Sets "k<i>" to `size` bytes of 'x'.
BERTH_EXPORT(put) int32_t put(int32_t i, int32_t size) {
  char key[32];
  int length = snprintf(key, sizeof key, "k%d", (int)i);
  if (size < 0 || size > (int32_t)sizeof value) return -100;
  memset(value, 'x', (size_t)size);
  return berth_kv_set(key, length, value, size);
}

BERTH_EXPORT(exists) int32_t exists(int32_t i) {
  char key[32];
  int length = snprintf(key, sizeof key, "k%d", (int)i);
  return berth_kv_exists(key, length);
}

BERTH_EXPORT(del) int32_t del(int32_t i) {
  char key[32];
  int length = snprintf(key, sizeof key, "k%d", (int)i);
  return berth_kv_delete(key, length);
}

BERTH_EXPORT(count) int32_t count(void) { return berth_kv_count(); }

// Input: a prefix; output: the keys with it, each followed by '\0'.
BERTH_EXPORT(keys) int64_t keys(int32_t prefix, int32_t length) {
  static char out[65536];
  int32_t needed = berth_kv_keys((const void*)(uintptr_t)prefix, length, out, sizeof out);
  if (needed < 0 || needed > (int32_t)sizeof out) needed = 0;
  return berth_output(out, needed);
}

BERTH_EXPORT(long_key) int32_t long_key(void) {
  static char key[1025];
  memset(key, 'a', sizeof key);
  return berth_kv_set(key, sizeof key, "v", 1);
}

// A key pointer past the end of the guest's memory.
BERTH_EXPORT(bad_pointer) int32_t bad_pointer(void) { return berth_kv_set((const void*)(uintptr_t)0xfffffff0u, 100, "v", 1); }

BERTH_EXPORT(say) void say(void) { berth_log(1, "hello from the guest", 20); }

BERTH_EXPORT(boom) void boom(void) { __builtin_trap(); }
