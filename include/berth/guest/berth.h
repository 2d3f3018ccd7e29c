/* berth's guest SDK for Wasm functions (C, clang --target=wasm32-wasi -mexec-model=reactor).
 *
 * Host functions in the `berth` import module:
 *   key-value store of the loaded module (shared by its instances, limits set by the host):
 *     berth_kv_get(key, key_len, buf, buf_cap)  -> value length (copied only when it fits in
 *                                                  buf_cap), or BERTH_KV_NOT_FOUND
 *     berth_kv_set(key, key_len, value, value_len) -> 0 or a negative BERTH_KV_* code
 *     berth_kv_delete(key, key_len)              -> 0 or BERTH_KV_NOT_FOUND
 *     berth_kv_exists(key, key_len)              -> 1 or 0
 *     berth_kv_keys(prefix, prefix_len, buf, buf_cap) -> bytes needed for every key with the
 *                                                  prefix, each followed by '\0' (copied only
 *                                                  when it fits)
 *     berth_kv_count()                           -> number of entries
 *   logging into the embedder's log stream:
 *     berth_log(level, message, message_len)     level: 0 debug, 1 info, 2 warn, 3 error
 *
 * The bytes-in/bytes-out convention (FunctionModule::call_bytes): export
 *   BERTH_EXPORT(berth_alloc) int32_t berth_alloc(int32_t size);   memory for the input
 *   BERTH_EXPORT(fn) int64_t fn(int32_t input, int32_t length);    returns berth_output(p, n)
 */
#ifndef BERTH_GUEST_BERTH_H
#define BERTH_GUEST_BERTH_H

#include <stdint.h>

#define BERTH_KV_OK 0
#define BERTH_KV_NOT_FOUND (-1)
#define BERTH_KV_KEY_TOO_LONG (-2)
#define BERTH_KV_VALUE_TOO_LARGE (-3)
#define BERTH_KV_TOO_MANY_ENTRIES (-4)
#define BERTH_KV_BAD_POINTER (-5)
#define BERTH_KV_IO_ERROR (-6)

#define BERTH_IMPORT(name) __attribute__((import_module("berth"), import_name(#name)))
#define BERTH_EXPORT(name) __attribute__((export_name(#name)))

BERTH_IMPORT(kv_get) int32_t berth_kv_get(const void* key, int32_t key_len, void* buf, int32_t buf_cap);
BERTH_IMPORT(kv_set) int32_t berth_kv_set(const void* key, int32_t key_len, const void* value, int32_t value_len);
BERTH_IMPORT(kv_delete) int32_t berth_kv_delete(const void* key, int32_t key_len);
BERTH_IMPORT(kv_exists) int32_t berth_kv_exists(const void* key, int32_t key_len);
BERTH_IMPORT(kv_keys) int32_t berth_kv_keys(const void* prefix, int32_t prefix_len, void* buf, int32_t buf_cap);
BERTH_IMPORT(kv_count) int32_t berth_kv_count(void);
BERTH_IMPORT(log) void berth_log(int32_t level, const void* message, int32_t message_len);

/* Packs an output range for the bytes convention. */
static inline int64_t berth_output(const void* data, int32_t length) {
  return ((int64_t)(uint32_t)(uintptr_t)data << 32) | (uint32_t)length;
}

#endif
