/*
 * tokhash.c - SipHash-2-4 (Aumasson and Bernstein, 2012) with a random key.
 *
 * The key comes from getrandom(GRND_NONBLOCK) on first use; if the kernel has
 * no entropy ready yet (very early boot) the clock and the address of the key
 * stand in, which is weaker but still never exposes a token: the hash is only
 * compared inside this process.
 */
#include "tokhash.h"

#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static uint64_t tokhash_key[2];
static pthread_once_t tokhash_once = PTHREAD_ONCE_INIT;

static void tokhash_init_key(void)
{
    if (getrandom(tokhash_key, sizeof(tokhash_key), GRND_NONBLOCK) !=
        (ssize_t)sizeof(tokhash_key)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        tokhash_key[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec;
        tokhash_key[1] = (uint64_t)(uintptr_t)&tokhash_key * 0xc2b2ae3d27d4eb4full;
    }
}

static uint64_t rotl(uint64_t x, int b)
{
    return x << b | x >> (64 - b);
}

#define SIPROUND(v0, v1, v2, v3)                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = rotl(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = rotl(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = rotl(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = rotl(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = rotl(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = rotl(v2, 32);                                                                         \
    } while (0)

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t x;

    memcpy(&x, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    return x;
}

uint64_t tokhash(const void *data, size_t len)
{
    const uint8_t *in = data;
    uint64_t v0, v1, v2, v3, m, last;
    size_t blocks = len / 8;

    pthread_once(&tokhash_once, tokhash_init_key);
    v0 = tokhash_key[0] ^ 0x736f6d6570736575ull;
    v1 = tokhash_key[1] ^ 0x646f72616e646f6dull;
    v2 = tokhash_key[0] ^ 0x6c7967656e657261ull;
    v3 = tokhash_key[1] ^ 0x7465646279746573ull;
    for (size_t i = 0; i < blocks; i++) {
        m = load_le64(in + 8 * i);
        v3 ^= m;
        SIPROUND(v0, v1, v2, v3);
        SIPROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    last = (uint64_t)len << 56;
    for (size_t i = 0; i < len % 8; i++)
        last |= (uint64_t)in[8 * blocks + i] << (8 * i);
    v3 ^= last;
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    v0 ^= last;
    v2 ^= 0xff;
    for (int i = 0; i < 4; i++)
        SIPROUND(v0, v1, v2, v3);
    m = v0 ^ v1 ^ v2 ^ v3;
    return m != 0 ? m : 1;
}
