//! The statistics of a comparison: the ratio of two medians, with a
//! bootstrap confidence interval.
//!
//! Why this method: benchmark samples on a shared machine are skewed and
//! have outliers (a preempted sample is many times the others), so the
//! median is the figure `weld bench` prints, and a change is the ratio of
//! the medians now and then. A percentile bootstrap of that ratio makes no
//! assumption about the shape of either distribution, works for the five
//! samples of a slow wRPC cell and the ten thousand of a fused one, and
//! says what a reader wants: "now / then is between 1.02 and 1.05, 95 %
//! of the time". It is seeded, so a comparison of the same files gives the
//! same interval every time, and it costs 2 × 2000 resamples per cell, each
//! linear in the samples (`Resampler`): a few tens of milliseconds for the
//! largest cells.
//!
//! Its limit: the bootstrap treats the samples of one run as independent.
//! What moves between runs as a whole (code placement, a noisy neighbour
//! for the whole run, CPU frequency) is not in the interval, which is why
//! a verdict needs the whole interval past a threshold rather than past
//! 1.0 ([`Verdict`]).

use serde::Serialize;

/// Bootstrap resamples per comparison.
pub const RESAMPLES: usize = 2000;

/// The seed of every comparison's resampling ("WELD"): fixed, so the same
/// two sets of samples always give the same interval.
pub const SEED: u64 = 0x5745_4c44;

/// The confidence of the interval.
pub const CONFIDENCE: f64 = 0.95;

/// The median as `weld bench` reports it: the upper median of the sorted
/// samples (`sorted[n / 2]`), always one of the samples. NaN when empty.
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    let k = v.len() / 2;
    *v.select_nth_unstable_by(k, f64::total_cmp).1
}

/// A change between two sets of samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Change {
    /// Median of the baseline's samples.
    pub then_ns: f64,
    /// Median of the current samples.
    pub now_ns: f64,
    /// `now_ns / then_ns`: above 1 is slower.
    pub ratio: f64,
    /// The bootstrap interval of the ratio, at [`CONFIDENCE`].
    pub ci: (f64, f64),
}

/// The ratio of the medians of `now` and `then`, with a percentile
/// bootstrap interval from `resamples` resamples of each side drawn with
/// `seed`. `None` when either side has no samples.
pub fn compare(then: &[f64], now: &[f64], resamples: usize, seed: u64) -> Option<Change> {
    if then.is_empty() || now.is_empty() {
        return None;
    }
    let (then_ns, now_ns) = (median(then), median(now));
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut then, mut now) = (Resampler::new(then), Resampler::new(now));
    let mut ratios: Vec<f64> = (0..resamples.max(1))
        .map(|_| {
            let t = then.median(&mut rng);
            now.median(&mut rng) / t
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let tail = (1.0 - CONFIDENCE) / 2.0;
    let last = ratios.len() - 1;
    let at = |q: f64| ratios[((last as f64) * q).round() as usize];
    Some(Change {
        then_ns,
        now_ns,
        ratio: now_ns / then_ns,
        ci: (at(tail), at(1.0 - tail)),
    })
}

/// Medians of resamples of one set of samples, without sorting each
/// resample: with the samples sorted once, a resample is a count of draws
/// per sorted position, and its median is the sample at which the running
/// count passes half. Linear in the samples, with no comparisons.
struct Resampler {
    sorted: Vec<f64>,
    counts: Vec<u32>,
}

impl Resampler {
    fn new(xs: &[f64]) -> Resampler {
        let mut sorted = xs.to_vec();
        sorted.sort_by(f64::total_cmp);
        Resampler {
            counts: vec![0; sorted.len()],
            sorted,
        }
    }

    /// The median (as [`median`] takes it) of `n` draws with replacement.
    fn median(&mut self, rng: &mut fastrand::Rng) -> f64 {
        let n = self.sorted.len();
        self.counts.fill(0);
        for _ in 0..n {
            self.counts[rng.usize(..n)] += 1;
        }
        let k = n / 2;
        let mut seen = 0;
        for (x, &c) in self.sorted.iter().zip(&self.counts) {
            seen += c as usize;
            if seen > k {
                return *x;
            }
        }
        unreachable!("the counts add up to n > k")
    }
}

/// What a comparison says of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Faster beyond the threshold, with confidence.
    Improved,
    /// Slower beyond the threshold, with confidence.
    Regressed,
    /// Neither: the interval reaches inside the threshold.
    NoChange,
    /// The cell is in only one of the two runs.
    Missing,
}

impl Verdict {
    /// The verdict as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Regressed => "regressed",
            Verdict::NoChange => "no change",
            Verdict::Missing => "missing",
        }
    }

    /// The verdict of a change at `threshold` (a fraction: 0.10 for 10 %).
    ///
    /// Regressed when the **whole** interval is above `1 + threshold`: we
    /// are 97.5 % sure the slowdown exceeds the threshold. Improved, the
    /// mirror image, when the whole interval is below `1 / (1 + threshold)`
    /// (a 2× slowdown and a 2× speed-up are the same distance from 1).
    /// Requiring the interval past the threshold, and not merely past 1,
    /// is what keeps run-to-run shifts the bootstrap cannot see (see the
    /// module's documentation) from failing builds: they must be larger
    /// than the threshold, not just significant.
    pub fn of(change: &Change, threshold: f64) -> Verdict {
        let up = 1.0 + threshold.max(0.0);
        if change.ci.0 > up {
            Verdict::Regressed
        } else if change.ci.1 < 1.0 / up {
            Verdict::Improved
        } else {
            Verdict::NoChange
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How a cell's samples scatter on a shared machine.
    #[derive(Clone, Copy)]
    struct Shape {
        /// Gaussian jitter, relative.
        jitter: f64,
        /// One sample in `1 / outliers` is interrupted ...
        outliers: f64,
        /// ... and lasts up to this many times longer.
        worst: f64,
    }

    /// A cell of many short samples (a fused call, ~10 µs a sample): an
    /// interruption can cover a whole sample and make it several times
    /// longer.
    const SHORT_SAMPLES: Shape = Shape {
        jitter: 0.03,
        outliers: 0.05,
        worst: 4.0,
    };

    /// A cell of few long samples (a wRPC loop, ~30 ms a sample, 200 calls
    /// averaged): an interruption is a fraction of a sample.
    const LONG_SAMPLES: Shape = Shape {
        jitter: 0.03,
        outliers: 0.10,
        worst: 1.3,
    };

    /// The cells `weld bench` takes: at least ten long samples, up to
    /// ten thousand short ones.
    const CASES: [(usize, Shape); 4] = [
        (10, LONG_SAMPLES),
        (25, LONG_SAMPLES),
        (60, SHORT_SAMPLES),
        (250, SHORT_SAMPLES),
    ];
    const TRIALS: u64 = 25;

    fn synthetic(rng: &mut fastrand::Rng, base: f64, n: usize, shape: Shape) -> Vec<f64> {
        (0..n)
            .map(|_| {
                // Box–Muller.
                let (u, v) = (rng.f64().max(f64::MIN_POSITIVE), rng.f64());
                let z = (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos();
                let x = base * (1.0 + shape.jitter * z);
                if rng.f64() < shape.outliers {
                    x * (1.0 + (shape.worst - 1.0) * rng.f64())
                } else {
                    x
                }
            })
            .collect()
    }

    #[test]
    fn identical_distributions_are_never_a_regression_at_the_default_threshold() {
        for (n, shape) in CASES {
            for trial in 0..TRIALS {
                let mut rng = fastrand::Rng::with_seed(trial * 7919 + n as u64);
                let then = synthetic(&mut rng, 300.0, n, shape);
                let now = synthetic(&mut rng, 300.0, n, shape);
                let c = compare(&then, &now, RESAMPLES, SEED).unwrap();
                let v = Verdict::of(&c, 0.10);
                assert_eq!(v, Verdict::NoChange, "n={n} trial={trial}: {c:?}");
            }
        }
    }

    #[test]
    fn a_doubling_is_always_flagged() {
        for (n, shape) in CASES {
            for trial in 0..TRIALS {
                let mut rng = fastrand::Rng::with_seed(trial * 104_729 + n as u64);
                let then = synthetic(&mut rng, 300.0, n, shape);
                let now = synthetic(&mut rng, 600.0, n, shape);
                let c = compare(&then, &now, RESAMPLES, SEED).unwrap();
                assert_eq!(
                    Verdict::of(&c, 0.10),
                    Verdict::Regressed,
                    "n={n} trial={trial}: {c:?}"
                );
                // And the other way round is an improvement.
                let back = compare(&now, &then, RESAMPLES, SEED).unwrap();
                assert_eq!(Verdict::of(&back, 0.10), Verdict::Improved, "{back:?}");
            }
        }
    }

    /// The limit, stated: with five samples, one interrupted baseline
    /// sample makes a doubling uncertain, and the interval says so rather
    /// than guessing (hence at least ten samples a cell).
    #[test]
    fn five_samples_with_an_interrupted_one_cannot_tell() {
        let then = [300.0, 302.0, 298.0, 301.0, 1000.0];
        let now = [600.0, 610.0, 590.0, 605.0, 598.0];
        let c = compare(&then, &now, RESAMPLES, SEED).unwrap();
        assert!((c.ratio - 2.0).abs() < 0.05, "{c:?}");
        assert!(c.ci.0 < 1.0, "{c:?}");
        assert_eq!(Verdict::of(&c, 0.10), Verdict::NoChange);
    }

    /// The interval means what it says: with no threshold, identical
    /// distributions are flagged about as often as the 2.5 % of each tail.
    #[test]
    fn the_interval_covers_no_change_about_95_percent_of_the_time() {
        let mut flagged = 0;
        let trials = 200;
        for trial in 0..trials {
            let mut rng = fastrand::Rng::with_seed(trial);
            let then = synthetic(&mut rng, 300.0, 60, SHORT_SAMPLES);
            let now = synthetic(&mut rng, 300.0, 60, SHORT_SAMPLES);
            let c = compare(&then, &now, 500, SEED).unwrap();
            if Verdict::of(&c, 0.0) != Verdict::NoChange {
                flagged += 1;
            }
        }
        // 5 % expected (10 of 200); the percentile bootstrap of a median is
        // a little liberal for small samples.
        assert!(flagged <= 25, "{flagged} of {trials}");
    }

    #[test]
    fn a_comparison_is_reproducible() {
        let mut rng = fastrand::Rng::with_seed(1);
        let then = synthetic(&mut rng, 100.0, 50, SHORT_SAMPLES);
        let now = synthetic(&mut rng, 104.0, 50, SHORT_SAMPLES);
        let a = compare(&then, &now, RESAMPLES, SEED).unwrap();
        let b = compare(&then, &now, RESAMPLES, SEED).unwrap();
        assert_eq!(a, b);
        assert!(a.ci.0 <= a.ratio && a.ratio <= a.ci.1, "{a:?}");
    }

    #[test]
    fn medians_and_edges() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 3.0);
        assert!(median(&[]).is_nan());
        assert_eq!(compare(&[], &[1.0], 10, 0), None);
        let c = compare(&[2.0], &[2.0], 10, 0).unwrap();
        assert_eq!((c.ratio, c.ci), (1.0, (1.0, 1.0)));
        assert_eq!(Verdict::of(&c, 0.1), Verdict::NoChange);
    }
}
