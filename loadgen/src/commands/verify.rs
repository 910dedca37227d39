//! `loadgen verify`: judges any window on a Prometheus without driving load (a
//! run by another tool, or several workers), and writes `verdicts.json` and
//! `junit.xml` when asked.

use std::path::Path;
use std::time::Instant;

use slo::evaluate::{self, Windows};
use slo::prometheus::{Prometheus, PrometheusReader};
use slo::verdict::{Source, Verdicts, Window};

use crate::cli::VerifyArgs;
use crate::exit::Exit;

/// A point in time on the command line: unix seconds or milliseconds, or RFC 3339.
pub fn parse_time(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if let Ok(n) = t.parse::<f64>() {
        // Seconds before the year 2286, else milliseconds.
        return Ok(if n < 1e10 {
            (n * 1000.0).round() as u64
        } else {
            n.round() as u64
        });
    }
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.timestamp_millis().max(0) as u64)
        .map_err(|_| format!("{t:?} is not a time: use unix seconds (1700000000), milliseconds or RFC 3339 (2026-11-27T10:00:00Z)"))
}

/// The windows the arguments name.
fn windows(args: &VerifyArgs) -> Result<Windows, String> {
    let from = parse_time(&args.from)?;
    let to = parse_time(&args.to)?;
    if from >= to {
        return Err(format!(
            "--from {} is not before --to {}",
            args.from, args.to
        ));
    }
    let steady = match &args.steady_from {
        Some(a) => Some(Window {
            start_ms: parse_time(a)?,
            end_ms: parse_time(args.steady_to.as_deref().unwrap_or(&args.to))?,
        }),
        None => None,
    };
    Ok(Windows {
        whole: Window {
            start_ms: from,
            end_ms: to,
        },
        steady,
    })
}

/// Writes `verdicts.json` and `junit.xml` into `out`.
fn write(out: &Path, verdicts: &Verdicts, set_name: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    reports::summary::write_json(&out.join("verdicts.json"), verdicts)?;
    std::fs::write(
        out.join("junit.xml"),
        reports::junit::render(verdicts, set_name),
    )?;
    eprintln!("verdicts written to {}", out.display());
    Ok(())
}

/// Judges the windows on the Prometheus.
async fn judge(args: &VerifyArgs, windows: Windows) -> anyhow::Result<Exit> {
    let loaded = match crate::judge::load_slo(&args.slo) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return Ok(Exit::Usage);
        }
    };
    let prometheus = Prometheus::new(&args.prometheus)?;
    let mut warnings = Vec::new();
    if !prometheus.ready().await {
        warnings.push(format!(
            "Prometheus at {} is not reachable or not ready",
            args.prometheus
        ));
    }
    let reader = PrometheusReader {
        prometheus,
        services: loaded.set.services.clone(),
    };
    let started = Instant::now();
    let (whole, steady) = evaluate::judge_windows(&loaded.set, &reader, windows, None).await;
    let verdicts = Verdicts {
        source: Source::Prometheus,
        slo_set: format!("{} ({})", loaded.set.name, args.slo.display()),
        whole,
        steady,
        whole_window: windows.whole,
        steady_window: windows.steady,
        evaluation_ms: started.elapsed().as_secs_f64() * 1000.0,
        warnings,
        cross_check: None,
    };
    print!("{}", crate::printer::verdict_table(&verdicts));
    if let Some(out) = &args.out {
        write(out, &verdicts, &loaded.set.name)?;
    }
    Ok(Exit::of(verdicts.overall()))
}

/// `loadgen verify`.
pub async fn command(args: &VerifyArgs) -> Exit {
    let windows = match windows(args) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    judge(args, windows).await.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        Exit::Inconclusive
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_three_forms() {
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000_000);
        assert_eq!(parse_time("1700000000123").unwrap(), 1_700_000_000_123);
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        assert!(parse_time("yesterday").is_err());
    }
}
