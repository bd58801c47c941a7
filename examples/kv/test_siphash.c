/*
 * examples/kv/test_siphash.c - the store's hash against published vectors.
 * siphash_cd is generic in its round counts, so SipHash-2-4's vectors from
 * the SipHash paper's reference code (key 00 01 .. 0f, message 00 01 ..
 * n-1, n = 0..63) check the very code SipHash-1-3 runs; SipHash-1-3's own
 * vectors (same key and messages, as the Rust and Swift standard libraries
 * test theirs) check the round counts the store uses.
 */
#include <criterion/criterion.h>

#include "../../tests/criterion_glue.h"

#include "siphash.h"

static const siphash_key ref_key = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};

/* vectors_sip64 of the reference implementation, read little-endian. */
static const uint64_t sip24[64] = {
    0x726fdb47dd0e0e31ull, 0x74f839c593dc67fdull, 0x0d6c8009d9a94f5aull,
    0x85676696d7fb7e2dull, 0xcf2794e0277187b7ull, 0x18765564cd99a68dull,
    0xcbc9466e58fee3ceull, 0xab0200f58b01d137ull, 0x93f5f5799a932462ull,
    0x9e0082df0ba9e4b0ull, 0x7a5dbbc594ddb9f3ull, 0xf4b32f46226bada7ull,
    0x751e8fbc860ee5fbull, 0x14ea5627c0843d90ull, 0xf723ca908e7af2eeull,
    0xa129ca6149be45e5ull, 0x3f2acc7f57c29bdbull, 0x699ae9f52cbe4794ull,
    0x4bc1b3f0968dd39cull, 0xbb6dc91da77961bdull, 0xbed65cf21aa2ee98ull,
    0xd0f2cbb02e3b67c7ull, 0x93536795e3a33e88ull, 0xa80c038ccd5ccec8ull,
    0xb8ad50c6f649af94ull, 0xbce192de8a85b8eaull, 0x17d835b85bbb15f3ull,
    0x2f2e6163076bcfadull, 0xde4daaaca71dc9a5ull, 0xa6a2506687956571ull,
    0xad87a3535c49ef28ull, 0x32d892fad841c342ull, 0x7127512f72f27cceull,
    0xa7f32346f95978e3ull, 0x12e0b01abb051238ull, 0x15e034d40fa197aeull,
    0x314dffbe0815a3b4ull, 0x027990f029623981ull, 0xcadcd4e59ef40c4dull,
    0x9abfd8766a33735cull, 0x0e3ea96b5304a7d0ull, 0xad0c42d6fc585992ull,
    0x187306c89bc215a9ull, 0xd4a60abcf3792b95ull, 0xf935451de4f21df2ull,
    0xa9538f0419755787ull, 0xdb9acddff56ca510ull, 0xd06c98cd5c0975ebull,
    0xe612a3cb9ecba951ull, 0xc766e62cfcadaf96ull, 0xee64435a9752fe72ull,
    0xa192d576b245165aull, 0x0a8787bf8ecb74b2ull, 0x81b3e73d20b49b6full,
    0x7fa8220ba3b2eceaull, 0x245731c13ca42499ull, 0xb78dbfaf3a8d83bdull,
    0xea1ad565322a1a0bull, 0x60e61c23a3795013ull, 0x6606d7e446282b93ull,
    0x6ca4ecb15c5f91e1ull, 0x9f626da15c9625f3ull, 0xe51b38608ef25f57ull,
    0x958a324ceb064572ull,
};

static const uint64_t sip13[16] = {
    0xabac0158050fc4dcull, 0xc9f49bf37d57ca93ull, 0x82cb9b024dc7d44dull, 0x8bf80ab8e7ddf7fbull,
    0xcf75576088d38328ull, 0xdef9d52f49533b67ull, 0xc50d2b50c59f22a7ull, 0xd3927d989bb11140ull,
    0x369095118d299a8eull, 0x25a48eb36c063de4ull, 0x79de85ee92ff097full, 0x70c118c1f94dc352ull,
    0x78a384b157b4d9a2ull, 0x306f760c1229ffa7ull, 0x605aa111c0f95d34ull, 0xd320d86d2a519956ull,
};

static unsigned char msg[64];

static void fill(void)
{
    for (int i = 0; i < 64; i++)
        msg[i] = (unsigned char)i;
}

Test(siphash, sip24_paper_vectors)
{
    fill();
    for (size_t n = 0; n < 64; n++) {
        cr_assert_eq(siphash24(&ref_key, msg, n), sip24[n], "SipHash-2-4, %zu bytes", n);
        cr_assert_eq(siphash_cd(&ref_key, msg, n, 2, 4), sip24[n]);
    }
}

Test(siphash, sip13_vectors)
{
    fill();
    for (size_t n = 0; n < 16; n++)
        cr_assert_eq(siphash13(&ref_key, msg, n), sip13[n], "SipHash-1-3, %zu bytes", n);
}

/* Unaligned input reads the same bytes (the words are loaded by memcpy). */
Test(siphash, unaligned_input)
{
    unsigned char buf[80];
    for (int off = 1; off < 8; off++) {
        for (int i = 0; i < 64; i++)
            buf[off + i] = (unsigned char)i;
        for (size_t n = 0; n < 64; n += 7)
            cr_assert_eq(siphash24(&ref_key, buf + off, n), sip24[n], "offset %d, %zu bytes", off,
                         n);
    }
}
