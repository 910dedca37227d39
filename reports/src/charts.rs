//! Charts as inline SVG, drawn with plotters (SVG text needs no fonts installed).
//!
//! Time charts share one x axis (seconds since the run started) and mark the stage
//! boundaries; long runs are reduced to at most [`MAX_POINTS`] points per line,
//! keeping each bucket's maximum for latency so a spike is never averaged away.

use plotters::prelude::*;

/// Points per line above which a series is reduced.
pub const MAX_POINTS: usize = 1200;

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
            let color = line.color;
            chart
                .draw_series(LineSeries::new(
                    line.points.iter().copied(),
                    color.stroke_width(2),
                ))?
                .label(line.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        if lines.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .draw()?;
        }
        root.present()?;
        Ok(())
    })();
    match result {
        Ok(()) => svg,
        Err(e) => draw_error(e),
    }
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
    let result: Result<(), Box<dyn std::error::Error>> = (|| {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT + 40)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..x_max, (lo..hi).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("latency (ms, log scale)")
            .x_labels(x_max as usize + 1)
            .x_label_formatter(&|x| {
                let p = 100.0 * (1.0 - 10f64.powf(-x));
                let text = format!("{p:.4}");
                format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
            })
            .y_label_formatter(&|y| {
                if *y >= 100.0 {
                    format!("{y:.0}")
                } else if *y >= 1.0 {
                    format!("{y:.1}")
                } else {
                    format!("{y:.3}")
                }
            })
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        for line in lines {
            let color = line.color;
            let points: Vec<(f64, f64)> =
                line.points.iter().copied().filter(|p| p.1 > 0.0).collect();
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(line.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .draw()?;
        root.present()?;
        Ok(())
    })();
    match result {
        Ok(()) => svg,
        Err(e) => draw_error(e),
    }
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

    #[test]
    fn nines_scale() {
        assert_eq!(nines(0.0), 0.0);
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
    }
}
