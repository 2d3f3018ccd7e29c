// A WAGI handler with state: every request adds one to "hits" in the trigger's key-value store
// (shared by all requests, so it counts across fresh instances) and answers the new count.
// ?big tries to store a value above the store's limit and answers the code it got; ?log logs.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <berth/guest/berth.h>

int main(void) {
  const char* query = getenv("QUERY_STRING");
  if (!query) query = "";
  printf("Content-Type: text/plain\n\n");
  if (strcmp(query, "big") == 0) {
    static char value[4096];
    memset(value, 'x', sizeof value);
    printf("set: %d\n", (int)berth_kv_set("big", 3, value, sizeof value));
    return 0;
  }
  if (strcmp(query, "log") == 0) {
    const char message[] = "a line from the handler";
    berth_log(1, message, (int32_t)strlen(message));
  }
  char buffer[32] = {0};
  int32_t n = berth_kv_get("hits", 4, buffer, sizeof buffer - 1);
  long hits = n > 0 ? strtol(buffer, NULL, 10) : 0;
  ++hits;
  int length = snprintf(buffer, sizeof buffer, "%ld", hits);
  if (berth_kv_set("hits", 4, buffer, length) != 0) return 3;
  printf("hits: %ld\n", hits);
  return 0;
}
