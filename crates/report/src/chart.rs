//! The two charts: the scenario P&L distribution and the largest
//! contributors, drawn with plotters on an SVG or a bitmap backend.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "chart geometry: a bin index is clamped to 0..BINS, pixel rows to the chart height, at most MAX_BARS bars, labels truncated to 34 characters"
)]

use plotters::coord::Shift;
use plotters::coord::types::{RangedCoordf64, RangedCoordu32};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::bitmap::TextFixBackend;
use crate::build::scenario_label;
use crate::font::{FONT, ensure_font};
use crate::format::{compact, truncate, whole_f64};
use crate::{AccountReport, Contribution, ReportError};

/// Histogram bins.
pub(crate) const BINS: usize = 50;
/// Bars in the contributors chart, at most.
pub(crate) const MAX_BARS: usize = 15;

const HIST_SIZE: (u32, u32) = (960, 480);

const INK: RGBColor = RGBColor(29, 35, 48);
const MUTED: RGBColor = RGBColor(91, 100, 117);
const BAR: RGBColor = RGBColor(70, 110, 170);
const TAIL: RGBColor = RGBColor(196, 50, 36);
const NLV_LINE: RGBColor = RGBColor(160, 20, 20);
const GAIN: RGBColor = RGBColor(40, 130, 90);

/// A drawing error, whatever the backend.
struct DrawErr(String);

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for DrawErr {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        DrawErr(e.to_string())
    }
}

type Drawn = Result<(), DrawErr>;

fn to_f64(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

// ------------------------------------------------------------------ data

/// The histogram, computed from the report before drawing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Histogram {
    /// Left edge of the first bin.
    pub lo: f64,
    /// Bin width (> 0).
    pub width: f64,
    /// Scenarios per bin.
    pub counts: Vec<u32>,
    /// Finite values binned.
    pub n: usize,
    /// Non-finite values skipped.
    pub skipped: usize,
    /// Scenarios with P&L < −NLV.
    pub tail: usize,
    /// The x range shown.
    pub view: (f64, f64),
    /// −NLV, and whether it lies in the view.
    pub nlv_x: f64,
    pub nlv_shown: bool,
    /// −measure, and whether it lies in the view.
    pub measure_x: f64,
    pub measure_shown: bool,
}

pub(crate) fn histogram(r: &AccountReport) -> Histogram {
    // The finite values, read in place (no copy of every scenario's P&L):
    // their count and range in one pass of independent lanes
    // ([`finite_range`]).
    let nlv_x = -to_f64(r.nlv);
    let measure_x = -to_f64(r.measure);
    let (finite, mut lo, mut hi) = finite_range(&r.pnl_distribution);
    let skipped = r.pnl_distribution.len() - finite;
    if finite == 0 {
        let span = (nlv_x.abs() * 0.5).max(1.0);
        lo = nlv_x - span;
        hi = nlv_x + span;
    } else if hi - lo <= f64::EPSILON * lo.abs().max(1.0) * 16.0 {
        // all equal: one visible bar in the middle
        let span = (lo.abs() * 0.05).max(1.0);
        let c = lo;
        lo = c - span;
        hi = c + span;
    }
    let width = (hi - lo) / BINS as f64;
    let (counts, tail) = bin_counts(&r.pnl_distribution, lo, width, nlv_x);

    // the view: the data, and the markers that are not too far away
    let span = hi - lo;
    let near = |x: f64| x.is_finite() && x >= lo - span && x <= hi + span;
    let (mut vlo, mut vhi) = (lo, hi);
    let nlv_shown = near(nlv_x);
    if nlv_shown {
        vlo = vlo.min(nlv_x);
        vhi = vhi.max(nlv_x);
    }
    let measure_shown = finite > 0 && !r.measure.is_zero() && near(measure_x);
    if measure_shown {
        vlo = vlo.min(measure_x);
        vhi = vhi.max(measure_x);
    }
    let pad = (vhi - vlo) * 0.04;
    Histogram {
        lo,
        width,
        counts,
        n: finite,
        skipped,
        tail,
        view: (vlo - pad, vhi + pad),
        nlv_x,
        nlv_shown,
        measure_x,
        measure_shown,
    }
}

/// The contributors the chart shows: those of the worst scenario (all of
/// them when none is tagged with it), the largest |P&L| first, at most
/// [`MAX_BARS`], then ordered from the largest loss down.
pub(crate) fn chart_contributors(r: &AccountReport) -> (Vec<&Contribution>, usize) {
    let worst = r.worst_scenarios.first().map(|s| s.index);
    let mut chosen: Vec<&Contribution> = match worst {
        Some(w) if r.contributors.iter().any(|c| c.scenario_index == w) => r
            .contributors
            .iter()
            .filter(|c| c.scenario_index == w)
            .collect(),
        _ => r.contributors.iter().collect(),
    };
    let total = chosen.len();
    chosen.sort_by_key(|c| std::cmp::Reverse(c.pnl.abs()));
    chosen.truncate(MAX_BARS);
    chosen.sort_by_key(|c| c.pnl);
    (chosen, total)
}

// ------------------------------------------------------------------ drawing

fn header<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, subtitle: &str) -> Drawn {
    root.draw(&Text::new(
        title.to_string(),
        (16, 10),
        (FONT, 22).into_font().color(&INK),
    ))?;
    root.draw(&Text::new(
        subtitle.to_string(),
        (16, 36),
        (FONT, 15).into_font().color(&MUTED),
    ))?;
    Ok(())
}

fn draw_histogram<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, r: &AccountReport) -> Drawn {
    let h = histogram(r);
    let ccy = truncate(&r.base_currency, 12);
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(62);
    let title = format!("Scenario P&L distribution: {}", truncate(&r.account, 48));
    header(&top, &title, &histogram_subtitle(&h, &ccy))?;

    let ymax = h.counts.iter().copied().max().unwrap_or(0).max(1);
    let ytop = ymax + (ymax / 8).max(1);
    let (x0, x1) = h.view;
    let mut chart = ChartBuilder::on(&body)
        .margin_left(12)
        .margin_right(24)
        .margin_bottom(8)
        .x_label_area_size(46)
        .y_label_area_size(58)
        .build_cartesian_2d(x0..x1, 0u32..ytop)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .bold_line_style(RGBColor(225, 228, 234))
        .light_line_style(TRANSPARENT)
        .axis_style(MUTED)
        .x_labels(9)
        .y_labels(6)
        .x_label_formatter(&|v| compact(*v))
        .y_label_formatter(&|v| v.to_string())
        .label_style((FONT, 14).into_font().color(&INK))
        .axis_desc_style((FONT, 15).into_font().color(&INK))
        .x_desc(format!("Scenario P&L ({ccy})"))
        .y_desc("Scenarios")
        .draw()?;

    draw_tail(&mut chart, &h, ytop)?;

    // the bars, split at -NLV
    let bars = histogram_bars(&h);
    let any_bars = !bars.is_empty();
    let drawn = chart.draw_series(bars)?;
    if any_bars {
        drawn
            .label("scenarios")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], BAR.filled()));
    }

    draw_markers(&mut chart, &h, r, &ccy, ytop)?;

    // the legend where the bars are lower
    let half = h.counts.len() / 2;
    let left_max = h.counts[..half].iter().max().copied().unwrap_or(0);
    let right_max = h.counts[half..].iter().max().copied().unwrap_or(0);
    let position = if left_max <= right_max {
        SeriesLabelPosition::UpperLeft
    } else {
        SeriesLabelPosition::UpperRight
    };
    chart
        .configure_series_labels()
        .position(position)
        .margin(14)
        .label_font((FONT, 14).into_font().color(&INK))
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(200, 204, 212))
        .draw()?;
    root.present()?;
    Ok(())
}

/// Lanes of the histogram's two passes: eight independent values at a
/// time, which the compiler keeps in vector registers.
const LANES: usize = 8;

/// The count of the finite `values`, their least and their greatest
/// (`+∞` and `−∞` when there is none), in one pass of [`LANES`]
/// independent lanes of plain comparisons (packed compare-and-select).
///
/// Each extreme is the first value in scenario order that equals it, as
/// the fold `if v < lo { v } else { lo }` over the values in order gives
/// (the lanes keep their first on a tie, and a nonzero extreme has one
/// representation): only a zero extreme has a choice, `+0` or `−0`, and
/// it is taken as the first zero in scenario order. (`f64::min` and
/// `f64::max`, the fold this replaces, may keep either of two equal
/// zeros; the sign of a zero extreme reaches no output anyway — `lo` and
/// `hi` are only used through `hi − lo`, `lo ± span` with `span > 0`,
/// `lo + width·i + gap` and a view padded by a positive amount.)
fn finite_range(values: &[f64]) -> (usize, f64, f64) {
    let mut count = [0_u64; LANES];
    let mut lows = [f64::INFINITY; LANES];
    let mut highs = [f64::NEG_INFINITY; LANES];
    let mut chunks = values.chunks_exact(LANES);
    for chunk in &mut chunks {
        for j in 0..LANES {
            let v = chunk[j];
            // false for NaN and ±∞
            let finite = v.abs() < f64::INFINITY;
            count[j] += u64::from(finite);
            lows[j] = if finite & (v < lows[j]) { v } else { lows[j] };
            highs[j] = if finite & (v > highs[j]) { v } else { highs[j] };
        }
    }
    let (mut n, mut lo, mut hi) = (0_u64, f64::INFINITY, f64::NEG_INFINITY);
    for &v in chunks.remainder() {
        let finite = v.abs() < f64::INFINITY;
        n += u64::from(finite);
        lo = if finite && v < lo { v } else { lo };
        hi = if finite && v > hi { v } else { hi };
    }
    for j in 0..LANES {
        n += count[j];
        lo = if lows[j] < lo { lows[j] } else { lo };
        hi = if highs[j] > hi { highs[j] } else { hi };
    }
    if lo == 0.0 || hi == 0.0 {
        // a zero extreme: the first zero in scenario order (there is one)
        let first_zero = values.iter().copied().find(|&v| v == 0.0).unwrap_or(0.0);
        if lo == 0.0 {
            lo = first_zero;
        }
        if hi == 0.0 {
            hi = first_zero;
        }
    }
    // at most `values.len()`, a `usize`
    (usize::try_from(n).unwrap_or(usize::MAX), lo, hi)
}

/// The bin counts of the finite `values` (bin `⌊(v − lo) / width⌋`, the
/// first for a quotient below 1 or not finite, the last for any beyond it)
/// and how many of them lie below `below`, in one pass: the bins of
/// [`LANES`] values at a time are worked out in independent lanes (the
/// division, the tail's comparison), then counted in four sets of counts
/// taken in turn (summed at the end), so that a run of values in one bin
/// does not wait on its own count. No call to `floor`: for a finite
/// quotient `x`, `⌊x⌋ > 0` is `x ≥ 1`, where truncating is flooring.
fn bin_counts(values: &[f64], lo: f64, width: f64, below: f64) -> (Vec<u32>, usize) {
    // Slot BINS of each set takes the non-finite values (no bin).
    let mut sets = [[0_u32; BINS + 1]; 4];
    let last = (BINS - 1) as f64;
    // Without branches (selects the compiler keeps in vector lanes): the
    // quotient capped at `last` when it is finite and at least 1, else 0;
    // truncated (flooring, as it is ≥ 0) to the bin; `BINS` for a
    // non-finite value.
    let bin = |v: f64| -> usize {
        let x = (v - lo) / width;
        let y = if (1.0..f64::INFINITY).contains(&x) {
            x.min(last)
        } else {
            0.0
        };
        let i = y as u32;
        let i = if v.abs() < f64::INFINITY {
            i
        } else {
            BINS as u32
        };
        i as usize
    };
    let mut tails = [0_u64; LANES];
    // Lanes of zeros (either sign) are only counted: every zero falls in
    // the bin of `+0` and on the same side of `below` (`−0 − lo` is
    // `0 − lo` for a nonzero `lo`, and `±0` when it is zero, which bins as
    // 0 either way; `−0 < below` is `0 < below`). Most of a report's
    // scenarios are the stress scenarios of stocks the account does not
    // hold, where its P&L is exactly zero, in runs.
    let mut zeros = 0_u64;
    let mut chunks = values.chunks_exact(LANES);
    for chunk in &mut chunks {
        // The bits shifted past the sign: zero only for ±0.
        if chunk.iter().fold(0, |any, &v| any | (v.to_bits() << 1)) == 0 {
            zeros += LANES as u64;
            continue;
        }
        let mut at = [0_usize; LANES];
        for j in 0..LANES {
            let v = chunk[j];
            at[j] = bin(v);
            tails[j] += u64::from(v.abs() < f64::INFINITY && v < below);
        }
        for (j, &i) in at.iter().enumerate() {
            sets[j % 4][i] += 1;
        }
    }
    let mut tail = 0_u64;
    for &v in chunks.remainder() {
        sets[0][bin(v)] += 1;
        tail += u64::from(v.abs() < f64::INFINITY && v < below);
    }
    tail += tails.iter().sum::<u64>();
    if zeros > 0 {
        // at most `values.len()`, which fits a `u32` count as the lanes' do
        let at = bin(0.0);
        sets[0][at] = sets[0][at].saturating_add(u32::try_from(zeros).unwrap_or(u32::MAX));
        tail += if 0.0 < below { zeros } else { 0 };
    }
    let counts = (0..BINS)
        .map(|i| sets.iter().map(|set| set[i]).sum())
        .collect();
    // at most `values.len()`, a `usize`
    (counts, usize::try_from(tail).unwrap_or(usize::MAX))
}

/// The histogram's subtitle: counts, skipped values, an -NLV off the chart.
fn histogram_subtitle(h: &Histogram, ccy: &str) -> String {
    let mut sub = if h.n == 0 {
        "no scenario P&L to show".to_string()
    } else {
        let pct = 100.0 * h.tail as f64 / h.n as f64;
        format!(
            "{} scenarios, {} bins; {} lose more than NLV ({pct:.1}%)",
            h.n, BINS, h.tail
        )
    };
    if h.skipped > 0 {
        sub.push_str(&format!("; {} non-finite values skipped", h.skipped));
    }
    if !h.nlv_shown {
        sub.push_str(&format!(
            "; -NLV = {} {ccy} is off the chart",
            whole_f64(h.nlv_x)
        ));
    }
    sub
}

/// The histogram's plotting context.
type HistChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordu32>>;

/// The uncovered tail left of -NLV, shaded, with its count when it fits.
fn draw_tail<DB: DrawingBackend>(chart: &mut HistChart<'_, DB>, h: &Histogram, ytop: u32) -> Drawn {
    let (x0, _) = h.view;
    if h.nlv_shown && h.nlv_x > x0 {
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x0, 0), (h.nlv_x, ytop)],
                TAIL.mix(0.09).filled(),
            )))?
            .label("uncovered tail: P&L < -NLV")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], TAIL.filled()));
        // how many scenarios, inside the shaded tail when it is wide enough
        let (left, _) = chart.backend_coord(&(x0, 0));
        let (right, _) = chart.backend_coord(&(h.nlv_x, 0));
        if right - left > 230 && h.n > 0 {
            let style = (FONT, 14)
                .into_font()
                .color(&NLV_LINE)
                .pos(Pos::new(HPos::Center, VPos::Center));
            let y = (f64::from(ytop) * 0.4).round() as u32;
            chart.plotting_area().draw(&Text::new(
                format!(
                    "{} scenario{} lose more than NLV",
                    h.tail,
                    if h.tail == 1 { "" } else { "s" }
                ),
                ((x0 + h.nlv_x) / 2.0, y),
                style,
            ))?;
        }
    }

    Ok(())
}

/// The bars, each split at -NLV into its tail part and the rest.
fn histogram_bars(h: &Histogram) -> Vec<Rectangle<(f64, u32)>> {
    let gap = h.width * 0.06;
    let mut bars: Vec<Rectangle<(f64, u32)>> = Vec::new();
    for (i, c) in h.counts.iter().enumerate() {
        if *c == 0 {
            continue;
        }
        let a = h.lo + h.width * i as f64 + gap;
        let b = h.lo + h.width * (i + 1) as f64 - gap;
        let cut = h.nlv_x;
        if b <= cut {
            bars.push(Rectangle::new([(a, 0), (b, *c)], TAIL.filled()));
        } else if a >= cut {
            bars.push(Rectangle::new([(a, 0), (b, *c)], BAR.filled()));
        } else {
            bars.push(Rectangle::new([(a, 0), (cut, *c)], TAIL.filled()));
            bars.push(Rectangle::new([(cut, 0), (b, *c)], BAR.filled()));
        }
    }
    bars
}

/// The risk measure's and -NLV's vertical lines, with their labels.
fn draw_markers<DB: DrawingBackend>(
    chart: &mut HistChart<'_, DB>,
    h: &Histogram,
    r: &AccountReport,
    ccy: &str,
    ytop: u32,
) -> Drawn {
    let (x0, x1) = h.view;
    if h.measure_shown {
        let label = format!(
            "risk measure ({}): -{} {ccy}",
            truncate(&r.measure_name, 32),
            whole_f64(to_f64(r.measure))
        );
        chart
            .draw_series(std::iter::once(DashedPathElement::new(
                vec![(h.measure_x, 0), (h.measure_x, ytop)],
                6,
                4,
                INK.stroke_width(2),
            )))?
            .label(label)
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], INK.stroke_width(2)));
    }
    if h.nlv_shown {
        let label = format!("-NLV = {} {ccy} (equity wiped out)", whole_f64(h.nlv_x));
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(h.nlv_x, 0), (h.nlv_x, ytop)],
                NLV_LINE.stroke_width(3),
            )))?
            .label(label)
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], NLV_LINE.stroke_width(3)));
        // name the line where it stands
        let right_half = h.nlv_x > (x0 + x1) / 2.0;
        let style = (FONT, 14).into_font().color(&NLV_LINE).pos(Pos::new(
            if right_half { HPos::Right } else { HPos::Left },
            VPos::Top,
        ));
        let dx = if right_half { -6 } else { 6 };
        chart.plotting_area().draw(
            &(EmptyElement::at((h.nlv_x, ytop)) + Text::new("-NLV".to_string(), (dx, 4), style)),
        )?;
    }

    Ok(())
}

fn contributors_height(r: &AccountReport) -> u32 {
    let (bars, _) = chart_contributors(r);
    (150 + 30 * bars.len() as u32).max(200)
}

fn draw_contributors<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, r: &AccountReport) -> Drawn {
    let (bars, total) = chart_contributors(r);
    let ccy = truncate(&r.base_currency, 12);
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(62);
    let scenario = bars.first().map(|c| c.scenario_index).and_then(|i| {
        r.worst_scenarios
            .iter()
            .find(|s| s.index == i)
            .map(scenario_label)
            .or_else(|| Some(format!("scenario #{i}")))
    });
    let title = format!("Largest contributors: {}", truncate(&r.account, 52));
    let mut sub = match &scenario {
        Some(s) => format!("P&L of each position in {}", truncate(s, 60)),
        None => "no contributors reported".to_string(),
    };
    if total > bars.len() {
        sub.push_str(&format!("; the {} largest of {total}", bars.len()));
    }
    header(&top, &title, &sub)?;

    let n = bars.len().max(1) as f64;
    let (mut lo, mut hi) = bars.iter().fold((0.0f64, 0.0f64), |(a, b), c| {
        let v = to_f64(c.pnl);
        (a.min(v), b.max(v))
    });
    if hi - lo <= 0.0 {
        lo = -1.0;
        hi = 1.0;
    }
    // room for the value labels beside the bars
    let pad = (hi - lo) * 0.16;
    let (x0, x1) = (
        if lo < 0.0 { lo - pad } else { lo - pad * 0.25 },
        if hi > 0.0 { hi + pad } else { hi + pad * 0.25 },
    );
    let labels: Vec<String> = bars.iter().map(|c| truncate(&c.position, 34)).collect();
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(4) as u32;
    let label_area = (longest * 9 + 20).clamp(60, 330);

    let mut chart = ChartBuilder::on(&body)
        .margin_left(12)
        .margin_right(24)
        .margin_bottom(8)
        .x_label_area_size(46)
        .y_label_area_size(label_area)
        .build_cartesian_2d(x0..x1, 0.0..n)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .bold_line_style(RGBColor(225, 228, 234))
        .light_line_style(TRANSPARENT)
        .axis_style(MUTED)
        .x_labels(8)
        .y_labels(0)
        .x_label_formatter(&|v| compact(*v))
        .label_style((FONT, 14).into_font().color(&INK))
        .axis_desc_style((FONT, 15).into_font().color(&INK))
        .x_desc(format!("P&L in the scenario ({ccy})"))
        .draw()?;

    // row k (the largest loss is row 0) spans y in [n-k-1, n-k], top down
    let row_top = |k: usize| n - k as f64;
    let rows = bars.iter().enumerate().map(|(k, c)| {
        let v = to_f64(c.pnl);
        let color = if v < 0.0 { TAIL } else { GAIN };
        let mut rect = Rectangle::new([(0.0, row_top(k)), (v, row_top(k) - 1.0)], color.filled());
        rect.set_margin(5, 5, 0, 0);
        rect
    });
    chart.draw_series(rows)?;
    let values = bars.iter().enumerate().map(|(k, c)| {
        let v = to_f64(c.pnl);
        let (anchor, dx) = if v < 0.0 {
            (HPos::Right, -6)
        } else {
            (HPos::Left, 6)
        };
        let style = (FONT, 13)
            .into_font()
            .color(&INK)
            .pos(Pos::new(anchor, VPos::Center));
        EmptyElement::at((v, row_top(k) - 0.5)) + Text::new(whole_f64(v), (dx, 0), style)
    });
    chart.draw_series(values)?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(0.0, 0.0), (0.0, n)],
        INK.stroke_width(1),
    )))?;
    // the position labels, left of the axis
    let label_style = (FONT, 14)
        .into_font()
        .color(&INK)
        .pos(Pos::new(HPos::Right, VPos::Center));
    for (k, label) in labels.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(x0, row_top(k) - 0.5));
        root.draw(&Text::new(label.clone(), (px - 8, py), label_style.clone()))?;
    }
    root.present()?;
    Ok(())
}

// ------------------------------------------------------------------ output

fn svg(
    size: (u32, u32),
    draw: impl FnOnce(DrawingArea<SVGBackend<'_>, Shift>) -> Drawn,
) -> Result<String, ReportError> {
    ensure_font()?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        draw(root).map_err(|e| ReportError::Chart(e.0))?;
    }
    Ok(out)
}

fn png(
    size: (u32, u32),
    draw: impl FnOnce(DrawingArea<TextFixBackend<'_>, Shift>) -> Drawn,
) -> Result<Vec<u8>, ReportError> {
    ensure_font()?;
    let (w, h) = size;
    let mut pixels = vec![255u8; w as usize * h as usize * 3];
    {
        let root =
            TextFixBackend(BitMapBackend::with_buffer(&mut pixels, size)).into_drawing_area();
        draw(root).map_err(|e| ReportError::Chart(e.0))?;
    }
    let mut out = Vec::new();
    {
        let mut enc = ::png::Encoder::new(&mut out, w, h);
        enc.set_color(::png::ColorType::Rgb);
        enc.set_depth(::png::BitDepth::Eight);
        let mut writer = enc
            .write_header()
            .map_err(|e| ReportError::Png(e.to_string()))?;
        writer
            .write_image_data(&pixels)
            .map_err(|e| ReportError::Png(e.to_string()))?;
        writer
            .finish()
            .map_err(|e| ReportError::Png(e.to_string()))?;
    }
    Ok(out)
}

/// The distribution of scenario P&L as SVG: a histogram of 50 bins,
/// the line at −NLV (the loss that wipes out the equity) with the uncovered
/// tail (P&L < −NLV) shaded, and the risk measure's line.
pub fn pnl_histogram_svg(r: &AccountReport) -> Result<String, ReportError> {
    svg(HIST_SIZE, |root| draw_histogram(root, r))
}

/// [`pnl_histogram_svg`] as a PNG image (960×480).
pub fn pnl_histogram_png(r: &AccountReport) -> Result<Vec<u8>, ReportError> {
    png(HIST_SIZE, |root| draw_histogram(root, r))
}

/// The largest contributors as SVG: one horizontal bar per position, its P&L
/// in the worst scenario (losses red), the largest loss on top.
pub fn contributors_svg(r: &AccountReport) -> Result<String, ReportError> {
    svg((960, contributors_height(r)), |root| {
        draw_contributors(root, r)
    })
}

/// [`contributors_svg`] as a PNG image (960 wide).
pub fn contributors_png(r: &AccountReport) -> Result<Vec<u8>, ReportError> {
    png((960, contributors_height(r)), |root| {
        draw_contributors(root, r)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(pnl: Vec<f64>, nlv: i64, measure: i64) -> AccountReport {
        AccountReport {
            account: "T".into(),
            base_currency: "USD".into(),
            nlv: Decimal::from(nlv),
            measure: Decimal::from(measure),
            pnl_distribution: pnl,
            ..AccountReport::default()
        }
    }

    #[test]
    fn histogram_counts_every_finite_value_once() {
        let pnl: Vec<f64> = (0..1000).map(|i| f64::from(i) * 10.0 - 5000.0).collect();
        let h = histogram(&report(pnl, 3000, 5000));
        assert_eq!(h.counts.len(), BINS);
        assert_eq!(h.counts.iter().sum::<u32>(), 1000);
        assert_eq!(h.n, 1000);
        assert_eq!(h.skipped, 0);
        // values below -3000: -5000, -4990, …, -3010
        assert_eq!(h.tail, 200);
        assert!(h.nlv_shown && h.measure_shown);
        assert!(h.view.0 < -5000.0 && h.view.1 > 4990.0);
        // the minimum falls in the first bin, the maximum in the last
        assert!(h.counts[0] > 0 && h.counts[BINS - 1] > 0);
    }

    #[test]
    fn histogram_skips_non_finite_and_handles_degenerate_input() {
        let h = histogram(&report(vec![f64::NAN, 1.0, f64::INFINITY, 1.0], 10, 0));
        assert_eq!((h.n, h.skipped), (2, 2));
        assert_eq!(h.counts.iter().sum::<u32>(), 2);
        assert!(h.width > 0.0 && h.width.is_finite());
        assert!(!h.measure_shown, "a zero measure draws no line");

        let h = histogram(&report(vec![], 100, 0));
        assert_eq!(h.n, 0);
        assert!(h.view.0 < -100.0 && h.view.1 > -100.0 && h.nlv_shown);

        let h = histogram(&report(vec![-1e300, 1e300], 0, 0));
        assert_eq!(h.counts.iter().sum::<u32>(), 2);
        assert!(h.width.is_finite() && h.width > 0.0);
    }

    #[test]
    fn bins_are_the_floor_of_the_offset_over_the_width() {
        // Oracle: the plain rule value by value (`floor`, then the first bin
        // for anything not above zero or not finite, the last beyond it).
        let values: Vec<f64> = (0..1003)
            .map(|i: i32| f64::from(i * 7919 % 997) * 0.37 - 120.0)
            .chain([
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                -0.0,
                0.0,
                -1e308,
                1e308,
                -120.0,
            ])
            .collect();
        for (lo, width) in [(-120.0, 7.4), (-100.0, 3.0), (0.0, 1e-310), (-1e308, 4e306)] {
            assert_eq!(
                bin_counts(&values, lo, width, -50.5),
                plain_bins(&values, lo, width, -50.5),
                "{lo} {width}"
            );
        }
        // by hand: width 10 from 0: 5 → bin 0, 10 → 1, 499 → 49, 500 and
        // 1e9 → the last, −3 → the first; two below 6
        let (counts, below) = bin_counts(&[5.0, 10.0, 499.0, 500.0, 1e9, -3.0], 0.0, 10.0, 6.0);
        assert_eq!((counts[0], counts[1], counts[49], below), (2, 1, 3, 2));
        assert_eq!(counts.iter().sum::<u32>(), 6);
    }

    /// Adversarial distributions: every class of f64 (both zeros, both
    /// NaNs, ±∞, subnormals, the extremes), runs of equal values, lengths
    /// around the lanes, random bit patterns and P&L-like values.
    fn adversarial_distributions() -> Vec<Vec<f64>> {
        let specials = [
            0.0,
            -0.0,
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::from_bits(1),
            -f64::from_bits(1),
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            1e308,
            -1e308,
            1.0,
            -1.0,
            -120.0,
            12_345.678,
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            // xorshift64*
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let mut sets: Vec<Vec<f64>> = vec![Vec::new()];
        for len in 1..=40 {
            // specials in every position, and runs of one value
            sets.push(
                (0..len)
                    .map(|i| specials[(i * 7 + len) % specials.len()])
                    .collect(),
            );
            for &s in &specials {
                sets.push(vec![s; len]);
            }
            // zeros of both signs around nonzero values of one sign
            sets.push(
                (0..len)
                    .map(|i| {
                        if i % 3 == 0 {
                            -0.0
                        } else if i % 3 == 1 {
                            0.0
                        } else {
                            -5.0
                        }
                    })
                    .collect(),
            );
            sets.push(
                (0..len)
                    .map(|i| if i % 2 == 0 { 0.0 } else { -0.0 })
                    .collect(),
            );
            sets.push(
                (0..len)
                    .map(|i| if i == len / 2 { -0.0 } else { 7.5 })
                    .collect(),
            );
        }
        // a report's shape: spread values, then long runs of zeros of
        // either sign with a few values in them (lanes of zeros beside
        // lanes that are not, at every offset)
        for round in 0..60 {
            let len = 1 + (next() % 700) as usize;
            let dense = (next() % 100) as usize;
            sets.push(
                (0..len)
                    .map(|i| {
                        let bits = next();
                        if i < dense || bits % 97 == 0 {
                            specials[(bits >> 8) as usize % specials.len()]
                                * f64::from(1 + round % 5)
                        } else if bits % 2 == 0 {
                            0.0
                        } else {
                            -0.0
                        }
                    })
                    .collect(),
            );
        }
        for round in 0..300 {
            let len = 1 + (next() % 3000) as usize;
            sets.push(
                (0..len)
                    .map(|_| {
                        let bits = next();
                        match (bits % 8, round % 3) {
                            (0, _) => specials[(bits >> 8) as usize % specials.len()],
                            (1, _) => f64::from_bits(bits),
                            // P&L-like: many exact zeros, a spread of losses
                            (2 | 3, _) => 0.0,
                            (_, 0) => ((bits >> 11) as f64 / (1_u64 << 53) as f64) * 2e6 - 1.5e6,
                            (_, 1) => -((bits >> 20) as f64),
                            _ => (bits >> 40) as f64 * 1e-300,
                        }
                    })
                    .collect(),
            );
        }
        sets
    }

    /// The plain rules, value by value in scenario order: the oracle.
    fn plain_range(values: &[f64]) -> (usize, f64, f64) {
        let (mut n, mut lo, mut hi) = (0, f64::INFINITY, f64::NEG_INFINITY);
        for &v in values.iter().filter(|v| v.is_finite()) {
            n += 1;
            if v < lo {
                lo = v;
            }
            if v > hi {
                hi = v;
            }
        }
        (n, lo, hi)
    }

    fn plain_bins(values: &[f64], lo: f64, width: f64, below: f64) -> (Vec<u32>, usize) {
        let mut want = vec![0_u32; BINS];
        let mut tail = 0;
        for &v in values.iter().filter(|v| v.is_finite()) {
            let i = ((v - lo) / width).floor();
            let i = if i.is_finite() && i > 0.0 {
                (i as usize).min(BINS - 1)
            } else {
                0
            };
            want[i] += 1;
            tail += usize::from(v < below);
        }
        (want, tail)
    }

    #[test]
    fn the_range_and_bins_are_the_plain_rules_on_adversarial_values() {
        for values in adversarial_distributions() {
            let (n, lo, hi) = finite_range(&values);
            let (want_n, want_lo, want_hi) = plain_range(&values);
            assert_eq!(n, want_n, "{values:?}");
            assert_eq!(lo.to_bits(), want_lo.to_bits(), "{values:?}");
            assert_eq!(hi.to_bits(), want_hi.to_bits(), "{values:?}");
            // the same numbers as `f64::min`/`max` folds (up to a zero's sign)
            let finite = values.iter().copied().filter(|v| v.is_finite());
            assert_eq!(lo, finite.clone().fold(f64::INFINITY, f64::min));
            assert_eq!(hi, finite.fold(f64::NEG_INFINITY, f64::max));
            // the bins: with the chart's own range, and with ranges that put
            // values beyond either end
            let h = histogram(&report(values.clone(), 1000, 0));
            for (lo, width, below) in [
                (h.lo, h.width, h.nlv_x),
                (-100.0, 3.0, -0.0),
                (0.0, 1e-310, 0.0),
                (-1e308, 4e306, f64::NAN),
                (5.0, 0.25, f64::INFINITY),
            ] {
                assert_eq!(
                    bin_counts(&values, lo, width, below),
                    plain_bins(&values, lo, width, below),
                    "{lo} {width} {values:?}"
                );
            }
            assert_eq!((h.n, h.skipped), (want_n, values.len() - want_n));
            assert_eq!(h.counts.iter().map(|&c| c as usize).sum::<usize>(), want_n);
        }
    }

    #[test]
    fn a_zero_extreme_is_the_first_zero_in_scenario_order() {
        // by hand: the least is zero, met first as −0 (at index 2)
        assert_eq!(
            finite_range(&[3.0, f64::NAN, -0.0, 0.0, 1.0]).1.to_bits(),
            (-0.0_f64).to_bits()
        );
        // the greatest is zero, met first as +0 beyond the first lanes
        let mut v = vec![-1.0; 19];
        v[11] = 0.0;
        v[13] = -0.0;
        let (n, lo, hi) = finite_range(&v);
        assert_eq!((n, lo, hi.to_bits()), (19, -1.0, 0.0_f64.to_bits()));
        v[11] = -0.0;
        v[13] = 0.0;
        assert_eq!(finite_range(&v).2.to_bits(), (-0.0_f64).to_bits());
    }

    #[test]
    fn far_nlv_is_not_drawn() {
        let h = histogram(&report(vec![-10.0, 0.0, 10.0], 1_000_000, 10));
        assert!(!h.nlv_shown);
        assert!(h.view.0 > -100.0);
    }

    #[test]
    fn the_chart_shows_the_worst_scenarios_largest_contributors() {
        let mut r = report(vec![], 0, 0);
        r.worst_scenarios = vec![crate::ScenarioLine {
            index: 7,
            ..Default::default()
        }];
        r.contributors = (0..30)
            .map(|i| Contribution {
                position: format!("P{i}"),
                scenario_index: if i % 2 == 0 { 7 } else { 8 },
                pnl: Decimal::from(if i % 3 == 0 { i } else { -i }),
            })
            .collect();
        let (bars, total) = chart_contributors(&r);
        assert_eq!(total, 15);
        assert!(bars.len() <= MAX_BARS);
        assert!(bars.iter().all(|c| c.scenario_index == 7));
        assert!(bars.windows(2).all(|w| w[0].pnl <= w[1].pnl));
        assert_eq!(bars[0].position, "P28");
    }
}
