/* CPU-bound kernels for the Wasm speed benchmark: the same C compiled natively (gcc -O2) and to
 * wasm32 (clang -O2, no libc: each kernel is an exported function taking a size and returning a
 * checksum, so every engine's result is checked against native). Static arrays only. */
#include <stddef.h>
#include <stdint.h>

#ifdef __wasm__
#define KERNEL(name) __attribute__((export_name(#name))) uint64_t name
#else
#define KERNEL(name) uint64_t name
#endif

/* FNV-1a over a counter's bytes. */
KERNEL(k_hash)(uint32_t n) {
  uint64_t h = 1469598103934665603ull;
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t v = i;
    for (int b = 0; b < 4; ++b) {
      h ^= v & 0xff;
      h *= 1099511628211ull;
      v >>= 8;
    }
  }
  return h;
}

/* Sieve of Eratosthenes up to 4M, n times. */
static uint8_t sieve_flags[1 << 22];
KERNEL(k_sieve)(uint32_t n) {
  uint64_t count = 0;
  for (uint32_t round = 0; round < n; ++round) {
    for (size_t i = 0; i < sizeof sieve_flags; ++i) sieve_flags[i] = 1;
    for (size_t i = 2; i * i < sizeof sieve_flags; ++i)
      if (sieve_flags[i])
        for (size_t j = i * i; j < sizeof sieve_flags; j += i) sieve_flags[j] = 0;
    for (size_t i = 2; i < sizeof sieve_flags; ++i) count += sieve_flags[i];
  }
  return count;
}

/* Dense 128x128 double matrix multiply, n times. */
#define MN 128
static double ma[MN][MN], mb[MN][MN], mc[MN][MN];
KERNEL(k_matmul)(uint32_t n) {
  for (int i = 0; i < MN; ++i)
    for (int j = 0; j < MN; ++j) {
      ma[i][j] = (double)(i * MN + j) / 1000.0;
      mb[i][j] = (double)(j * MN + i) / 2000.0;
    }
  double sum = 0;
  for (uint32_t round = 0; round < n; ++round) {
    for (int i = 0; i < MN; ++i)
      for (int j = 0; j < MN; ++j) mc[i][j] = 0;
    for (int i = 0; i < MN; ++i)
      for (int k = 0; k < MN; ++k) {
        double a = ma[i][k];
        for (int j = 0; j < MN; ++j) mc[i][j] += a * mb[k][j];
      }
    sum += mc[round % MN][(round * 7) % MN];
    ma[round % MN][0] += 1e-3;
  }
  return (uint64_t)(sum * 1000.0);
}

/* Quicksort of 1M pseudo-random integers, n times. */
#define SN (1 << 20)
static uint32_t sort_data[SN];
static void quicksort(uint32_t* a, long lo, long hi) {
  while (lo < hi) {
    uint32_t pivot = a[lo + (hi - lo) / 2];
    long i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) ++i;
      while (a[j] > pivot) --j;
      if (i <= j) {
        uint32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
        ++i;
        --j;
      }
    }
    if (j - lo < hi - i) {
      quicksort(a, lo, j);
      lo = i;
    } else {
      quicksort(a, i, hi);
      hi = j;
    }
  }
}
KERNEL(k_sort)(uint32_t n) {
  uint64_t check = 0;
  uint32_t x = 12345;
  for (uint32_t round = 0; round < n; ++round) {
    for (size_t i = 0; i < SN; ++i) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      sort_data[i] = x;
    }
    quicksort(sort_data, 0, SN - 1);
    check += sort_data[SN / 2] + sort_data[round % SN];
  }
  return check;
}

/* Naive substring search for several needles in a 1 MiB text, n times. */
static char text[1 << 20];
KERNEL(k_search)(uint32_t n) {
  uint32_t x = 7;
  for (size_t i = 0; i < sizeof text; ++i) {
    x = x * 1103515245u + 12345u;
    text[i] = (char)('a' + (x >> 16) % 4);
  }
  static const char* needles[] = {"abcdabca", "ddddaaab", "cabbacab", "aaaaaaab"};
  uint64_t found = 0;
  for (uint32_t round = 0; round < n; ++round) {
    const char* needle = needles[round % 4];
    size_t m = 8;
    for (size_t i = 0; i + m <= sizeof text; ++i) {
      size_t k = 0;
      while (k < m && text[i + k] == needle[k]) ++k;
      if (k == m) found += i;
    }
  }
  return found;
}

/* A small stack-machine bytecode interpreter: per iteration it runs
 * acc = ((acc * 31) + i) ^ 3 as bytecode; the dispatch loop is what is measured. */
enum { OP_PUSH, OP_LOAD_ACC, OP_LOAD_I, OP_STORE_ACC, OP_ADD, OP_MUL, OP_XOR, OP_HALT };
KERNEL(k_bytecode)(uint32_t n) {
  static const int32_t body[] = {OP_LOAD_ACC, OP_PUSH, 31, OP_MUL, OP_LOAD_I, OP_ADD,
                                 OP_PUSH,     3,       OP_XOR, OP_STORE_ACC, OP_HALT};
  int32_t stack[8];
  uint32_t acc = 0;
  for (uint32_t i = n; i != 0; --i) {
    int sp = 0;
    for (int p = 0; body[p] != OP_HALT;) {
      switch (body[p++]) {
        case OP_PUSH: stack[sp++] = body[p++]; break;
        case OP_LOAD_ACC: stack[sp++] = (int32_t)acc; break;
        case OP_LOAD_I: stack[sp++] = (int32_t)i; break;
        case OP_STORE_ACC: acc = (uint32_t)stack[--sp]; break;
        case OP_ADD: --sp; stack[sp - 1] = (int32_t)((uint32_t)stack[sp - 1] + (uint32_t)stack[sp]); break;
        case OP_MUL: --sp; stack[sp - 1] = (int32_t)((uint32_t)stack[sp - 1] * (uint32_t)stack[sp]); break;
        case OP_XOR: --sp; stack[sp - 1] ^= stack[sp]; break;
      }
    }
  }
  return acc;
}

/* Floating-point n-body (five bodies), n steps. */
typedef struct { double x, y, z, vx, vy, vz, mass; } Body;
KERNEL(k_nbody)(uint32_t n) {
  const double pi = 3.141592653589793, solar_mass = 4 * pi * pi, days = 365.24;
  Body bodies[5] = {
      {0, 0, 0, 0, 0, 0, solar_mass},
      {4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01, 1.66007664274403694e-03 * days,
       7.69901118419740425e-03 * days, -6.90460016972063023e-05 * days, 9.54791938424326609e-04 * solar_mass},
      {8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01, -2.76742510726862411e-03 * days,
       4.99852801234917238e-03 * days, 2.30417297573763929e-05 * days, 2.85885980666130812e-04 * solar_mass},
      {1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01, 2.96460137564761618e-03 * days,
       2.37847173959480950e-03 * days, -2.96589568540237556e-05 * days, 4.36624404335156298e-05 * solar_mass},
      {1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01, 2.68067772490389322e-03 * days,
       1.62824170038242295e-03 * days, -9.51592254519715870e-05 * days, 5.15138902046611451e-05 * solar_mass},
  };
  const double dt = 0.01;
  for (uint32_t step = 0; step < n; ++step) {
    for (int i = 0; i < 5; ++i)
      for (int j = i + 1; j < 5; ++j) {
        double dx = bodies[i].x - bodies[j].x, dy = bodies[i].y - bodies[j].y, dz = bodies[i].z - bodies[j].z;
        double d2 = dx * dx + dy * dy + dz * dz;
        double mag = dt / (d2 * __builtin_sqrt(d2));
        bodies[i].vx -= dx * bodies[j].mass * mag;
        bodies[i].vy -= dy * bodies[j].mass * mag;
        bodies[i].vz -= dz * bodies[j].mass * mag;
        bodies[j].vx += dx * bodies[i].mass * mag;
        bodies[j].vy += dy * bodies[i].mass * mag;
        bodies[j].vz += dz * bodies[i].mass * mag;
      }
    for (int i = 0; i < 5; ++i) {
      bodies[i].x += dt * bodies[i].vx;
      bodies[i].y += dt * bodies[i].vy;
      bodies[i].z += dt * bodies[i].vz;
    }
  }
  double e = 0;
  for (int i = 0; i < 5; ++i) e += bodies[i].x + bodies[i].y + bodies[i].z;
  return (uint64_t)(int64_t)(e * 1e9);
}
