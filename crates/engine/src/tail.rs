//! Keeping each account's worst scenarios while the scenarios stream by.

/// The worst scenarios of one account: (P&L, scenario index), worst first,
/// at most `k` of them; on equal P&L the lower index comes first. NaN never
/// enters.
#[derive(Debug, Clone, PartialEq)]
pub struct Tail {
    k: usize,
    entries: Vec<(f64, usize)>,
}

impl Tail {
    /// An empty tail keeping the `k` worst scenarios (at least one).
    pub fn new(k: usize) -> Self {
        Tail {
            k: k.max(1),
            entries: Vec::with_capacity(k.max(1)),
        }
    }

    /// How many scenarios it keeps at most.
    pub fn capacity(&self) -> usize {
        self.k
    }

    /// The worst scenarios so far as (P&L, scenario index), worst first.
    pub fn entries(&self) -> &[(f64, usize)] {
        &self.entries
    }

    /// The P&L a scenario must be below to enter.
    #[inline]
    fn threshold(&self) -> f64 {
        if self.entries.len() < self.k {
            f64::INFINITY
        } else {
            self.entries[self.k - 1].0
        }
    }

    /// Offers a scenario; scenarios must be offered in increasing index
    /// order within a block, so that ties keep the earlier scenario. NaN
    /// never enters.
    #[inline]
    pub fn offer(&mut self, pnl: f64, index: usize) {
        if pnl < self.threshold() {
            let at = self
                .entries
                .partition_point(|&(p, i)| p < pnl || (p == pnl && i < index));
            self.entries.insert(at, (pnl, index));
            self.entries.truncate(self.k);
        }
    }

    /// Offers every scenario of a block: `pnl[i]` is scenario `start + i`'s.
    pub fn offer_block(&mut self, pnl: &[f64], start: usize) {
        // Usually nothing enters: check that with a vectorised scan first.
        let threshold = self.threshold();
        if !pnl.iter().fold(false, |any, &p| any | (p < threshold)) {
            return;
        }
        for (offset, &p) in pnl.iter().enumerate() {
            if p < self.threshold() {
                self.offer(p, start + offset);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_scan_keeps_the_worst_first_and_the_earliest_on_ties() {
        for k in [1, 3] {
            let pnl = [5.0, -1.0, f64::NAN, -3.0, -3.0, 2.0, -0.5, -3.0];
            let mut fast = Tail::new(k);
            fast.offer_block(&pnl[..4], 100);
            fast.offer_block(&pnl[4..], 104);
            let mut slow = Tail::new(k);
            for (i, &p) in pnl.iter().enumerate() {
                slow.offer(p, 100 + i);
            }
            assert_eq!(fast.entries, slow.entries);
            assert_eq!(fast.entries[0], (-3.0, 103));
        }
    }

    #[test]
    fn keeps_the_k_worst_in_order_worked_by_hand() {
        let mut tail = Tail::new(3);
        tail.offer_block(&[4.0, -2.0, 7.0, -9.0, 0.0, -2.0, -5.0], 10);
        // Sorted: -9 (13), -5 (16), -2 (11), -2 (15), 0, 4, 7.
        assert_eq!(tail.entries(), &[(-9.0, 13), (-5.0, 16), (-2.0, 11)]);
        assert_eq!(tail.capacity(), 3);
    }

    #[test]
    fn a_tail_of_zero_keeps_one_and_nan_never_enters() {
        let mut tail = Tail::new(0);
        tail.offer(f64::NAN, 0);
        assert!(tail.entries().is_empty());
        tail.offer(1.0, 1);
        tail.offer(f64::NAN, 2);
        tail.offer(0.5, 3);
        assert_eq!(tail.entries(), &[(0.5, 3)]);
    }

    #[test]
    fn a_gain_is_kept_when_nothing_is_worse() {
        // Even the worst scenario may be a gain: it is still the worst.
        let mut tail = Tail::new(2);
        tail.offer_block(&[3.0, 1.0, 2.0], 0);
        assert_eq!(tail.entries(), &[(1.0, 1), (2.0, 2)]);
    }
}
