//! HdrHistogram V2 interval logs: how a run's latency histograms are saved, so they
//! can be merged across workers and read by the standard HdrHistogram tools
//! (`HistogramLogProcessor` and friends).
//!
//! Values are microseconds. [`LogWriter`] streams intervals to a file from its own
//! thread as the run goes (memory stays bounded however long the run);
//! each interval reaches the file when it is written, so a process killed mid-run
//! leaves a valid log up to its last slice; [`read_log`] reads a log back and [`merge_by_tag`] adds up its intervals.

use std::collections::BTreeMap;
use std::io::{LineWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};

/// Highest latency recorded, in microseconds (one hour); longer values are clamped.
pub const MAX_MICROS: u64 = 3_600_000_000;
/// Significant digits: 3 keeps every value within 0.1%.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// An empty histogram with the project's range and precision.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, SIGNIFICANT_DIGITS).expect("valid bounds")
}

/// One interval of a log.
#[derive(Debug, Clone)]
pub struct Interval {
    /// The tag (`req.<name>`, `flow.<name>`), when tagged.
    pub tag: Option<String>,
    /// Offset from the log's start time.
    pub start: Duration,
    /// Its length.
    pub duration: Duration,
    /// The values recorded in it, microseconds.
    pub histogram: Histogram<u64>,
}

struct Entry {
    tag: String,
    start: Duration,
    duration: Duration,
    histogram: Histogram<u64>,
}

/// Streams intervals to a log file from a background thread.
pub struct LogWriter {
    tx: Option<mpsc::Sender<Entry>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
    path: PathBuf,
}

impl LogWriter {
    /// Creates the file and writes the header; intervals are offsets from `start`.
    pub fn create(path: &Path, start: SystemTime, comment: &str) -> std::io::Result<LogWriter> {
        let file = std::fs::File::create(path)?;
        let (tx, rx) = mpsc::channel::<Entry>();
        let comment = comment.to_string();
        let thread = std::thread::Builder::new()
            .name("hdr-log".into())
            .spawn(move || {
                // A line per interval, written as it comes: a worker killed mid-run
                // loses at most the slice it was writing.
                let mut out = LineWriter::with_capacity(1 << 20, file);
                let mut serializer = V2DeflateSerializer::new();
                {
                    let mut writer = IntervalLogWriterBuilder::new()
                        .add_comment(&comment)
                        .with_start_time(start)
                        .with_base_time(start)
                        .with_max_value_divisor(1000.0)
                        .begin_log_with(&mut out, &mut serializer)?;
                    for entry in rx {
                        writer
                            .write_histogram(
                                &entry.histogram,
                                entry.start,
                                entry.duration,
                                Tag::new(&entry.tag),
                            )
                            .map_err(|e| std::io::Error::other(e.to_string()))?;
                    }
                }
                out.flush()
            })?;
        Ok(LogWriter {
            tx: Some(tx),
            thread: Some(thread),
            path: path.to_path_buf(),
        })
    }

    /// Queues one interval. `tag` must not contain `,` or whitespace.
    pub fn write(&self, tag: &str, histogram: Histogram<u64>, start: Duration, duration: Duration) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Entry {
                tag: tag.to_string(),
                start,
                duration,
                histogram,
            });
        }
    }

    /// Writes what is queued and closes the file.
    pub fn finish(mut self) -> std::io::Result<PathBuf> {
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            thread
                .join()
                .map_err(|_| std::io::Error::other("the log writer panicked"))??;
        }
        Ok(self.path.clone())
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Writes a whole log at once.
pub fn write_log(
    path: &Path,
    start: SystemTime,
    comment: &str,
    intervals: &[Interval],
) -> std::io::Result<()> {
    let writer = LogWriter::create(path, start, comment)?;
    for i in intervals {
        writer.write(
            i.tag.as_deref().unwrap_or(""),
            i.histogram.clone(),
            i.start,
            i.duration,
        );
    }
    writer.finish().map(|_| ())
}

/// Reads every interval of a log.
pub fn read_log(path: &Path) -> std::io::Result<Vec<Interval>> {
    read_log_with_start(path).map(|(_, intervals)| intervals)
}

/// Reads a log's start time (`#[StartTime: ...]`) and every complete interval:
/// a line cut short by a process killed while writing it is left out.
pub fn read_log_with_start(path: &Path) -> std::io::Result<(Option<SystemTime>, Vec<Interval>)> {
    let mut bytes = std::fs::read(path)?;
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    bytes.truncate(complete);
    let mut deserializer = Deserializer::new();
    let mut intervals = Vec::new();
    let mut start = None;
    for entry in IntervalLogIterator::new(&bytes) {
        let entry =
            entry.map_err(|e| std::io::Error::other(format!("{}: {e:?}", path.display())))?;
        if let LogEntry::StartTime(t) = entry {
            start = Some(std::time::UNIX_EPOCH + t);
        }
        if let LogEntry::Interval(h) = entry {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(h.encoded_histogram())
                .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
            let histogram: Histogram<u64> = deserializer
                .deserialize(&mut raw.as_slice())
                .map_err(|e| std::io::Error::other(format!("{}: {e:?}", path.display())))?;
            intervals.push(Interval {
                tag: h.tag().map(|t| t.as_str().to_string()),
                start: h.start_timestamp(),
                duration: h.duration(),
                histogram,
            });
        }
    }
    Ok((start, intervals))
}

/// Adds up the intervals of each tag (untagged intervals under "").
pub fn merge_by_tag(intervals: &[Interval]) -> BTreeMap<String, Histogram<u64>> {
    let mut merged: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    for i in intervals {
        let h = merged
            .entry(i.tag.clone().unwrap_or_default())
            .or_insert_with(new_histogram);
        let _ = h.add(&i.histogram);
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_round_trip_and_merge() {
        let dir = std::env::temp_dir().join(format!("hdr-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("h.hlog");
        let start = SystemTime::now();
        let writer = LogWriter::create(&path, start, "test").unwrap();
        for second in 0..3u64 {
            let mut h = new_histogram();
            for v in 1..=1000u64 {
                h.record(v * (second + 1)).unwrap();
            }
            writer.write(
                "req.a",
                h,
                Duration::from_secs(second),
                Duration::from_secs(1),
            );
        }
        let mut other = new_histogram();
        other.record(42).unwrap();
        writer.write(
            "flow.b",
            other,
            Duration::from_secs(0),
            Duration::from_secs(3),
        );
        writer.finish().unwrap();

        let intervals = read_log(&path).unwrap();
        assert_eq!(intervals.len(), 4);
        assert_eq!(intervals[1].start, Duration::from_secs(1));
        let merged = merge_by_tag(&intervals);
        assert_eq!(merged["req.a"].len(), 3000);
        assert_eq!(
            merged["req.a"].max(),
            merged["req.a"].highest_equivalent(3000)
        );
        assert_eq!(merged["flow.b"].len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
