//! `weld bench --svg FILE`: the matrix as a chart, drawn with plotters'
//! SVG backend. One panel per payload; in each, a horizontal bar per
//! series on a shared logarithmic ns/call axis (the figures span six
//! orders of magnitude, from an inlined fused call to a wRPC round trip).
//! With a baseline, each series has two bars: the baseline (pale, above)
//! and now.

use super::baseline::Baseline;
use crate::matrix::Row;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use weld_linker::cost::format_ns;

/// Width of the image, in pixels.
const WIDTH: u32 = 1000;
/// Height of one series' band.
const BAND: u32 = 26;
/// Room for a panel's caption and x axis.
const PANEL_EXTRA: u32 = 62;
/// Room for the title and the legend.
const HEADER: u32 = 46;
/// Room for the series names left of the bars.
const LABELS: u32 = 290;

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// Nothing to draw.
    #[error("no measured cells to draw")]
    Empty,
    /// plotters failed.
    #[error("drawing the chart: {0}")]
    Draw(String),
}

fn draw_err<E: std::fmt::Debug>(e: E) -> ChartError {
    ChartError::Draw(format!("{e:?}"))
}

/// The series' colour: by series, in the order first met, the same in
/// every panel.
fn colour(index: usize) -> RGBColor {
    const COLOURS: [RGBColor; 10] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
    ];
    COLOURS[index % COLOURS.len()]
}

/// The chart of `rows` (and of the same cells of `baseline`) as SVG text.
///
/// # Errors
/// [`ChartError`] when the chart cannot be drawn.
pub fn svg(rows: &[Row], baseline: Option<&Baseline>, title: &str) -> Result<String, ChartError> {
    if rows.is_empty() {
        return Err(ChartError::Empty);
    }
    let mut payloads: Vec<&str> = Vec::new();
    let mut series: Vec<&str> = Vec::new();
    for r in rows {
        if !payloads.contains(&r.payload.as_str()) {
            payloads.push(&r.payload);
        }
        if !series.contains(&r.series.as_str()) {
            series.push(&r.series);
        }
    }
    let then = |r: &Row| {
        baseline
            .and_then(|b| b.cell(&r.payload, &r.series))
            .map(|c| c.median_ns)
    };
    // One x range for every panel, in whole decades, so bars compare
    // across payloads.
    let values = rows
        .iter()
        .flat_map(|r| [Some(r.ns_per_call), then(r)])
        .flatten()
        .filter(|v| v.is_finite() && *v > 0.0);
    let (min, max) = values.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let lo = 10f64.powf(min.log10().floor() - 0.0).max(1e-3);
    let hi = 10f64.powf(max.log10().ceil() + 0.5);
    let bands: Vec<u32> = payloads
        .iter()
        .map(|p| rows.iter().filter(|r| r.payload == *p).count() as u32)
        .collect();
    let height = HEADER + bands.iter().map(|n| n * BAND + PANEL_EXTRA).sum::<u32>();

    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let (head, body) = root.split_vertically(HEADER);
        head.draw(&Text::new(
            title.to_string(),
            (10, 8),
            ("sans-serif", 18).into_font(),
        ))
        .map_err(draw_err)?;
        let legend = if baseline.is_some() {
            "ns per call, median, log scale; pale bar above: baseline, bar below: now"
        } else {
            "ns per call, median, log scale"
        };
        head.draw(&Text::new(legend, (10, 28), ("sans-serif", 13).into_font()))
            .map_err(draw_err)?;
        let mut breaks = Vec::new();
        let mut y = 0;
        for n in &bands[..bands.len() - 1] {
            y += n * BAND + PANEL_EXTRA;
            breaks.push(y);
        }
        let panels = body.split_by_breakpoints::<u32, u32, _, _>([], breaks);
        for (panel, payload) in panels.iter().zip(&payloads) {
            let cells: Vec<&Row> = rows.iter().filter(|r| r.payload == *payload).collect();
            draw_panel(panel, payload, &cells, &series, (lo, hi), &then)?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(out)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// One payload: a bar per series (two with a baseline).
fn draw_panel(
    panel: &Area<'_>,
    payload: &str,
    cells: &[&Row],
    series: &[&str],
    (lo, hi): (f64, f64),
    then: &dyn Fn(&Row) -> Option<f64>,
) -> Result<(), ChartError> {
    let n = cells.len() as f64;
    let mut chart = ChartBuilder::on(panel)
        .caption(payload, ("sans-serif", 15).into_font())
        .margin_left(8)
        .margin_right(24)
        .x_label_area_size(24)
        .y_label_area_size(LABELS)
        .build_cartesian_2d((lo..hi).log_scale(), 0f64..n)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_label_formatter(&|x| tick(*x))
        .x_label_style(("sans-serif", 11).into_font())
        .draw()
        .map_err(draw_err)?;
    let label = ("sans-serif", 12)
        .into_font()
        .into_text_style(panel)
        .pos(Pos::new(HPos::Right, VPos::Center));
    let value = ("sans-serif", 11)
        .into_font()
        .into_text_style(panel)
        .pos(Pos::new(HPos::Left, VPos::Center));
    // The chart maps values to the backend's pixels; texts are drawn on
    // the panel, relative to its corner.
    let (bx, by) = panel.get_base_pixel();
    let at = |(x, y): (i32, i32)| (x - bx, y - by);
    for (i, r) in cells.iter().enumerate() {
        // The first series at the top.
        let y0 = n - 1.0 - i as f64;
        let c = colour(series.iter().position(|s| *s == r.series).unwrap_or(0));
        let baseline = then(r);
        let now_band = if baseline.is_some() {
            (y0 + 0.12, y0 + 0.46)
        } else {
            (y0 + 0.2, y0 + 0.8)
        };
        let mut bars = vec![(r.ns_per_call, now_band, c.filled())];
        if let Some(b) = baseline {
            bars.push((b, (y0 + 0.54, y0 + 0.88), c.mix(0.35).filled()));
        }
        for (v, (a, b), style) in bars {
            chart
                .draw_series(std::iter::once(Rectangle::new([(lo, a), (v, b)], style)))
                .map_err(draw_err)?;
            let (px, py) = at(chart.backend_coord(&(v, (a + b) / 2.0)));
            panel
                .draw(&Text::new(format_ns(v), (px + 4, py), value.clone()))
                .map_err(draw_err)?;
        }
        let (px, py) = at(chart.backend_coord(&(lo, y0 + 0.5)));
        panel
            .draw(&Text::new(r.series.clone(), (px - 6, py), label.clone()))
            .map_err(draw_err)?;
    }
    Ok(())
}

/// An axis label: `format_ns` without trailing zeros (`10 ns`, `1 µs`).
fn tick(ns: f64) -> String {
    let text = format_ns(ns);
    match text.split_once(' ') {
        Some((number, unit)) if number.contains('.') => {
            format!(
                "{} {unit}",
                number.trim_end_matches('0').trim_end_matches('.')
            )
        }
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(10.0), "10 ns");
        assert_eq!(tick(1000.0), "1 µs");
        assert_eq!(tick(2.5e6), "2.5 ms");
    }

    #[test]
    fn nothing_to_draw_is_an_error() {
        assert!(matches!(svg(&[], None, "t"), Err(ChartError::Empty)));
    }

    #[test]
    fn every_series_and_payload_is_named() {
        let rows = vec![
            Row::new("add(u32,u32)", "fused (tuned)", 1, vec![1.3, 1.2]),
            Row::new("add(u32,u32)", "wRPC tcp (loopback)", 1, vec![159_000.0]),
            Row::new("echo 32 B", "fused (tuned)", 1, vec![61.0]),
        ];
        let text = svg(&rows, None, "weld bench").unwrap();
        assert!(text.starts_with("<svg"), "{}", &text[..100]);
        for name in [
            "fused (tuned)",
            "wRPC tcp (loopback)",
            "add(u32,u32)",
            "echo 32 B",
        ] {
            assert!(text.contains(name), "{name}");
        }
    }
}
