//! `loadgen verify`: judges any window on a Prometheus without driving load (a
//! run by another tool, or several workers), and writes `verdicts.json` and
//! `junit.xml` when asked.

use std::path::Path;
use std::time::{Duration, Instant};

use slo::evaluate::{self, Windows};
use slo::prometheus::{Prometheus, PrometheusReader};
use slo::promql::Scope;
use slo::verdict::{Source, Verdicts, Window};

use crate::cli::{VerifyArgs, matchers, parse_time};
use crate::exit::Exit;
use crate::slo_file::SloFile;

/// A `--to` at most this far ahead is waited for; further is refused.
pub const MAX_WAIT_FOR_END: Duration = Duration::from_secs(15 * 60);

/// The scrape interval assumed when Prometheus holds too few `up` samples to learn it.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);

/// Waits until a window ending ahead of now has ended; refuses one too far ahead.
async fn wait_for_end(to_ms: u64) -> Result<(), String> {
    let now = slo::scrape::now_ms();
    if to_ms <= now {
        return Ok(());
    }
    let ahead = Duration::from_millis(to_ms - now);
    if ahead > MAX_WAIT_FOR_END {
        return Err(format!(
            "--to is {} s ahead: a window can only be judged once it has ended (wait, or give an earlier --to)",
            ahead.as_secs()
        ));
    }
    eprintln!("waiting {} s for the window to end", ahead.as_secs());
    tokio::time::sleep(ahead).await;
    Ok(())
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
    let file = SloFile::given(args.slo.as_deref());
    let loaded = match file.load() {
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
    let scope = Scope {
        jobs: loaded.set.services.clone(),
        extra: matchers(&args.matchers).map_err(anyhow::Error::msg)?,
    };
    let started = Instant::now();
    let (mut reader, pinned) =
        PrometheusReader::pinned(prometheus, scope, DEFAULT_INTERVAL, windows).await;
    // A window named by hand may sit amid other traffic: what lies between a
    // scrape and its edge is not known to be the window's (unless the user says so).
    reader.bounded_edges = !args.edges_quiet;
    let (whole, steady) = match pinned {
        Ok(()) => evaluate::judge_windows(&loaded.set, &reader, windows, Default::default()).await,
        Err(e) => {
            warnings.push(e.to_string());
            let note = format!("{e}: the window's last events may be missing");
            evaluate::judge_undecided(
                &loaded.set,
                windows,
                Source::Prometheus,
                &note,
                Default::default(),
            )
        }
    };
    let evaluation_ms = started.elapsed().as_secs_f64() * 1000.0;
    let alerts = slo::rules::replay::replay(
        &loaded.set,
        &reader.prometheus,
        windows.whole,
        reader.interval,
    )
    .await;
    let verdicts = Verdicts {
        source: Source::Prometheus,
        slo_set: format!("{} ({file})", loaded.set.name),
        whole,
        steady,
        whole_window: windows.whole,
        steady_window: windows.steady,
        evaluation_ms,
        warnings,
        cross_check: None,
        alerts: Some(alerts),
        server_funnel: Vec::new(),
        clock: None,
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
    if let Err(e) = matchers(&args.matchers) {
        eprintln!("error: {e}");
        return Exit::Usage;
    }
    if let Err(e) = wait_for_end(windows.whole.end_ms).await {
        eprintln!("error: {e}");
        return Exit::Usage;
    }
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
