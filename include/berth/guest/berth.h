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
 *   outbound TCP to the peers on the module's allow-list (the host's LoadOptions::allowed_peers
 *   or `berth run --wasm --allow`; an empty list means no network):
 *     berth_tcp_connect("IP:PORT" | "[IPv6]:PORT" | "NAME:PORT") -> a WASI descriptor (use it with
 *                                                  read/write/recv/send/shutdown/close), or a
 *                                                  negative BERTH_NET_* code. A NAME must be a
 *                                                  host entry of the list (resolved by the host
 *                                                  at load; the guest never resolves names). The
 *                                                  connect waits at most the call's remaining
 *                                                  execution time. A function's connections are
 *                                                  closed when its call ends.
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

#define BERTH_NET_NOT_ALLOWED (-1)  /* not on the allow-list; nothing was sent */
#define BERTH_NET_REFUSED (-2)      /* the peer refused or reset the connection */
#define BERTH_NET_TIMEOUT (-3)      /* no answer within the call's remaining time */
#define BERTH_NET_BAD_ADDRESS (-4)  /* not IP:PORT, [IPv6]:PORT or NAME:PORT */
#define BERTH_NET_BAD_POINTER (-5)  /* the address is outside the guest's memory */
#define BERTH_NET_TOO_MANY_FDS (-6) /* the descriptor table is full */
#define BERTH_NET_UNREACHABLE (-7)  /* any other failure (no route, network down) */

#define BERTH_IMPORT(name) __attribute__((import_module("berth"), import_name(#name)))
#define BERTH_EXPORT(name) __attribute__((export_name(#name)))

BERTH_IMPORT(kv_get) int32_t berth_kv_get(const void* key, int32_t key_len, void* buf, int32_t buf_cap);
BERTH_IMPORT(kv_set) int32_t berth_kv_set(const void* key, int32_t key_len, const void* value, int32_t value_len);
BERTH_IMPORT(kv_delete) int32_t berth_kv_delete(const void* key, int32_t key_len);
BERTH_IMPORT(kv_exists) int32_t berth_kv_exists(const void* key, int32_t key_len);
BERTH_IMPORT(kv_keys) int32_t berth_kv_keys(const void* prefix, int32_t prefix_len, void* buf, int32_t buf_cap);
BERTH_IMPORT(kv_count) int32_t berth_kv_count(void);
BERTH_IMPORT(log) void berth_log(int32_t level, const void* message, int32_t message_len);
BERTH_IMPORT(tcp_connect) int32_t berth_tcp_connect_n(const void* address, int32_t address_len);

/* berth_tcp_connect_n for a NUL-terminated address. */
static inline int32_t berth_tcp_connect(const char* address) {
  return berth_tcp_connect_n(address, (int32_t)__builtin_strlen(address));
}

/* Packs an output range for the bytes convention. */
static inline int64_t berth_output(const void* data, int32_t length) {
  return ((int64_t)(uint32_t)(uintptr_t)data << 32) | (uint32_t)length;
}

#endif
