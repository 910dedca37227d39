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

/// Intervals queued for the writer thread at most: a writer behind blocks the
/// caller rather than holding histograms (about 190 KB each) without bound; a run
/// emits a few dozen per slice, so this is several slices of slack.
const WRITE_AHEAD: usize = 256;

/// Streams intervals to a log file from a background thread.
pub struct LogWriter {
    tx: Option<mpsc::SyncSender<Entry>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
    path: PathBuf,
}

impl LogWriter {
    /// Creates the file and writes the header; intervals are offsets from `start`.
    pub fn create(path: &Path, start: SystemTime, comment: &str) -> std::io::Result<LogWriter> {
        let file = std::fs::File::create(path)?;
        let (tx, rx) = mpsc::sync_channel::<Entry>(WRITE_AHEAD);
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
    LogReader::open(path)?.collect()
}

/// Reads a log's start time (`#[StartTime: ...]`) and every complete interval.
pub fn read_log_with_start(path: &Path) -> std::io::Result<(Option<SystemTime>, Vec<Interval>)> {
    let mut reader = LogReader::open(path)?;
    let intervals = reader.by_ref().collect::<std::io::Result<Vec<_>>>()?;
    Ok((reader.start, intervals))
}

/// Reads a log one interval at a time, so memory stays bounded however long the
/// log (a histogram of the project's range is about 190 KB in memory). A line
/// cut short by a process killed while writing it is left out.
pub struct LogReader {
    bytes: Vec<u8>,
    at: usize,
    deserializer: Deserializer,
    path: PathBuf,
    /// The log's start time, once its header line has been read (the header
    /// comes first: it is read by [`LogReader::open`]).
    pub start: Option<SystemTime>,
}

impl LogReader {
    /// Opens a log and reads its header.
    pub fn open(path: &Path) -> std::io::Result<LogReader> {
        Ok(LogReader::from_bytes(std::fs::read(path)?, path))
    }

    /// A reader of a log's bytes, read from `path` (named in its errors); reads
    /// the header.
    pub fn from_bytes(mut bytes: Vec<u8>, path: &Path) -> LogReader {
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        bytes.truncate(complete);
        let mut reader = LogReader {
            bytes,
            at: 0,
            deserializer: Deserializer::new(),
            path: path.to_path_buf(),
            start: None,
        };
        // The header: comments, start and base time, the legend.
        while matches!(reader.bytes.get(reader.at), Some(b'#' | b'"')) {
            let line = reader.line();
            let (len, start) = match IntervalLogIterator::new(line).next() {
                // A start time past what the clock holds is no start time (the
                // interval-log fuzz target found `UNIX_EPOCH + t` overflowing).
                Some(Ok(LogEntry::StartTime(t))) => {
                    (line.len(), std::time::UNIX_EPOCH.checked_add(t))
                }
                _ => (line.len(), None),
            };
            reader.start = start.or(reader.start);
            reader.at += len;
        }
        reader
    }

    /// The line at the cursor, its newline included.
    fn line(&self) -> &[u8] {
        let rest = &self.bytes[self.at..];
        let end = rest
            .iter()
            .position(|b| *b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        &rest[..end]
    }

    fn error(&self, e: impl std::fmt::Debug) -> std::io::Error {
        std::io::Error::other(format!("{}: {e:?}", self.path.display()))
    }

    fn decode(&self, line_start: usize, line_end: usize) -> Option<std::io::Result<Encoded>> {
        let line = &self.bytes[line_start..line_end];
        let entry = match IntervalLogIterator::new(line).next()? {
            Ok(LogEntry::Interval(h)) => h,
            Ok(_) => return None,
            Err(e) => return Some(Err(self.error(e))),
        };
        Some(
            base64::engine::general_purpose::STANDARD
                .decode(entry.encoded_histogram())
                .map(|bytes| Encoded {
                    tag: entry.tag().map(|t| t.as_str().to_string()),
                    start: entry.start_timestamp(),
                    duration: entry.duration(),
                    bytes,
                })
                .map_err(|e| self.error(e)),
        )
    }

    /// The next interval, its histogram still encoded (cheap: no histogram is
    /// built; add it with [`add_encoded`]).
    pub fn next_encoded(&mut self) -> Option<std::io::Result<Encoded>> {
        while self.at < self.bytes.len() {
            let start = self.at;
            let end = start + self.line().len();
            self.at = end;
            if let Some(item) = self.decode(start, end) {
                return Some(item);
            }
        }
        None
    }
}

impl Iterator for LogReader {
    type Item = std::io::Result<Interval>;

    fn next(&mut self) -> Option<Self::Item> {
        let e = match self.next_encoded()? {
            Ok(e) => e,
            Err(e) => return Some(Err(e)),
        };
        Some(
            self.deserializer
                .deserialize(&mut e.bytes.as_slice())
                .map(|histogram| Interval {
                    tag: e.tag,
                    start: e.start,
                    duration: e.duration,
                    histogram,
                })
                .map_err(|err| self.error(err)),
        )
    }
}

/// One interval of a log with its histogram still in its V2 encoding.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// The tag, when tagged.
    pub tag: Option<String>,
    /// Offset from the log's start time.
    pub start: Duration,
    /// Its length.
    pub duration: Duration,
    /// The histogram, V2 (deflate) encoded.
    pub bytes: Vec<u8>,
}

/// The V2 cookies (base | 0x10), as HdrHistogram writes them.
const V2_COOKIE: u32 = 0x1c84_9313;
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9314;

fn read_u32(r: &mut &[u8]) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    std::io::Read::read_exact(r, &mut b)?;
    Ok(u32::from_be_bytes(b))
}

fn read_u64(r: &mut &[u8]) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    std::io::Read::read_exact(r, &mut b)?;
    Ok(u64::from_be_bytes(b))
}

/// Reads one LEB128 varint, ZigZag-decoded: a count, or (negative) a run of zeros.
fn zig_zag_varint(bytes: &[u8], at: &mut usize) -> Option<i64> {
    let mut value: u64 = 0;
    for shift in 0..9 {
        let b = *bytes.get(*at)?;
        *at += 1;
        if shift == 8 {
            value |= u64::from(b) << 56;
            break;
        }
        value |= u64::from(b & 0x7f) << (7 * shift);
        if b & 0x80 == 0 {
            break;
        }
    }
    Some(((value >> 1) as i64) ^ -((value & 1) as i64))
}

/// The value of counts-array index `index` in a histogram of the project's layout
/// (lowest value 1, [`SIGNIFICANT_DIGITS`] digits: 2,048 sub-buckets per bucket).
fn value_at_index(index: usize) -> u64 {
    const HALF_MAGNITUDE: u32 = 10;
    const HALF: usize = 1 << HALF_MAGNITUDE;
    let bucket = (index >> HALF_MAGNITUDE) as i64 - 1;
    let sub = ((index & (HALF - 1)) + HALF) as u64;
    if bucket < 0 {
        sub - HALF as u64
    } else {
        sub << bucket
    }
}

fn not_v2(what: &str) -> std::io::Error {
    std::io::Error::other(format!("not a V2 histogram: {what}"))
}

/// The non-zero counts of a V2 (deflate) encoded histogram, as (value, count)
/// pairs, without building it: decoding costs what it holds, not its range. A
/// histogram of another layout than the project's is decoded the ordinary way.
pub fn decode_counts(bytes: &[u8]) -> std::io::Result<Vec<(u64, u64)>> {
    let mut r = bytes;
    if read_u32(&mut r)? != V2_COMPRESSED_COOKIE {
        return Err(not_v2("cookie"));
    }
    let length = read_u32(&mut r)? as usize;
    let mut inflated = Vec::new();
    let compressed = r.get(..length).ok_or_else(|| not_v2("length"))?;
    std::io::Read::read_to_end(
        &mut flate2::read::ZlibDecoder::new(compressed),
        &mut inflated,
    )?;
    let mut p = inflated.as_slice();
    if read_u32(&mut p)? != V2_COOKIE {
        return Err(not_v2("inner cookie"));
    }
    let payload = read_u32(&mut p)? as usize;
    let (_offset, digits) = (read_u32(&mut p)?, read_u32(&mut p)?);
    let (low, high) = (read_u64(&mut p)?, read_u64(&mut p)?);
    let _ratio = read_u64(&mut p)?;
    if (low, high, digits) != (1, MAX_MICROS, u32::from(SIGNIFICANT_DIGITS)) {
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut &bytes[..])
            .map_err(|e| not_v2(&format!("{e:?}")))?;
        return Ok(h
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect());
    }
    let counts = p.get(..payload).ok_or_else(|| not_v2("payload"))?;
    let (mut at, mut index) = (0usize, 0usize);
    let mut out = Vec::new();
    while at < counts.len() {
        let n = zig_zag_varint(counts, &mut at).ok_or_else(|| not_v2("varint"))?;
        if n < 0 {
            index += n.unsigned_abs() as usize;
            continue;
        }
        if n > 0 {
            out.push((value_at_index(index), n as u64));
        }
        index += 1;
    }
    Ok(out)
}

/// Adds decoded counts into `into`; returns the count added.
pub fn add_counts(into: &mut Histogram<u64>, counts: &[(u64, u64)]) -> std::io::Result<u64> {
    let mut added = 0;
    for &(value, n) in counts {
        into.record_n(value, n)
            .map_err(|e| not_v2(&format!("{e:?}")))?;
        added += n;
    }
    Ok(added)
}

/// Adds a V2 (deflate) encoded histogram into `into` without building it;
/// returns the count added.
pub fn add_encoded(into: &mut Histogram<u64>, bytes: &[u8]) -> std::io::Result<u64> {
    add_counts(into, &decode_counts(bytes)?)
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

    fn encoded(h: &Histogram<u64>) -> Vec<u8> {
        let mut bytes = Vec::new();
        hdrhistogram::serialization::Serializer::serialize(
            &mut V2DeflateSerializer::new(),
            h,
            &mut bytes,
        )
        .unwrap();
        bytes
    }

    fn buckets(h: &Histogram<u64>) -> Vec<(u64, u64)> {
        h.iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    }

    #[test]
    fn a_start_time_past_the_clock_is_ignored_not_a_panic() {
        let log = b"#[StartTime: 10000000000000000000.000 (seconds since epoch)]\n";
        let reader = LogReader::from_bytes(log.to_vec(), Path::new("huge.hlog"));
        assert_eq!(reader.start, None);
    }

    #[test]
    fn encoded_histograms_add_exactly_without_being_built() {
        let mut h = new_histogram();
        for (v, n) in [
            (1, 3),
            (7, 1),
            (2047, 2),
            (2048, 5),
            (123_456, 9),
            (MAX_MICROS, 1),
        ] {
            h.record_n(v, n).unwrap();
        }
        let mut sum = new_histogram();
        assert_eq!(add_encoded(&mut sum, &encoded(&h)).unwrap(), h.len());
        assert_eq!(add_encoded(&mut sum, &encoded(&h)).unwrap(), h.len());
        let mut twice = h.clone();
        twice.add(&h).unwrap();
        assert_eq!(buckets(&sum), buckets(&twice));
        assert_eq!(
            (sum.min(), sum.max(), sum.len()),
            (twice.min(), twice.max(), twice.len())
        );
        // Another layout: decoded and added the ordinary way.
        let mut other = Histogram::<u64>::new_with_bounds(1, 60_000_000, 2).unwrap();
        other.record_n(5_000, 4).unwrap();
        assert_eq!(add_encoded(&mut sum, &encoded(&other)).unwrap(), 4);
        assert_eq!(sum.len(), twice.len() + 4);
        assert!(add_encoded(&mut sum, b"nonsense").is_err());
    }

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
