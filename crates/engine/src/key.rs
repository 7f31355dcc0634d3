//! Leg keys: what makes two positions the same leg, hashed where the key is
//! made (in parallel) so that sharing legs across accounts only compares.

use std::hash::{Hash, Hasher};

use exfee_model::{Currency, Instrument};

/// What makes a leg: an instrument (or a cash currency) seen from a base
/// currency. Borrowed from the batch, so that keying 2 million positions
/// copies nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum LegKey<'a> {
    Position {
        instrument: &'a Instrument,
        base: Currency,
    },
    Cash {
        currency: Currency,
        base: Currency,
    },
}

/// A [`LegKey`] with its hash, computed where the key is made (in
/// parallel), so that the sequential sharing of legs only compares keys.
#[derive(Debug, Clone)]
pub(crate) struct Keyed<'a> {
    hash: u64,
    key: LegKey<'a>,
}

impl<'a> Keyed<'a> {
    pub(crate) fn new(key: LegKey<'a>) -> Self {
        let mut hasher = KeyHasher::default();
        key.hash(&mut hasher);
        Keyed {
            hash: hasher.finish(),
            key,
        }
    }
}

impl PartialEq for Keyed<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.key == other.key
    }
}

impl Eq for Keyed<'_> {}

impl Hash for Keyed<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// A fast, fixed hash of leg keys (word-at-a-time multiply–rotate, with a
/// final avalanche); the map it feeds is only looked up, never iterated, so
/// its order never shows.
#[derive(Default)]
struct KeyHasher(u64);

impl KeyHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        // MurmurHash3's fmix64.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// Hashes a [`Keyed`] by its precomputed hash.
#[derive(Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exfee_model::Currency;

    fn hash_of(write: impl FnOnce(&mut KeyHasher)) -> u64 {
        let mut h = KeyHasher::default();
        write(&mut h);
        h.finish()
    }

    #[test]
    fn nothing_hashes_to_zero() {
        // fmix64(0) = 0: every step of the avalanche keeps 0 at 0.
        assert_eq!(hash_of(|_| {}), 0);
    }

    #[test]
    fn bytes_are_read_a_little_endian_word_at_a_time() {
        let word = 0x0807_0605_0403_0201u64;
        assert_eq!(
            hash_of(|h| h.write(&[1, 2, 3, 4, 5, 6, 7, 8])),
            hash_of(|h| h.write_u64(word))
        );
        // A short tail carries its length: "ab" and "ab\0" differ.
        assert_ne!(hash_of(|h| h.write(b"ab")), hash_of(|h| h.write(b"ab\0")));
        assert_ne!(hash_of(|h| h.write_u64(1)), hash_of(|h| h.write_u64(2)));
    }

    #[test]
    fn keys_are_equal_when_their_legs_are() {
        let eur: Currency = "EUR".parse().unwrap();
        let gbp: Currency = "GBP".parse().unwrap();
        let cash = |currency, base| Keyed::new(LegKey::Cash { currency, base });
        assert!(cash(eur, Currency::USD) == cash(eur, Currency::USD));
        assert!(cash(eur, Currency::USD) != cash(eur, gbp));
        assert!(cash(eur, Currency::USD) != cash(Currency::USD, eur));
        let key = cash(eur, Currency::USD);
        assert_eq!(key.hash, cash(eur, Currency::USD).hash);
    }

    #[test]
    fn the_pass_through_hasher_returns_the_precomputed_hash() {
        let eur: Currency = "EUR".parse().unwrap();
        let key = Keyed::new(LegKey::Cash {
            currency: eur,
            base: Currency::USD,
        });
        let mut h = PassThrough::default();
        key.hash(&mut h);
        assert_eq!(h.finish(), key.hash);
    }
}
