//! Position reductions on hand-computed examples, the greedy fallback, and a
//! seeded 20 × 20,000 problem.

use exfee_adjust::{
    AdjustError, LpFailure, Measure, Method, ReduceOptions, Reduction, ReductionProblem,
    measure_after_reduction, reduce_positions,
};

/// The hand example: scenario P&L of two positions in three scenarios.
///
/// Totals P = [-120, -30, 30], so losses now are [120, 30, -30]: worst 120.
/// Closing fractions x1, x2 makes `loss_s = −P_s + pnl_1s·x1 + pnl_2s·x2`:
///   s0: 120 − 100·x1 − 20·x2
///   s1:  30 +  50·x1 − 80·x2   (closing position 1 gives up its gain here)
///   s2: −30 +  30·x2
fn hand() -> [Vec<f64>; 2] {
    [vec![-100.0, 50.0, 0.0], vec![-20.0, -80.0, 30.0]]
}

const HAND_COSTS: [f64; 2] = [1000.0, 500.0];

/// The result meets the limit when re-evaluated from its fractions.
fn assert_meets<P: AsRef<[f64]>>(pnl: &[P], r: &Reduction, limit: f64, measure: Measure) {
    let after = measure_after_reduction(pnl, &r.fractions, measure).unwrap();
    assert!(after <= limit + 1e-6, "measure {after} above limit {limit}");
    assert_eq!(after, r.measure_after);
    assert!(r.fractions.iter().all(|x| (0.0..=1.0).contains(x)));
}

#[test]
fn worst_loss_lp_matches_the_hand_optimum() {
    // limit 50, minimise 1000·x1 + 500·x2:
    //   s0: 100·x1 + 20·x2 ≥ 70
    //   s1:  50·x1 − 80·x2 ≤ 20
    // s0 is cheaper to cover with x1 (10 per unit of loss) than x2 (25), but
    // x1 alone (0.7) breaks s1 (30 + 35 = 65). Along s0's edge
    // x2 = 3.5 − 5·x1 the cost 1750 − 1500·x1 falls with x1, up to s1's edge:
    // 50·x1 − 80·(3.5 − 5·x1) = 20 → x1 = 2/3, x2 = 1/6, cost 750.
    // After: s0 = 50, s1 = 50, s2 = −25.
    let pnl = hand();
    let r = reduce_positions(&ReductionProblem::new(
        &pnl,
        &HAND_COSTS,
        50.0,
        Measure::Worst,
    ))
    .unwrap();
    assert_eq!(r.method, Method::LinearProgram);
    assert_eq!(r.lp_failure, None);
    assert!(
        (r.fractions[0] - 2.0 / 3.0).abs() <= 1e-6,
        "{:?}",
        r.fractions
    );
    assert!(
        (r.fractions[1] - 1.0 / 6.0).abs() <= 1e-6,
        "{:?}",
        r.fractions
    );
    assert!((r.cost - 750.0).abs() <= 1e-3, "{}", r.cost);
    assert_eq!(r.measure_before, 120.0);
    assert!((r.measure_after - 50.0).abs() <= 1e-3);
    // s1 is not violated at x = 0, so it joins in the second round
    assert_eq!(r.lp_rounds, 2);
    assert_meets(&pnl, &r, 50.0, Measure::Worst);
}

#[test]
fn halving_needs_a_smaller_reduction() {
    // limit 85: s0 asks 100·x1 + 20·x2 ≥ 35; x1 = 0.35 keeps s1 at
    // 30 + 17.5 = 47.5 ≤ 85, cost 350.
    let pnl = hand();
    let full = ReductionProblem::new(&pnl, &HAND_COSTS, 50.0, Measure::Worst);
    let half = reduce_positions(&full.with_limit(85.0)).unwrap();
    assert!((half.fractions[0] - 0.35).abs() <= 1e-6);
    assert_eq!(half.fractions[1], 0.0);
    assert!((half.cost - 350.0).abs() <= 1e-3);
    assert_meets(&pnl, &half, 85.0, Measure::Worst);
}

#[test]
fn within_the_limit_closes_nothing() {
    let pnl = hand();
    for limit in [120.0, 500.0] {
        let r = reduce_positions(&ReductionProblem::new(
            &pnl,
            &HAND_COSTS,
            limit,
            Measure::Worst,
        ))
        .unwrap();
        assert_eq!(r.fractions, vec![0.0, 0.0]);
        assert_eq!(r.cost, 0.0);
        assert_eq!(r.measure_after, 120.0);
        assert_eq!(r.method, Method::LinearProgram);
    }
}

#[test]
fn the_hedge_is_kept_and_the_long_closed() {
    // a long stock and its short hedge: P = [-200, 100, 0], losses [200, -100, 0]
    //   s0: 200 − 1000·x1 + 800·x2 ≤ 100   (closing the hedge adds loss)
    //   s1: −100 + 500·x1 − 400·x2
    // → x1 = 0.1, x2 = 0, cost 1,000 (s1: −50).
    let pnl = [vec![-1000.0, 500.0, 0.0], vec![800.0, -400.0, 0.0]];
    let costs = [10_000.0, 8_000.0];
    for force_greedy in [false, true] {
        let options = ReduceOptions {
            force_greedy,
            ..ReduceOptions::default()
        };
        let r = reduce_positions(
            &ReductionProblem::new(&pnl, &costs, 100.0, Measure::Worst).with_options(options),
        )
        .unwrap();
        assert!((r.fractions[0] - 0.1).abs() <= 1e-9, "{:?}", r.fractions);
        assert_eq!(r.fractions[1], 0.0);
        assert!((r.cost - 1000.0).abs() <= 1e-6);
        assert_meets(&pnl, &r, 100.0, Measure::Worst);
    }
}

#[test]
fn forced_greedy_reaches_the_limit_at_a_higher_cost() {
    // Greedy by hand: worst s0, largest contributor position 1 (loss 100
    // there). Alone it cannot reach 50 (s0 needs x1 ≥ 0.7, s1 x1 ≤ 0.4): the
    // 1-D minimum is where 120 − 100·x1 = 30 + 50·x1, x1 = 0.6, both 60.
    // Next step: position 1 cannot lower the worst any more (s1 would rise),
    // position 2 can: s0 60 − 20·x2 ≤ 50 → x2 ≥ 0.5, s1 60 − 80·x2 fine,
    // s2 −30 + 30·x2 fine → x = (0.6, 0.5), cost 850 (the LP's is 750).
    let pnl = hand();
    let options = ReduceOptions {
        force_greedy: true,
        ..ReduceOptions::default()
    };
    let r = reduce_positions(
        &ReductionProblem::new(&pnl, &HAND_COSTS, 50.0, Measure::Worst).with_options(options),
    )
    .unwrap();
    assert_eq!(r.method, Method::Greedy);
    assert_eq!(r.lp_failure, Some(LpFailure::Forced));
    assert!((r.fractions[0] - 0.6).abs() <= 1e-6, "{:?}", r.fractions);
    assert!((r.fractions[1] - 0.5).abs() <= 1e-6, "{:?}", r.fractions);
    assert!((r.cost - 850.0).abs() <= 1e-3);
    assert_meets(&pnl, &r, 50.0, Measure::Worst);
}

#[test]
fn too_few_rounds_fall_back_to_greedy() {
    // one round sees only s0 (the only scenario above the limit at x = 0);
    // its answer x1 = 0.7 breaks s1, and there is no second round
    let pnl = hand();
    let options = ReduceOptions {
        max_rounds: 1,
        ..ReduceOptions::default()
    };
    let r = reduce_positions(
        &ReductionProblem::new(&pnl, &HAND_COSTS, 50.0, Measure::Worst).with_options(options),
    )
    .unwrap();
    assert_eq!(r.method, Method::Greedy);
    assert_eq!(r.lp_failure, Some(LpFailure::TooManyRounds(1)));
    assert_meets(&pnl, &r, 50.0, Measure::Worst);
}

#[test]
fn tail_average_of_two_matches_the_hand_optimum() {
    // losses now [120, 30, -30]: the mean of the worst two is 75. With three
    // scenarios the mean of the worst two is the largest pair mean:
    //   (s0 + s1)/2 = (150 − 50·x1 − 100·x2)/2 ≤ 50  →  x1 + 2·x2 ≥ 1
    //   (s0 + s2)/2 = (90 − 100·x1 + 10·x2)/2 ≤ 50   (always, x2 ≤ 1)
    //   (s1 + s2)/2 = (50·x1 − 50·x2)/2 ≤ 50         (always)
    // cost per unit of x1 + 2·x2: x1 1000, x2 250 → x = (0, 0.5), cost 250.
    // After: losses [110, −10, −15], mean of the worst two 50.
    let pnl = hand();
    let measure = Measure::TailAverage { k: 2 };
    let r = reduce_positions(&ReductionProblem::new(&pnl, &HAND_COSTS, 50.0, measure)).unwrap();
    assert_eq!(r.method, Method::LinearProgram);
    assert_eq!(r.measure_before, 75.0);
    assert!(r.fractions[0].abs() <= 1e-6, "{:?}", r.fractions);
    assert!((r.fractions[1] - 0.5).abs() <= 1e-6, "{:?}", r.fractions);
    assert!((r.cost - 250.0).abs() <= 1e-3);
    assert_meets(&pnl, &r, 50.0, measure);

    // the greedy method gets there too
    let options = ReduceOptions {
        force_greedy: true,
        ..ReduceOptions::default()
    };
    let g = reduce_positions(
        &ReductionProblem::new(&pnl, &HAND_COSTS, 50.0, measure).with_options(options),
    )
    .unwrap();
    assert_eq!(g.method, Method::Greedy);
    assert_meets(&pnl, &g, 50.0, measure);
}

#[test]
fn lots_give_whole_units_and_keep_the_limit() {
    // lots of a tenth: the LP's (2/3, 1/6) rounds up to (0.7, 0.2):
    // s0 = 120 − 70 − 4 = 46, s1 = 30 + 35 − 16 = 49; lowering either by a
    // lot breaks a scenario (x1 = 0.6: s0 = 56; x2 = 0.1: s1 = 57)
    let pnl = hand();
    let lots = [0.1, 0.1];
    let r = reduce_positions(
        &ReductionProblem::new(&pnl, &HAND_COSTS, 50.0, Measure::Worst).with_lots(&lots),
    )
    .unwrap();
    assert_eq!(r.fractions, vec![0.7, 0.2]);
    assert!((r.cost - 800.0).abs() <= 1e-9);
    assert_meets(&pnl, &r, 50.0, Measure::Worst);

    // a position of 3 units: fractions in thirds
    let r = reduce_positions(
        &ReductionProblem::new(&pnl, &HAND_COSTS, 50.0, Measure::Worst)
            .with_lots(&[1.0 / 3.0, 0.0]),
    )
    .unwrap();
    let units = r.fractions[0] * 3.0;
    assert!((units - units.round()).abs() <= 1e-12, "{:?}", r.fractions);
    assert_meets(&pnl, &r, 50.0, Measure::Worst);
}

#[test]
fn a_negative_limit_can_be_reached_or_not() {
    // P = [5, 25]: losses [-5, -25], measure −5. Closing the losing-side
    // position 2 (P&L [-15, -5]): s0 = −5 − 15·x2 ≤ −10 → x2 = 1/3.
    let pnl = [vec![20.0, 30.0], vec![-15.0, -5.0]];
    let r = reduce_positions(&ReductionProblem::new(
        &pnl,
        &[1.0, 1.0],
        -10.0,
        Measure::Worst,
    ))
    .unwrap();
    assert!(r.fractions[0].abs() <= 1e-6);
    assert!((r.fractions[1] - 1.0 / 3.0).abs() <= 1e-6);
    assert_meets(&pnl, &r, -10.0, Measure::Worst);

    // losses 100·(1 − x) and −50·(1 − x): never below 0
    let pnl = [vec![-100.0, 50.0]];
    let err =
        reduce_positions(&ReductionProblem::new(&pnl, &[1.0], -10.0, Measure::Worst)).unwrap_err();
    match err {
        AdjustError::Unreachable { limit, lowest } => {
            assert_eq!(limit, -10.0);
            assert!(lowest.abs() <= 1e-6, "{lowest}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn free_positions_are_still_answered() {
    let pnl = hand();
    let r = reduce_positions(&ReductionProblem::new(
        &pnl,
        &[0.0, 0.0],
        50.0,
        Measure::Worst,
    ))
    .unwrap();
    assert_eq!(r.cost, 0.0);
    assert_meets(&pnl, &r, 50.0, Measure::Worst);
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let pnl = hand();
    let problem = ReductionProblem::new(&pnl, &HAND_COSTS, 50.0, Measure::Worst);
    let nan = [vec![-100.0, f64::NAN, 0.0], vec![-20.0, -80.0, 30.0]];
    assert_eq!(
        reduce_positions(&ReductionProblem::new(
            &nan,
            &HAND_COSTS,
            50.0,
            Measure::Worst
        )),
        Err(AdjustError::NonFinitePnl {
            position: 0,
            scenario: 1
        })
    );
    assert_eq!(
        reduce_positions(&problem.with_limit(f64::INFINITY)),
        Err(AdjustError::NonFinite {
            what: "limit",
            index: 0
        })
    );
    assert_eq!(
        reduce_positions(&ReductionProblem::new(
            &pnl,
            &[1.0, -1.0],
            50.0,
            Measure::Worst
        )),
        Err(AdjustError::NegativeCost { position: 1 })
    );
    assert_eq!(
        reduce_positions(&ReductionProblem::new(&pnl, &[1.0], 50.0, Measure::Worst)),
        Err(AdjustError::LengthMismatch {
            what: "costs",
            expected: 2,
            found: 1
        })
    );
    assert_eq!(
        reduce_positions(&ReductionProblem::new(
            &pnl,
            &[1.0, f64::NAN],
            50.0,
            Measure::Worst
        )),
        Err(AdjustError::NonFinite {
            what: "cost",
            index: 1
        })
    );
    assert_eq!(
        reduce_positions(&problem.with_lots(&[0.1, -0.1])),
        Err(AdjustError::NegativeLot { position: 1 })
    );
    let options = ReduceOptions {
        precision: 0.0,
        ..ReduceOptions::default()
    };
    assert_eq!(
        reduce_positions(&problem.with_options(options)),
        Err(AdjustError::InvalidPrecision(0.0))
    );
    assert_eq!(
        reduce_positions(&ReductionProblem::new(
            &pnl,
            &HAND_COSTS,
            50.0,
            Measure::TailAverage { k: 0 }
        )),
        Err(AdjustError::ZeroK)
    );
    let empty: [Vec<f64>; 0] = [];
    assert_eq!(
        reduce_positions(&ReductionProblem::new(&empty, &[], 50.0, Measure::Worst)),
        Err(AdjustError::NoPositions)
    );
    let ragged = [vec![1.0, 2.0], vec![1.0]];
    assert_eq!(
        reduce_positions(&ReductionProblem::new(
            &ragged,
            &[1.0, 1.0],
            0.0,
            Measure::Worst
        )),
        Err(AdjustError::PositionLength {
            position: 1,
            expected: 2,
            found: 1
        })
    );
    let huge = [vec![f64::MAX, 0.0], vec![f64::MAX, 0.0]];
    assert_eq!(
        reduce_positions(&ReductionProblem::new(
            &huge,
            &[1.0, 1.0],
            0.0,
            Measure::Worst
        )),
        Err(AdjustError::Overflow { scenario: 0 })
    );
}

/// A 64-bit linear congruential generator (Knuth's MMIX constants): a
/// uniform in [0, 1) from the top 53 bits.
struct Lcg(u64);

impl Lcg {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A rough standard normal: the sum of 12 uniforms, less 6.
    fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.uniform()).sum::<f64>() - 6.0
    }
}

/// 20 positions × 20,000 scenarios driven by 3 factors plus own noise: long
/// and short equity-like positions and a few hedges.
fn seeded_book() -> (Vec<Vec<f64>>, Vec<f64>) {
    let (n, m) = (20, 20_000);
    let mut rng = Lcg(0x5eed_0fee);
    let loadings: Vec<[f64; 3]> = (0..n)
        .map(|_| [rng.normal(), rng.normal(), rng.normal()])
        .collect();
    let values: Vec<f64> = (0..n)
        .map(|i| {
            let size = 10_000.0 + 90_000.0 * rng.uniform();
            if i % 5 == 4 { -size } else { size }
        })
        .collect();
    let mut pnl = vec![Vec::with_capacity(m); n];
    for _ in 0..m {
        let factors = [0.2 * rng.normal(), 0.1 * rng.normal(), 0.05 * rng.normal()];
        for ((row, beta), value) in pnl.iter_mut().zip(&loadings).zip(&values) {
            let market = 0.8 + 0.2 * beta[0].abs();
            let ret = market * factors[0]
                + beta[1] * factors[1]
                + beta[2] * factors[2]
                + 0.05 * rng.normal();
            row.push(value * ret.clamp(-1.0, 1.0));
        }
    }
    let costs = values.iter().map(|v| v.abs()).collect();
    (pnl, costs)
}

#[test]
fn twenty_by_twenty_thousand_meets_the_limit() {
    let (pnl, costs) = seeded_book();
    let cases = [
        (Measure::Worst, 0.3),
        (Measure::TailAverage { k: 200 }, 0.25),
        (Measure::TailAverage { k: 1000 }, 0.5),
    ];
    for (measure, share) in cases {
        let before = measure_after_reduction(&pnl, &[0.0; 20], measure).unwrap();
        assert!(before > 0.0);
        let limit = before * share;
        let problem = ReductionProblem::new(&pnl, &costs, limit, measure);
        let lp = reduce_positions(&problem).unwrap();
        assert_eq!(
            lp.method,
            Method::LinearProgram,
            "{measure:?} {:?}",
            lp.lp_failure
        );
        assert_eq!(lp.measure_before, before);
        assert_meets(&pnl, &lp, limit, measure);

        let options = ReduceOptions {
            force_greedy: true,
            ..ReduceOptions::default()
        };
        let greedy = reduce_positions(&problem.with_options(options)).unwrap();
        assert_eq!(greedy.method, Method::Greedy);
        assert_meets(&pnl, &greedy, limit, measure);
        // the LP is the cheapest, up to its grid and tie-break
        assert!(
            lp.cost <= greedy.cost * (1.0 + 1e-4) + 1.0,
            "{measure:?} lp {} greedy {}",
            lp.cost,
            greedy.cost
        );
        // deterministic
        assert_eq!(reduce_positions(&problem).unwrap(), lp);
    }
}
