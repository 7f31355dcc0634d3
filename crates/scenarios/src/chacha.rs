//! ChaCha20 many blocks at once, word for word `rand_chacha`'s
//! `ChaCha20Rng`, and the single stocks' own-draw probabilities made from
//! them.
//!
//! `ChaCha20Rng` (rand_chacha 0.10) is Bernstein's ChaCha with 20 rounds, a
//! 64-bit block counter and a 64-bit stream id: block `n` of key `k` and
//! stream `s` is the 16-word state
//!
//! ```text
//! "expa" "nd 3" "2-by" "te k"      (words 0..4)
//! k[0..4]                          (words 4..8, the seed's bytes read LE)
//! k[4..8]                          (words 8..12)
//! n (low, high)  s (low, high)     (words 12..16)
//! ```
//!
//! after 10 double rounds, plus that state, word by word (mod 2³²); the
//! generator's word `w` of a stream is word `w mod 16` of block `w / 16`
//! (`set_word_pos` seeks to exactly that word). [`blocks`] computes `L`
//! such blocks at once, each lane with its own key, counter and stream, in
//! plain `[u32; L]` arrays that the compiler turns into AVX-512 (16 lanes a
//! register), AVX2 (8) or SSE2 code: every operation is a 32-bit add, xor
//! or rotate, exact in any lane, so every build gives the same words.
//!
//! The own draws ([`own_probabilities`]) read the stream two words at a
//! time (rand_core's `next_u64`: low word first), never across a block (a
//! block holds 8 of them), so draw `i` is words `2i mod 16` and `2i + 1 mod
//! 16` of block `i / 8`; here the lanes of a pass are 16 (or 8)
//! consecutive blocks of one key.
//!
//! The only `unsafe` is calling the `#[target_feature]` builds once the CPU
//! is known to have the feature (as in `quantile`).

// Counters and stream ids are split into their low and high 32-bit
// halves on purpose (`as u32` keeps the low half); the lane loops index
// several word arrays by lane.
#![allow(clippy::cast_possible_truncation, clippy::needless_range_loop)]

use exfee_simd::Isa;

/// "expand 32-byte k", the ChaCha constants (words 0..4).
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// Own draws per ChaCha block (16 words, 2 a draw).
const DRAWS_PER_BLOCK: usize = 8;

/// The 8 key words of a 32-byte seed (little-endian, as `ChaCha20Rng`).
pub(crate) fn key_words(seed: &[u8; 32]) -> [u32; 8] {
    let mut words = [0u32; 8];
    for (word, bytes) in words.iter_mut().zip(seed.chunks_exact(4)) {
        *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    words
}

/// One ChaCha quarter round on four state words, every lane.
#[inline(always)]
fn quarter<const L: usize>(a: &mut [u32; L], b: &mut [u32; L], c: &mut [u32; L], d: &mut [u32; L]) {
    for l in 0..L {
        a[l] = a[l].wrapping_add(b[l]);
    }
    for l in 0..L {
        d[l] = (d[l] ^ a[l]).rotate_left(16);
    }
    for l in 0..L {
        c[l] = c[l].wrapping_add(d[l]);
    }
    for l in 0..L {
        b[l] = (b[l] ^ c[l]).rotate_left(12);
    }
    for l in 0..L {
        a[l] = a[l].wrapping_add(b[l]);
    }
    for l in 0..L {
        d[l] = (d[l] ^ a[l]).rotate_left(8);
    }
    for l in 0..L {
        c[l] = c[l].wrapping_add(d[l]);
    }
    for l in 0..L {
        b[l] = (b[l] ^ c[l]).rotate_left(7);
    }
}

/// `L` ChaCha20 blocks, word-major: `out[w][l]` is word `w` of the block
/// of key `keys[l]` (its 8 words), counter `counters[l]` and stream
/// `streams[l]`, equal to word `16·counters[l] + w` of a `ChaCha20Rng`
/// seeded with that key, on that stream.
#[inline(always)]
pub(crate) fn blocks<const L: usize>(
    keys: &[[u32; 8]; L],
    counters: &[u64; L],
    streams: &[u64; L],
) -> [[u32; L]; 16] {
    let mut init = [[0u32; L]; 16];
    for l in 0..L {
        for (w, &c) in SIGMA.iter().enumerate() {
            init[w][l] = c;
        }
        for (w, &k) in keys[l].iter().enumerate() {
            init[4 + w][l] = k;
        }
        // Low and high halves of the counter and the stream id.
        init[12][l] = counters[l] as u32;
        init[13][l] = (counters[l] >> 32) as u32;
        init[14][l] = streams[l] as u32;
        init[15][l] = (streams[l] >> 32) as u32;
    }
    // Sixteen separate lane arrays (one register each where the lanes fit
    // one), so the rounds never go through memory.
    let [
        mut x0,
        mut x1,
        mut x2,
        mut x3,
        mut x4,
        mut x5,
        mut x6,
        mut x7,
        mut x8,
        mut x9,
        mut x10,
        mut x11,
        mut x12,
        mut x13,
        mut x14,
        mut x15,
    ] = init;
    for _ in 0..10 {
        quarter(&mut x0, &mut x4, &mut x8, &mut x12);
        quarter(&mut x1, &mut x5, &mut x9, &mut x13);
        quarter(&mut x2, &mut x6, &mut x10, &mut x14);
        quarter(&mut x3, &mut x7, &mut x11, &mut x15);
        quarter(&mut x0, &mut x5, &mut x10, &mut x15);
        quarter(&mut x1, &mut x6, &mut x11, &mut x12);
        quarter(&mut x2, &mut x7, &mut x8, &mut x13);
        quarter(&mut x3, &mut x4, &mut x9, &mut x14);
    }
    let mut x = [
        x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15,
    ];
    for w in 0..16 {
        for l in 0..L {
            x[w][l] = x[w][l].wrapping_add(init[w][l]);
        }
    }
    x
}

/// `v` as an f64, exactly (`v` < 2⁵²): the bits of 2⁵² + v, minus 2⁵².
#[inline(always)]
fn exact_f64(v: u64) -> f64 {
    const TWO_52: f64 = 4_503_599_627_370_496.0;
    f64::from_bits(0x4330_0000_0000_0000 | v) - TWO_52
}

/// The own draw's probability of a 64-bit output `hi·2³² + lo`:
/// ((x >> 11) + ½)·2⁻⁵³, exactly as `((x >> 11) as f64 + 0.5) · 2⁻⁵³`
/// (x >> 11 = hi·2²¹ + (lo >> 11) < 2⁵³ is converted exactly in two exact
/// halves, then the same rounded addition of ½ and exact scaling).
#[inline(always)]
fn probability(lo: u32, hi: u32) -> f64 {
    let top = exact_f64(u64::from(hi)) * 2_097_152.0;
    let x = top + exact_f64(u64::from(lo >> 11));
    (x + 0.5) * (1.0 / 9_007_199_254_740_992.0)
}

/// The probabilities of own draws `start .. start + out.len()` of the
/// stream of `key` (stream 0): draw `i` is ((x >> 11) + ½)·2⁻⁵³ of the
/// `i`-th 64-bit output x of `ChaCha20Rng::from_seed(key)` (words 2i,
/// 2i + 1), bit for bit.
pub(crate) fn own_probabilities(key: &[u8; 32], start: usize, out: &mut [f64]) {
    let key = key_words(key);
    #[cfg(target_arch = "x86_64")]
    {
        match exfee_simd::widest() {
            Isa::Avx512 => {
                // SAFETY: `widest` yields AVX-512 only when the CPU has
                // AVX-512F (and the cap allows it).
                unsafe { x86::probabilities_avx512(&key, start, out) };
                return;
            }
            Isa::Avx2 => {
                // SAFETY: `widest` yields AVX2 only when the CPU has it.
                unsafe { x86::probabilities_avx2(&key, start, out) };
                return;
            }
            Isa::Portable => {}
        }
    }
    probabilities_with::<8>(&key, start, out, |key, counters| {
        blocks::<8>(&[*key; 8], counters, &[0; 8])
    });
}

/// [`own_probabilities`] with `L` consecutive blocks a pass, made by
/// `make(key, counters)` (stream 0).
#[inline(always)]
pub(crate) fn probabilities_with<const L: usize>(
    key: &[u32; 8],
    start: usize,
    out: &mut [f64],
    mut make: impl FnMut(&[u32; 8], &[u64; L]) -> [[u32; L]; 16],
) {
    let end = start + out.len();
    let mut block = start / DRAWS_PER_BLOCK;
    while block * DRAWS_PER_BLOCK < end {
        let mut counters = [0u64; L];
        for (l, c) in counters.iter_mut().enumerate() {
            *c = (block + l) as u64;
        }
        let words = make(key, &counters);
        let first = block * DRAWS_PER_BLOCK;
        if first >= start && first + L * DRAWS_PER_BLOCK <= end {
            // A whole pass inside the range: lane l, pair j → draw
            // first + 8l + j.
            let chunk = &mut out[first - start..first - start + L * DRAWS_PER_BLOCK];
            for (l, draws) in chunk.chunks_exact_mut(DRAWS_PER_BLOCK).enumerate() {
                for (j, value) in draws.iter_mut().enumerate() {
                    *value = probability(words[2 * j][l], words[2 * j + 1][l]);
                }
            }
        } else {
            for l in 0..L {
                for j in 0..DRAWS_PER_BLOCK {
                    let draw = first + l * DRAWS_PER_BLOCK + j;
                    if draw >= start && draw < end {
                        out[draw - start] = probability(words[2 * j][l], words[2 * j + 1][l]);
                    }
                }
            }
        }
        block += L;
    }
}

/// [`blocks`] in AVX-512 (16 lanes) and AVX2 (8 lanes) registers, one
/// key, consecutive counters, stream 0: the compiler does not keep the
/// portable lane arrays in registers, so the rounds are written with the
/// intrinsics (the same adds, xors and rotates, the same words).
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{SIGMA, probabilities_with};

    /// One quarter round on state registers `a`, `b`, `c`, `d` (literal
    /// indices, so the state stays in registers): `add`, `xor` and
    /// `rol::<N>` are the instruction set's lane operations.
    macro_rules! quarter {
        ($x:ident, $add:ident, $xor:ident, $rol:ident, $a:literal, $b:literal, $c:literal, $d:literal) => {
            $x[$a] = $add($x[$a], $x[$b]);
            $x[$d] = $rol::<16>($xor($x[$d], $x[$a]));
            $x[$c] = $add($x[$c], $x[$d]);
            $x[$b] = $rol::<12>($xor($x[$b], $x[$c]));
            $x[$a] = $add($x[$a], $x[$b]);
            $x[$d] = $rol::<8>($xor($x[$d], $x[$a]));
            $x[$c] = $add($x[$c], $x[$d]);
            $x[$b] = $rol::<7>($xor($x[$b], $x[$c]));
        };
    }

    /// The ChaCha double round: columns, then diagonals.
    macro_rules! double_round {
        ($x:ident, $add:ident, $xor:ident, $rol:ident) => {
            quarter!($x, $add, $xor, $rol, 0, 4, 8, 12);
            quarter!($x, $add, $xor, $rol, 1, 5, 9, 13);
            quarter!($x, $add, $xor, $rol, 2, 6, 10, 14);
            quarter!($x, $add, $xor, $rol, 3, 7, 11, 15);
            quarter!($x, $add, $xor, $rol, 0, 5, 10, 15);
            quarter!($x, $add, $xor, $rol, 1, 6, 11, 12);
            quarter!($x, $add, $xor, $rol, 2, 7, 8, 13);
            quarter!($x, $add, $xor, $rol, 3, 4, 9, 14);
        };
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    fn rol512<const N: u32>(v: __m512i) -> __m512i {
        match N {
            16 => _mm512_rol_epi32::<16>(v),
            12 => _mm512_rol_epi32::<12>(v),
            8 => _mm512_rol_epi32::<8>(v),
            _ => _mm512_rol_epi32::<7>(v),
        }
    }

    #[target_feature(enable = "avx512f")]
    fn blocks16(key: &[u32; 8], counters: &[u64; 16]) -> [[u32; 16]; 16] {
        let lo: [u32; 16] = std::array::from_fn(|l| counters[l] as u32);
        let hi: [u32; 16] = std::array::from_fn(|l| (counters[l] >> 32) as u32);
        // SAFETY: unaligned loads of 64 bytes from 16-word arrays.
        let (lo, hi) = unsafe {
            (
                _mm512_loadu_si512(lo.as_ptr().cast()),
                _mm512_loadu_si512(hi.as_ptr().cast()),
            )
        };
        let zero = _mm512_setzero_si512();
        let init: [__m512i; 16] = std::array::from_fn(|w| match w {
            0..4 => _mm512_set1_epi32(SIGMA[w].cast_signed()),
            4..12 => _mm512_set1_epi32(key[w - 4].cast_signed()),
            12 => lo,
            13 => hi,
            _ => zero,
        });
        let mut x = init;
        for _ in 0..10 {
            double_round!(x, _mm512_add_epi32, _mm512_xor_si512, rol512);
        }
        let mut out = [[0u32; 16]; 16];
        for w in 0..16 {
            let v = _mm512_add_epi32(x[w], init[w]);
            // SAFETY: an unaligned store of 64 bytes into a 16-word array.
            unsafe { _mm512_storeu_si512(out[w].as_mut_ptr().cast(), v) };
        }
        out
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    fn rol256<const N: u32>(v: __m256i) -> __m256i {
        // The rotations by 12 and 7 (those by 16 and 8 are byte shuffles,
        // in `blocks8`).
        match N {
            12 => _mm256_or_si256(_mm256_slli_epi32::<12>(v), _mm256_srli_epi32::<20>(v)),
            _ => _mm256_or_si256(_mm256_slli_epi32::<7>(v), _mm256_srli_epi32::<25>(v)),
        }
    }

    #[target_feature(enable = "avx2")]
    fn blocks8(key: &[u32; 8], counters: &[u64; 8]) -> [[u32; 8]; 16] {
        let lo: [u32; 8] = std::array::from_fn(|l| counters[l] as u32);
        let hi: [u32; 8] = std::array::from_fn(|l| (counters[l] >> 32) as u32);
        // SAFETY: unaligned loads of 32 bytes from 8-word arrays.
        let (lo, hi) = unsafe {
            (
                _mm256_loadu_si256(lo.as_ptr().cast()),
                _mm256_loadu_si256(hi.as_ptr().cast()),
            )
        };
        let zero = _mm256_setzero_si256();
        let init: [__m256i; 16] = std::array::from_fn(|w| match w {
            0..4 => _mm256_set1_epi32(SIGMA[w].cast_signed()),
            4..12 => _mm256_set1_epi32(key[w - 4].cast_signed()),
            12 => lo,
            13 => hi,
            _ => zero,
        });
        // The byte-shuffle masks of the rotations by 16 and 8, hidden from
        // the optimiser: it otherwise turns the rotation by 16 into two
        // word shuffles (`vpshuflw` + `vpshufhw`), one more instruction on
        // the shuffle ports that the rotations by 12 and 7 (shifts) share.
        let r16 = std::hint::black_box(_mm256_set_epi8(
            13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2, 13, 12, 15, 14, 9, 8, 11, 10, 5,
            4, 7, 6, 1, 0, 3, 2,
        ));
        let r8 = std::hint::black_box(_mm256_set_epi8(
            14, 13, 12, 15, 10, 9, 8, 11, 6, 5, 4, 7, 2, 1, 0, 3, 14, 13, 12, 15, 10, 9, 8, 11, 6,
            5, 4, 7, 2, 1, 0, 3,
        ));
        let mut x = init;
        macro_rules! q {
            ($a:literal, $b:literal, $c:literal, $d:literal) => {
                x[$a] = _mm256_add_epi32(x[$a], x[$b]);
                x[$d] = _mm256_shuffle_epi8(_mm256_xor_si256(x[$d], x[$a]), r16);
                x[$c] = _mm256_add_epi32(x[$c], x[$d]);
                x[$b] = rol256::<12>(_mm256_xor_si256(x[$b], x[$c]));
                x[$a] = _mm256_add_epi32(x[$a], x[$b]);
                x[$d] = _mm256_shuffle_epi8(_mm256_xor_si256(x[$d], x[$a]), r8);
                x[$c] = _mm256_add_epi32(x[$c], x[$d]);
                x[$b] = rol256::<7>(_mm256_xor_si256(x[$b], x[$c]));
            };
        }
        for _ in 0..10 {
            q!(0, 4, 8, 12);
            q!(1, 5, 9, 13);
            q!(2, 6, 10, 14);
            q!(3, 7, 11, 15);
            q!(0, 5, 10, 15);
            q!(1, 6, 11, 12);
            q!(2, 7, 8, 13);
            q!(3, 4, 9, 14);
        }
        let mut out = [[0u32; 8]; 16];
        for w in 0..16 {
            let v = _mm256_add_epi32(x[w], init[w]);
            // SAFETY: an unaligned store of 32 bytes into an 8-word array.
            unsafe { _mm256_storeu_si256(out[w].as_mut_ptr().cast(), v) };
        }
        out
    }

    /// 16 blocks a pass in AVX-512 registers.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn probabilities_avx512(key: &[u32; 8], start: usize, out: &mut [f64]) {
        probabilities_with::<16>(key, start, out, |key, counters| blocks16(key, counters));
    }

    /// 8 blocks a pass in AVX2 registers.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn probabilities_avx2(key: &[u32; 8], start: usize, out: &mut [f64]) {
        probabilities_with::<8>(key, start, out, |key, counters| blocks8(key, counters));
    }

    /// The AVX-512 and AVX2 blocks against the portable ones (tests).
    #[cfg(test)]
    pub(super) fn check_against_portable(key: &[u32; 8], counters: &[u64; 16]) {
        let want = super::blocks::<16>(&[*key; 16], counters, &[0; 16]);
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            let got = unsafe { blocks16(key, counters) };
            assert_eq!(got, want, "AVX-512");
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            let c8: [u64; 8] = std::array::from_fn(|l| counters[l]);
            // SAFETY: the CPU has AVX2 (checked just above).
            let got = unsafe { blocks8(key, &c8) };
            for w in 0..16 {
                assert_eq!(got[w], want[w][..8], "AVX2 word {w}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    /// A SplitMix64 stream for the test's random keys, counters and
    /// streams (independent of the generator under test).
    struct SplitMix(u64);
    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn seed(&mut self) -> [u8; 32] {
            let mut seed = [0u8; 32];
            for chunk in seed.chunks_exact_mut(8) {
                chunk.copy_from_slice(&self.next().to_le_bytes());
            }
            seed
        }
    }

    /// Word `16·counter + w`, w in 0..16, of rand_chacha's generator.
    fn reference_block(seed: [u8; 32], counter: u64, stream: u64) -> [u32; 16] {
        let mut rng = ChaCha20Rng::from_seed(seed);
        rng.set_stream(stream);
        rng.set_word_pos(u128::from(counter) * 16);
        std::array::from_fn(|_| rng.next_u32())
    }

    fn check_blocks<const L: usize>(random: &mut SplitMix, rounds: usize) {
        for round in 0..rounds {
            let seeds: [[u8; 32]; L] = std::array::from_fn(|_| random.seed());
            let keys = seeds.map(|s| key_words(&s));
            let counters: [u64; L] = std::array::from_fn(|l| match (round + l) % 4 {
                0 => random.next(),
                1 => random.next() % 1000,
                2 => u64::MAX - (random.next() % 3),
                _ => u64::from(random.next() as u32),
            });
            let streams: [u64; L] = std::array::from_fn(|l| {
                if (round + l) % 3 == 0 {
                    0
                } else {
                    random.next()
                }
            });
            let got = blocks::<L>(&keys, &counters, &streams);
            for l in 0..L {
                let want = reference_block(seeds[l], counters[l], streams[l]);
                for w in 0..16 {
                    assert_eq!(got[w][l], want[w], "lane {l} word {w}, round {round}");
                }
            }
        }
    }

    #[test]
    fn blocks_equal_rand_chacha_for_random_keys_counters_and_streams() {
        let mut random = SplitMix(0x5eed);
        check_blocks::<16>(&mut random, 200);
        check_blocks::<8>(&mut random, 200);
        check_blocks::<1>(&mut random, 200);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx512_and_avx2_blocks_equal_the_portable_ones() {
        let mut random = SplitMix(0xa5a5);
        for round in 0..300 {
            let key = key_words(&random.seed());
            let first = match round % 3 {
                0 => random.next() % 100_000,
                1 => u64::MAX - 5,
                _ => random.next(),
            };
            let counters: [u64; 16] = std::array::from_fn(|l| first.wrapping_add(l as u64));
            x86::check_against_portable(&key, &counters);
        }
    }

    #[test]
    fn the_rfc_7539_block_is_reproduced() {
        // RFC 7539 §2.3.2 (ChaCha20 block function test vector): key
        // 00 01 … 1f, block counter 1, nonce 00:00:00:09 00:00:00:4a
        // 00:00:00:00. Its 32-bit counter and 96-bit nonce map onto the
        // 64-bit counter (low word 1, high word 0x09000000) and 64-bit
        // stream (0x4a000000).
        let seed: [u8; 32] = std::array::from_fn(|i| i as u8);
        let got = blocks::<1>(
            &[key_words(&seed)],
            &[0x0900_0000_0000_0001],
            &[0x4a00_0000],
        );
        let want: [u32; 16] = [
            0xe4e7f110, 0x15593bd1, 0x1fdd0f50, 0xc47120a3, 0xc7f4d1c7, 0x0368c033, 0x9aaa2204,
            0x4e6cd4c3, 0x466482d2, 0x09aa9f07, 0x05d7c214, 0xa2028bd9, 0xd19c12b5, 0xb94e16de,
            0xe883d0cb, 0x4e3c50a2,
        ];
        for w in 0..16 {
            assert_eq!(got[w][0], want[w], "word {w}");
        }
    }

    /// rand_chacha's own draws, as `Draws::idio_scores` took them before.
    fn reference_probabilities(seed: [u8; 32], start: usize, len: usize) -> Vec<f64> {
        let mut rng = ChaCha20Rng::from_seed(seed);
        rng.set_word_pos(2 * start as u128);
        (0..len)
            .map(|_| {
                let bits = rng.next_u64() >> 11;
                (bits as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
            })
            .collect()
    }

    #[test]
    fn own_probabilities_equal_rand_chachas_draws_bit_for_bit() {
        let mut random = SplitMix(0xd1ce);
        let mut cases: Vec<(usize, usize)> = Vec::new();
        for start in 0..40 {
            for len in [0, 1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 127, 128, 129, 300] {
                cases.push((start, len));
            }
        }
        for _ in 0..200 {
            let start = (random.next() % 50_000) as usize;
            let len = (random.next() % 3_000) as usize;
            cases.push((start, len));
        }
        cases.push((0, 21_754));
        cases.push((10_154, 11_600));
        for (n, &(start, len)) in cases.iter().enumerate() {
            let seed = random.seed();
            let want = reference_probabilities(seed, start, len);
            let key = key_words(&seed);
            let mut got = vec![f64::NAN; len];
            own_probabilities(&seed, start, &mut got);
            let mut got8 = vec![f64::NAN; len];
            probabilities_with::<8>(&key, start, &mut got8, |k, c| blocks(&[*k; 8], c, &[0; 8]));
            let mut got16 = vec![f64::NAN; len];
            probabilities_with::<16>(&key, start, &mut got16, |k, c| {
                blocks(&[*k; 16], c, &[0; 16])
            });
            for i in 0..len {
                let w = want[i].to_bits();
                assert_eq!(got[i].to_bits(), w, "case {n} ({start}, {len}) draw {i}");
                assert_eq!(got8[i].to_bits(), w, "8 lanes, case {n} draw {i}");
                assert_eq!(got16[i].to_bits(), w, "16 lanes, case {n} draw {i}");
            }
        }
    }

    #[test]
    fn probabilities_round_the_half_as_the_f64_sum_does() {
        // x >> 11 at and above 2⁵² (where x + ½ is rounded to even), at 0
        // and at the largest value: the same bits as the scalar formula.
        for (lo, hi) in [
            (0u32, 0u32),
            (0x7ff, 0),
            (0x800, 0),
            (u32::MAX, u32::MAX),
            (0, 0x8000_0000),
            (0x800, 0x8000_0000),
            (0x1800, 0x8000_0000),
            (u32::MAX, 0x7fff_ffff),
            (0xffff_f800, 0xffff_ffff),
        ] {
            let bits = ((u64::from(hi) << 32) | u64::from(lo)) >> 11;
            let want = (bits as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
            assert_eq!(
                probability(lo, hi).to_bits(),
                want.to_bits(),
                "{hi:x} {lo:x}"
            );
        }
    }
}

#[cfg(test)]
mod rate {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    /// Rate of the own draws' probabilities (ChaCha20 only, no Φ⁻¹):
    /// rand_chacha one `next_u64` a draw against the multi-lane blocks,
    /// interleaved A/B (prints, asserts nothing about time):
    /// `cargo test --release -p exfee-scenarios own_draw_rate -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn own_draw_rate() {
        let seed = [5u8; 32];
        let mut out = vec![0.0; 1 << 20];
        let key = key_words(&seed);
        let mut best = [f64::MAX; 4];
        for _ in 0..9 {
            let t = std::time::Instant::now();
            let mut rng = ChaCha20Rng::from_seed(seed);
            for v in out.iter_mut() {
                *v = ((rng.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
            }
            best[0] = best[0].min(t.elapsed().as_secs_f64());
            std::hint::black_box(&out);
            let t = std::time::Instant::now();
            own_probabilities(&seed, 0, std::hint::black_box(&mut out));
            best[1] = best[1].min(t.elapsed().as_secs_f64());
            let t = std::time::Instant::now();
            probabilities_with::<8>(&key, 0, std::hint::black_box(&mut out), |k, c| {
                blocks(&[*k; 8], c, &[0; 8])
            });
            best[2] = best[2].min(t.elapsed().as_secs_f64());
            let t = std::time::Instant::now();
            crate::quantile::normal_quantiles(std::hint::black_box(&mut out));
            best[3] = best[3].min(t.elapsed().as_secs_f64());
        }
        let ns = best.map(|b| b * 1e9 / out.len() as f64);
        println!(
            "rand_chacha {:.2} ns/draw; multi-lane ({}) {:.2}; 8 lanes baseline {:.2}; Φ⁻¹ {:.2}",
            ns[0],
            exfee_simd::widest().name(),
            ns[1],
            ns[2],
            ns[3]
        );
    }
}
