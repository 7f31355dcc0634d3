//! Properties over seeded random problems: every answer meets its limit,
//! the LP is never dearer than the greedy method, "unreachable" and "no
//! hedge" hold up against samples, and nothing panics (ties, zeros, tiny
//! and large magnitudes, negative limits, lots).

use exfee_adjust::{
    AdjustError, Measure, MeasureExt, Method, ReduceOptions, ReductionProblem, best_hedge, hedge,
    measure_after_reduction, reduce_positions,
};

/// A 64-bit linear congruential generator (Knuth's MMIX constants).
struct Lcg(u64);

impl Lcg {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a uniform in [0, 1) times n"
    )]
    fn below(&mut self, n: usize) -> usize {
        ((self.uniform() * n as f64) as usize).min(n - 1)
    }
}

/// One random problem: P&L of a style (continuous, tied round numbers,
/// sparse and large, tiny), costs (some zero), a measure, a limit (a share
/// of the measure, negative, above it, or 0) and maybe lots.
struct Case {
    pnl: Vec<Vec<f64>>,
    costs: Vec<f64>,
    measure: Measure,
    before: f64,
    limit: f64,
    lots: Option<Vec<f64>>,
}

fn case(rng: &mut Lcg) -> Case {
    let n = 1 + rng.below(6);
    let m = 1 + rng.below(40);
    let style = rng.below(4);
    let pnl: Vec<Vec<f64>> = (0..n)
        .map(|_| {
            (0..m)
                .map(|_| match style {
                    0 => (rng.uniform() - 0.5) * 1000.0,
                    1 => ((rng.uniform() - 0.5) * 10.0).round() * 100.0,
                    2 if rng.uniform() < 0.5 => 0.0,
                    2 => (rng.uniform() - 0.6) * 1e7,
                    _ => (rng.uniform() - 0.5) * 1e-3,
                })
                .collect()
        })
        .collect();
    let costs = (0..n)
        .map(|_| {
            if rng.uniform() < 0.2 {
                0.0
            } else {
                rng.uniform() * 1000.0
            }
        })
        .collect();
    let measure = if rng.uniform() < 0.5 {
        Measure::Worst
    } else {
        Measure::TailAverage {
            k: 1 + rng.below(m.min(8)),
        }
    };
    let before = measure_after_reduction(&pnl, &vec![0.0; n], measure).unwrap();
    let limit = match rng.below(4) {
        0 => before * rng.uniform(),
        1 => -before.abs() * rng.uniform() * 0.2,
        2 => before * 1.1,
        _ => 0.0,
    };
    let lots = (rng.uniform() < 0.3).then(|| {
        (0..n)
            .map(|_| {
                if rng.uniform() < 0.5 {
                    0.0
                } else {
                    1.0 / (1 + rng.below(20)) as f64
                }
            })
            .collect()
    });
    Case {
        pnl,
        costs,
        measure,
        before,
        limit,
        lots,
    }
}

#[test]
fn reductions_meet_their_limit_and_the_lp_is_cheapest() {
    let mut rng = Lcg(7);
    let (mut reached, mut unreachable) = (0, 0);
    for index in 0..400 {
        let c = case(&mut rng);
        let n = c.pnl.len();
        let mut problem = ReductionProblem::new(&c.pnl, &c.costs, c.limit, c.measure);
        if let Some(lots) = &c.lots {
            problem = problem.with_lots(lots);
        }
        let lp = reduce_positions(&problem);
        let options = ReduceOptions {
            force_greedy: true,
            ..ReduceOptions::default()
        };
        let greedy = reduce_positions(&problem.with_options(options));
        for result in [&lp, &greedy] {
            match result {
                Ok(r) => {
                    let after = measure_after_reduction(&c.pnl, &r.fractions, c.measure).unwrap();
                    assert!(after <= c.limit, "case {index}: {after} > {}", c.limit);
                    assert_eq!(after, r.measure_after);
                }
                Err(AdjustError::Unreachable { .. }) => {}
                Err(other) => panic!("case {index}: {other:?}"),
            }
        }
        match (&lp, &greedy) {
            (Ok(lp), Ok(greedy)) => {
                reached += 1;
                if c.lots.is_none() && lp.method == Method::LinearProgram {
                    let slack = 1e-5 * c.costs.iter().sum::<f64>();
                    assert!(
                        lp.cost <= greedy.cost + slack,
                        "case {index}: LP {} dearer than greedy {}",
                        lp.cost,
                        greedy.cost
                    );
                }
            }
            (Err(_), Ok(_)) => {
                panic!("case {index}: the greedy method reached what the LP did not")
            }
            (Ok(_), Err(_)) => {} // the greedy method can get stuck
            (Err(_), Err(_)) => {
                unreachable += 1;
                // no sampled reduction reaches the limit either
                let mut sampler = Lcg(index);
                for _ in 0..300 {
                    let x: Vec<f64> = (0..n)
                        .map(|_| match sampler.below(4) {
                            0 => 0.0,
                            1 => 1.0,
                            _ => sampler.uniform(),
                        })
                        .collect();
                    let v = measure_after_reduction(&c.pnl, &x, c.measure).unwrap();
                    assert!(v > c.limit, "case {index}: {x:?} reaches {v}");
                }
            }
        }
    }
    assert!(reached > 200 && unreachable > 20, "{reached} {unreachable}");
}

#[test]
fn hedges_are_smallest_and_best_hedges_lowest() {
    let mut rng = Lcg(11);
    for index in 0..400 {
        let c = case(&mut rng);
        let m = c.pnl[0].len();
        let total: Vec<f64> = (0..m)
            .map(|s| c.pnl.iter().map(|row| row[s]).sum())
            .collect();
        let unit = &c.pnl[0];
        let at = |h: f64| {
            let after: Vec<f64> = total.iter().zip(unit).map(|(p, u)| p + h * u).collect();
            c.measure.evaluate(&after).unwrap_or(f64::INFINITY)
        };
        // samples over a range wide enough to hold every kink
        let reach =
            c.before.abs().max(1e-300) / unit.iter().fold(1e-300_f64, |a, u| a.max(u.abs()));
        let samples: Vec<f64> = (-300..=300)
            .map(|j| f64::from(j) / 100.0 * reach * 3.0)
            .collect();
        match hedge(&total, unit, c.limit, c.measure).unwrap() {
            Some(h) => {
                assert!(at(h.units) <= c.limit, "case {index}");
                assert_eq!(at(h.units), h.measure_after);
                if h.units != 0.0 {
                    assert!(
                        at(h.units * (1.0 - 1e-7)) > c.limit,
                        "case {index}: {}",
                        h.units
                    );
                }
                if let Some(whole) = h.whole_units {
                    assert_eq!(whole, whole.round());
                    assert!(at(whole) <= c.limit);
                }
            }
            None => {
                for &h in &samples {
                    assert!(at(h) > c.limit, "case {index}: {h} reaches {}", at(h));
                }
            }
        }
        match best_hedge(&total, unit, c.measure) {
            Ok(best) => {
                let tol = 1e-9 * best.measure_after.abs().max(c.before.abs()).max(1e-300);
                for &h in &samples {
                    assert!(at(h) >= best.measure_after - tol, "case {index}: {h} lower");
                }
            }
            Err(AdjustError::UnboundedHedge) => {}
            Err(other) => panic!("case {index}: {other:?}"),
        }
    }
}
