//! Charts as inline SVG, drawn with plotters (SVG text needs no fonts installed).
//!
//! Time charts share one x axis (seconds since the run started) and mark the stage
//! boundaries; long runs are reduced to at most [`MAX_POINTS`] points per line,
//! keeping each bucket's maximum for latency so a spike is never averaged away.
//! Every line lies inside its plot area (the y range has headroom over the
//! largest value); legends are drawn by the page, outside the data
//! ([`legend`]); each line carries up to [`HOVER_POINTS`] invisible targets whose
//! SVG `<title>` shows the exact value on hover, without script; log axes label
//! every decade.

use plotters::coord::combinators::BindKeyPoints;
use plotters::prelude::*;

/// Points per line above which a series is reduced.
pub const MAX_POINTS: usize = 1200;
/// Hover targets per line (each a few dozen bytes of SVG).
pub const HOVER_POINTS: usize = 120;

/// Chart size in pixels.
const WIDTH: u32 = 860;
const HEIGHT: u32 = 280;

/// Colours of successive lines.
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// One line of a chart.
pub struct Line {
    /// The legend's name.
    pub name: String,
    /// (x, y) points, x ascending.
    pub points: Vec<(f64, f64)>,
    /// The line's colour.
    pub color: RGBColor,
}

/// How a long series is reduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    /// The mean of the points merged.
    Mean,
    /// The largest of the points merged (peaks stay visible).
    Max,
}

/// A legend entry: a line's name and its colour as CSS.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LegendEntry {
    /// The line's name.
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
}

/// The legend of `lines`, for the page to draw beside the chart.
pub fn legend(lines: &[Line]) -> Vec<LegendEntry> {
    lines
        .iter()
        .map(|l| LegendEntry {
            name: l.name.clone(),
            color: format!("#{:02x}{:02x}{:02x}", l.color.0, l.color.1, l.color.2),
        })
        .collect()
}

/// A number as people read it on a chart: "1,234", "12.5", "0.042".
fn value_text(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Invisible circles over (up to [`HOVER_POINTS`] of) a line's points, each with
/// a `<title>`: `name: y unit at x`.
fn hover_targets(
    line: &Line,
    to_pixel: &dyn Fn((f64, f64)) -> (i32, i32),
    x_text: &dyn Fn(f64) -> String,
    unit: &str,
) -> String {
    let mut out = String::new();
    for (x, y) in reduce(&line.points, HOVER_POINTS, Reduce::Max) {
        let (px, py) = to_pixel((x, y));
        out.push_str(&format!(
            "<circle cx=\"{px}\" cy=\"{py}\" r=\"5\" fill=\"transparent\"><title>{}: {} {} at {}</title></circle>",
            escape(&line.name),
            value_text(y),
            escape(unit),
            x_text(x)
        ));
    }
    out
}

/// The plot area's rectangle (invisible): where every series (the 2 px lines)
/// must lie, for tests and for anyone checking the page's geometry.
fn plot_area_rect(x: std::ops::Range<i32>, y: std::ops::Range<i32>) -> String {
    format!(
        "<rect class=\"plot-area\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"none\"/>",
        x.start,
        y.start,
        x.end - x.start,
        y.end - y.start
    )
}

/// `svg` with `extra` elements added before its end.
fn with_extra(mut svg: String, extra: &str) -> String {
    if let Some(end) = svg.rfind("</svg>") {
        svg.insert_str(end, &format!("<g class=\"hover\">{extra}</g>"));
    }
    svg
}

/// At most `max` points: buckets of consecutive points, each to its mean or max.
pub fn reduce(points: &[(f64, f64)], max: usize, how: Reduce) -> Vec<(f64, f64)> {
    if points.len() <= max || max == 0 {
        return points.to_vec();
    }
    let per = points.len().div_ceil(max);
    points
        .chunks(per)
        .map(|c| {
            let x = c[0].0;
            let y = match how {
                Reduce::Mean => c.iter().map(|p| p.1).sum::<f64>() / c.len() as f64,
                Reduce::Max => c.iter().map(|p| p.1).fold(f64::MIN, f64::max),
            };
            (x, y)
        })
        .collect()
}

fn nice_max(v: f64) -> f64 {
    if v.is_nan() || v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if v * 1.05 <= step * magnitude {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn draw_error(e: impl std::fmt::Display) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"40\"><text x=\"10\" y=\"25\">chart failed: {}</text></svg>",
        escape(&e.to_string())
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A time chart: lines over seconds since start, with vertical stage markers.
pub fn time_chart(
    title: &str,
    y_label: &str,
    lines: &[Line],
    markers: &[(f64, String)],
    x_max: f64,
) -> String {
    let y_max = nice_max(
        lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .fold(0.0, f64::max),
    );
    let x_max = x_max.max(1.0);
    let mut svg = String::new();
    let mut hover = String::new();
    let result: Result<(), Box<dyn std::error::Error>> = (|| {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
        chart
            .configure_mesh()
            .x_desc("seconds since start")
            .y_desc(y_label)
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        for (x, label) in markers {
            let style = ShapeStyle::from(&RGBColor(120, 120, 120)).stroke_width(1);
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(*x, 0.0), (*x, y_max)],
                style,
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                label.clone(),
                (*x + x_max * 0.005, y_max * 0.97),
                ("sans-serif", 11).into_font().color(&RGBColor(90, 90, 90)),
            )))?;
        }
        for line in lines {
            chart.draw_series(LineSeries::new(
                line.points.iter().copied(),
                line.color.stroke_width(2),
            ))?;
            let to_pixel = |p: (f64, f64)| chart.backend_coord(&p);
            let x_text = |x: f64| format!("{x:.0} s");
            hover.push_str(&hover_targets(line, &to_pixel, &x_text, y_label));
        }
        let (px, py) = chart.plotting_area().get_pixel_range();
        hover.push_str(&plot_area_rect(px, py));
        root.present()?;
        Ok(())
    })();
    match result {
        Ok(()) => with_extra(svg, &hover),
        Err(e) => draw_error(e),
    }
}

/// Decades (and 2 and 5 times each when the range spans three decades or
/// fewer) between `lo` and `hi`: the labelled ticks of a log axis.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (first, last) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let steps: &[f64] = if last - first <= 3 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    (first..=last)
        .flat_map(|d| steps.iter().map(move |s| s * 10f64.powi(d)))
        .filter(|v| *v >= lo && *v <= hi)
        .collect()
}

/// x position of a percentile on the "nines" scale: 0%->0, 90%->1, 99%->2, 99.9%->3.
pub fn nines(percentile: f64) -> f64 {
    -(1.0 - (percentile / 100.0).min(0.999_999)).log10()
}

/// A latency distribution: latency (log scale) against percentile ("nines" scale).
pub fn percentile_chart(title: &str, lines: &[Line]) -> String {
    let values = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .filter(|v| *v > 0.0);
    let (mut lo, mut hi) = values.fold((f64::MAX, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo == f64::MAX || hi.is_nan() || hi <= 0.0 {
        lo = 0.1;
        hi = 1.0;
    }
    let (lo, hi) = (lo * 0.8, hi * 1.25);
    let x_max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .fold(2.0, f64::max)
        .ceil();
    let mut svg = String::new();
    let mut hover = String::new();
    let result: Result<(), Box<dyn std::error::Error>> = (|| {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT + 40)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(64)
            .build_cartesian_2d(
                0f64..x_max,
                (lo..hi).log_scale().with_key_points(log_ticks(lo, hi)),
            )?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("latency (ms, log scale)")
            .x_labels(x_max as usize + 1)
            .x_label_formatter(&|x| format!("{}%", percentile_text(*x)))
            .y_label_formatter(&|y| {
                if *y >= 1.0 {
                    format!("{y:.0}")
                } else {
                    let text = format!("{y:.3}");
                    text.trim_end_matches('0').to_string()
                }
            })
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        for line in lines {
            let points: Vec<(f64, f64)> =
                line.points.iter().copied().filter(|p| p.1 > 0.0).collect();
            chart.draw_series(LineSeries::new(
                points.iter().copied(),
                line.color.stroke_width(2),
            ))?;
            let positive = Line {
                name: line.name.clone(),
                points,
                color: line.color,
            };
            let to_pixel = |p: (f64, f64)| chart.backend_coord(&p);
            let x_text = |x: f64| format!("p{}", percentile_text(x));
            hover.push_str(&hover_targets(&positive, &to_pixel, &x_text, "ms"));
        }
        let (px, py) = chart.plotting_area().get_pixel_range();
        hover.push_str(&plot_area_rect(px, py));
        root.present()?;
        Ok(())
    })();
    match result {
        Ok(()) => with_extra(svg, &hover),
        Err(e) => draw_error(e),
    }
}

/// A position on the "nines" scale as a percentile: 1 -> "90", 2 -> "99".
fn percentile_text(x: f64) -> String {
    let p = 100.0 * (1.0 - 10f64.powf(-x));
    let text = format!("{p:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduction_keeps_spikes_with_max() {
        let mut points: Vec<(f64, f64)> = (0..10_000).map(|i| (i as f64, 1.0)).collect();
        points[5_000].1 = 900.0;
        let reduced = reduce(&points, 1000, Reduce::Max);
        assert!(reduced.len() <= 1000);
        assert!(reduced.iter().any(|p| p.1 == 900.0));
        let mean = reduce(&points, 1000, Reduce::Mean);
        assert!(mean.iter().all(|p| p.1 < 900.0));
    }

    #[test]
    fn charts_are_svg_with_their_title() {
        let svg = time_chart(
            "Throughput",
            "req/s",
            &[Line {
                name: "requests".into(),
                points: vec![(0.0, 1.0), (1.0, 5.0), (2.0, 3.0)],
                color: PALETTE[0],
            }],
            &[(1.0, "steady".into())],
            2.0,
        );
        assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
        assert!(svg.contains("Throughput"));
        assert!(svg.contains("steady"));
        let p = percentile_chart(
            "Latency",
            &[Line {
                name: "health".into(),
                points: vec![(0.0, 1.0), (1.0, 2.0), (2.0, 10.0)],
                color: PALETTE[1],
            }],
        );
        assert!(p.contains("<svg") && p.contains("99%"), "{p}");
    }

    /// Points of a line, and a rectangle (left, top, right, bottom), in pixels.
    type Points = Vec<(f64, f64)>;
    type Rect = (f64, f64, f64, f64);

    /// Every series' points (the 2 px polylines: ticks and the mesh are 1 px, and
    /// ticks sit outside the plot area), and the plot area's rectangle, of a chart.
    fn geometry(svg: &str) -> (Vec<Points>, Rect) {
        let attr = |tag: &str, name: &str| -> f64 {
            let at = tag.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
            tag[at..at + tag[at..].find('"').unwrap()].parse().unwrap()
        };
        let rect = svg
            .split("<rect class=\"plot-area\"")
            .nth(1)
            .expect("a plot area");
        let (x, y) = (attr(rect, "x"), attr(rect, "y"));
        let area = (x, y, x + attr(rect, "width"), y + attr(rect, "height"));
        let lines = svg
            .split("<polyline")
            .skip(1)
            .filter(|p| p[..p.find("points=").unwrap()].contains("stroke-width=\"2\""))
            .map(|p| {
                let at = p.find("points=\"").unwrap() + 8;
                p[at..at + p[at..].find('"').unwrap()]
                    .split_whitespace()
                    .map(|xy| {
                        let (x, y) = xy.split_once(',').unwrap();
                        (x.parse().unwrap(), y.parse().unwrap())
                    })
                    .collect()
            })
            .collect();
        (lines, area)
    }

    fn inside(svg: &str) {
        let (lines, (x0, y0, x1, y1)) = geometry(svg);
        assert!(!lines.is_empty());
        for line in lines {
            for (x, y) in line {
                assert!(
                    x >= x0 - 1.0 && x <= x1 + 1.0 && y >= y0 - 1.0 && y <= y1 + 1.0,
                    "({x}, {y}) outside the plot area ({x0}, {y0})-({x1}, {y1})"
                );
            }
        }
    }

    #[test]
    fn every_line_lies_inside_its_plot_area_with_hover_values() {
        let spiky = Line {
            name: "p99".into(),
            points: (0..500)
                .map(|i| (i as f64, if i == 250 { 98_765.0 } else { 3.0 }))
                .collect(),
            color: PALETTE[3],
        };
        let svg = time_chart(
            "Latency",
            "ms",
            &[spiky],
            &[(100.0, "steady".into())],
            499.0,
        );
        inside(&svg);
        assert!(
            svg.contains("<title>p99: 98765 ms at 250 s</title>"),
            "the spike's value on hover"
        );
        assert!(!svg.contains(">p99</text>"), "no legend inside the chart");
        let slow = Line {
            name: "plan_status".into(),
            points: vec![(0.0, 0.4), (1.0, 12.0), (2.0, 950.0), (3.0, 31_000.0)],
            color: PALETTE[0],
        };
        let svg = percentile_chart("Latency distribution", &[slow]);
        inside(&svg);
        let labels: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .map(|t| t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()].trim())
            .collect();
        for decade in ["1", "10", "100", "1000", "10000"] {
            assert!(
                labels.contains(&decade),
                "decade {decade} labelled: {labels:?}"
            );
        }
        assert!(
            svg.contains("<title>plan_status: 31000 ms at p99.9</title>"),
            "{svg}"
        );
    }

    #[test]
    fn log_ticks_label_every_decade() {
        assert_eq!(
            log_ticks(0.3, 40_000.0),
            vec![1.0, 10.0, 100.0, 1000.0, 10_000.0]
        );
        assert_eq!(log_ticks(0.8, 30.0), vec![1.0, 2.0, 5.0, 10.0, 20.0]);
    }

    #[test]
    fn nines_scale() {
        assert_eq!(nines(0.0), 0.0);
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
    }
}
