//! A run compared with a baseline, cell by cell, and the reports of it
//! (text, Markdown, JSON).

use super::baseline::{Baseline, Difference};
use super::stats::{self, Change, Verdict};
use crate::matrix::Row;
use serde::Serialize;
use std::fmt::Write as _;
use weld_linker::cost::format_ns;
use weld_linker::diagnostic::one_line;

/// One cell's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct CellReport {
    /// The payload (invocation label).
    pub payload: String,
    /// The series name.
    pub series: String,
    /// The verdict.
    pub verdict: Verdict,
    /// For `missing`: the side without the cell (`baseline` or `now`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_in: Option<&'static str>,
    /// Median of the baseline's samples.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_ns: Option<f64>,
    /// Median of this run's samples.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub now_ns: Option<f64>,
    /// `now / baseline`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    /// The change in percent (`+12.5`: slower).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_pct: Option<f64>,
    /// The confidence interval of the change, in percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci_pct: Option<[f64; 2]>,
    /// Samples on each side.
    pub samples: [usize; 2],
}

/// A run compared with a baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The threshold, in percent.
    pub threshold_pct: f64,
    /// The interval's confidence (0.95).
    pub confidence: f64,
    /// Bootstrap resamples per cell.
    pub resamples: usize,
    /// How the circumstances differ from the baseline's.
    pub differences: Vec<Difference>,
    /// Every cell of either run: this run's order, then the baseline's
    /// cells this run lacks.
    pub cells: Vec<CellReport>,
}

/// Compares every cell of `rows` with the same cell (payload and series)
/// of `baseline`, at `threshold_pct`.
pub fn compare(
    baseline: &Baseline,
    rows: &[Row],
    threshold_pct: f64,
    differences: Vec<Difference>,
) -> Report {
    let mut cells = Vec::new();
    for r in rows {
        let now_ns = Some(r.ns_per_call);
        let Some(then) = baseline.cell(&r.payload, &r.series) else {
            cells.push(CellReport {
                payload: r.payload.clone(),
                series: r.series.clone(),
                verdict: Verdict::Missing,
                missing_in: Some("baseline"),
                baseline_ns: None,
                now_ns,
                ratio: None,
                change_pct: None,
                ci_pct: None,
                samples: [0, r.times.len()],
            });
            continue;
        };
        let change = stats::compare(&then.samples_ns, &r.times, stats::RESAMPLES, stats::SEED)
            .expect("both sides have samples: checked when read and measured");
        cells.push(cell(
            &r.payload,
            &r.series,
            &change,
            threshold_pct,
            [then.samples_ns.len(), r.times.len()],
        ));
    }
    for c in &baseline.cells {
        if !rows
            .iter()
            .any(|r| r.payload == c.payload && r.series == c.series)
        {
            cells.push(CellReport {
                payload: c.payload.clone(),
                series: c.series.clone(),
                verdict: Verdict::Missing,
                missing_in: Some("now"),
                baseline_ns: Some(stats::median(&c.samples_ns)),
                now_ns: None,
                ratio: None,
                change_pct: None,
                ci_pct: None,
                samples: [c.samples_ns.len(), 0],
            });
        }
    }
    Report {
        threshold_pct,
        confidence: stats::CONFIDENCE,
        resamples: stats::RESAMPLES,
        differences,
        cells,
    }
}

fn cell(
    payload: &str,
    series: &str,
    change: &Change,
    threshold_pct: f64,
    samples: [usize; 2],
) -> CellReport {
    let pct = |r: f64| (r - 1.0) * 100.0;
    CellReport {
        payload: payload.to_string(),
        series: series.to_string(),
        verdict: Verdict::of(change, threshold_pct / 100.0),
        missing_in: None,
        baseline_ns: Some(change.then_ns),
        now_ns: Some(change.now_ns),
        ratio: Some(change.ratio),
        change_pct: Some(pct(change.ratio)),
        ci_pct: Some([pct(change.ci.0), pct(change.ci.1)]),
        samples,
    }
}

impl Report {
    /// The cells of one verdict.
    pub fn with(&self, verdict: Verdict) -> impl Iterator<Item = &CellReport> {
        self.cells.iter().filter(move |c| c.verdict == verdict)
    }

    /// Whether a cell regressed (exit status 3).
    pub fn regressed(&self) -> bool {
        self.with(Verdict::Regressed).next().is_some()
    }

    /// One line: how many cells of each verdict, and the regressed ones.
    pub fn summary(&self) -> String {
        let n = |v| self.with(v).count();
        let mut s = format!(
            "{} regressed beyond +{}%, {} improved, {} no change, {} missing",
            n(Verdict::Regressed),
            self.threshold_pct,
            n(Verdict::Improved),
            n(Verdict::NoChange),
            n(Verdict::Missing),
        );
        let regressed: Vec<String> = self
            .with(Verdict::Regressed)
            .map(|c| {
                format!(
                    "`{}` / `{}` {}",
                    one_line(&c.payload),
                    one_line(&c.series),
                    signed_pct(c.change_pct.unwrap_or(0.0))
                )
            })
            .collect();
        if !regressed.is_empty() {
            let _ = write!(s, ": {}", regressed.join(", "));
        }
        s
    }

    fn columns(c: &CellReport) -> [String; 6] {
        let ns = |x: Option<f64>| x.map_or("-".into(), format_ns);
        let verdict = match c.missing_in {
            Some(side) => format!("missing ({side})"),
            None => c.verdict.as_str().to_string(),
        };
        [
            ns(c.baseline_ns),
            ns(c.now_ns),
            c.change_pct.map_or("-".into(), signed_pct),
            c.ci_pct.map_or("-".into(), |[lo, hi]| {
                format!("{} … {}", signed_pct(lo), signed_pct(hi))
            }),
            c.samples
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(" / "),
            verdict,
        ]
    }

    /// An aligned table for a terminal, then the summary.
    pub fn to_text(&self) -> String {
        let mut table = comfy_table::Table::new();
        table
            .load_preset(comfy_table::presets::NOTHING)
            .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
            .set_header([
                "PAYLOAD", "SERIES", "BASELINE", "NOW", "CHANGE", "95% CI", "SAMPLES", "VERDICT",
            ]);
        for c in &self.cells {
            let [a, b, d, e, f, g] = Self::columns(c);
            // Names come from a baseline file: shown with their control
            // characters escaped, so a file cannot drive the terminal.
            table.add_row([
                one_line(&c.payload).into_owned(),
                one_line(&c.series).into_owned(),
                a,
                b,
                d,
                e,
                f,
                g,
            ]);
        }
        for column in table.column_iter_mut() {
            column.set_padding((0, 2));
        }
        let mut out = String::new();
        for line in table.lines() {
            let _ = writeln!(out, "{}", line.trim_end());
        }
        let _ = writeln!(out, "\n{}", self.summary());
        out
    }

    /// A Markdown table (for a pull request comment), regressions in bold,
    /// then the summary and the differences of circumstances.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from(
            "| payload | series | baseline | now | change | 95% CI | samples | verdict |\n|---|---|---:|---:|---:|---|---:|---|\n",
        );
        for c in &self.cells {
            let [a, b, d, e, f, g] = Self::columns(c);
            let g = if c.verdict == Verdict::Regressed {
                format!("**{g}**")
            } else {
                g
            };
            let _ = writeln!(
                out,
                "| {} | {} | {a} | {b} | {d} | {e} | {f} | {g} |",
                one_line(&c.payload).replace('|', "\\|"),
                one_line(&c.series).replace('|', "\\|")
            );
        }
        let _ = writeln!(out, "\n{}", self.summary());
        if !self.differences.is_empty() {
            out.push_str("\nMeasured in other circumstances than the baseline:\n\n");
            for d in &self.differences {
                let _ = writeln!(out, "- {d}");
            }
        }
        out
    }
}

/// `+12.5%`, `-3.0%`.
fn signed_pct(x: f64) -> String {
    format!("{x:+.1}%")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regress::baseline::{Cell, DeploymentInfo, Environment, FORMAT, VERSION};

    fn baseline(cells: Vec<Cell>) -> Baseline {
        Baseline {
            format: FORMAT.into(),
            version: VERSION,
            created: "2026-11-26T10:00:00Z".into(),
            environment: Environment::current(),
            budget_ms: 100,
            deployment: DeploymentInfo {
                inputs: vec![],
                host: None,
                components: vec![],
            },
            series: vec![],
            cells,
        }
    }

    fn cell(payload: &str, series: &str, samples: Vec<f64>) -> Cell {
        Cell {
            payload: payload.into(),
            series: series.into(),
            calls_per_sample: 1,
            median_ns: stats::median(&samples),
            samples_ns: samples,
        }
    }

    fn spread(base: f64) -> Vec<f64> {
        (0..40)
            .map(|i| base * (1.0 + f64::from(i % 7) / 100.0))
            .collect()
    }

    #[test]
    fn names_from_a_baseline_are_shown_escaped() {
        let b = baseline(vec![cell("x\n\u{1b}[31mFORGED", "s|\r", spread(1.0))]);
        let r = compare(&b, &[], 10.0, vec![]);
        for shown in [r.to_text(), r.to_markdown()] {
            assert!(
                !shown.contains('\u{1b}') && !shown.contains('\r'),
                "{shown}"
            );
            assert!(shown.contains("x\\u{a}\\u{1b}[31mFORGED"), "{shown}");
            assert!(!shown.lines().any(|l| l.starts_with("FORGED")), "{shown}");
        }
    }

    #[test]
    fn cells_are_matched_by_payload_and_series() {
        let b = baseline(vec![
            cell("add", "fused (tuned)", spread(1.3)),
            cell("add", "host-linked (tuned)", spread(300.0)),
            cell("echo", "fused (tuned)", spread(60.0)),
        ]);
        let rows = vec![
            Row::new("add", "fused (tuned)", 1, spread(1.3)),
            Row::new("add", "host-linked (tuned)", 1, spread(600.0)),
            Row::new("sum", "fused (tuned)", 1, spread(50.0)),
        ];
        let r = compare(&b, &rows, 10.0, vec![]);
        let verdicts: Vec<_> = r
            .cells
            .iter()
            .map(|c| {
                (
                    c.payload.as_str(),
                    c.series.as_str(),
                    c.verdict,
                    c.missing_in,
                )
            })
            .collect();
        assert_eq!(
            verdicts,
            [
                ("add", "fused (tuned)", Verdict::NoChange, None),
                ("add", "host-linked (tuned)", Verdict::Regressed, None),
                ("sum", "fused (tuned)", Verdict::Missing, Some("baseline")),
                ("echo", "fused (tuned)", Verdict::Missing, Some("now")),
            ]
        );
        assert!(r.regressed());
        let s = r.summary();
        assert!(
            s.starts_with("1 regressed beyond +10%, 0 improved, 1 no change, 2 missing: `add` / `host-linked (tuned)` +100.0%"),
            "{s}"
        );
        let md = r.to_markdown();
        assert!(
            md.contains("| add | host-linked (tuned) | 309.0 ns | 618.0 ns | +100.0% |"),
            "{md}"
        );
        assert!(md.contains("| **regressed** |"), "{md}");
        let text = r.to_text();
        assert!(
            text.lines().next().unwrap().starts_with("PAYLOAD  SERIES"),
            "{text}"
        );
        assert!(text.contains("missing (now)"), "{text}");
    }
}
