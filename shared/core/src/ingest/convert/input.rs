//! Reading one text input: buffering, gzip detection and decompression within the caps
//! ([`ReadLimits`]: decompressed size, compression ratio, the deadline), and blaming a decoding
//! error on its real cause (the source's network, a cap, the deadline, or the data).
//!
//! Invariant: a cap or the deadline stops the read with an I/O error that the parsers surface;
//! [`blame_source`] then turns whatever decoding error it caused into `TooLarge` (bad input) or
//! `OutOfTime` (retryable), so a stopped read is never mistaken for bad data or the reverse.

use super::*;

/// Decompressed bytes after which the compression ratio is checked.
pub const RATIO_CHECK_AFTER: u64 = 64 << 20;

/// Limits on reading one input: the decompression caps of [`LandingTuning`] and the time by
/// which reading must stop (the Lambda deadline less a margin).
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    pub max_decompressed_bytes: u64,
    pub max_compression_ratio: f64,
    pub deadline: Option<std::time::Instant>,
}

impl ReadLimits {
    pub fn new(tuning: &LandingTuning, deadline: Option<std::time::Instant>) -> Self {
        Self {
            max_decompressed_bytes: tuning.max_decompressed_bytes,
            max_compression_ratio: tuning.max_compression_ratio,
            deadline,
        }
    }

    /// No caps, no deadline.
    pub fn unlimited() -> Self {
        Self {
            max_decompressed_bytes: u64::MAX,
            max_compression_ratio: f64::INFINITY,
            deadline: None,
        }
    }
}

/// Why reading stopped early, when it did for a reason other than the data.
#[derive(Debug, Clone)]
pub(crate) enum Stop {
    /// A decompression cap: the file is bad input.
    Capped(String),
    /// The deadline: retry later.
    OutOfTime,
}

/// What happened while an input was read, so a decoding error can be blamed on its real cause:
/// a failed read of the source (network), a cap on decompression, or the deadline.
#[derive(Debug, Default)]
pub(crate) struct InputWatch {
    failed: AtomicBool,
    stop: std::sync::OnceLock<Stop>,
    compressed_in: AtomicU64,
}

impl InputWatch {
    fn stop(&self, why: Stop) -> io::Error {
        let _ = self.stop.set(why);
        io::Error::other(match self.stop.get() {
            Some(Stop::Capped(r)) => r.clone(),
            _ => "the deadline is near: reading stopped".into(),
        })
    }
}

/// The source, counted, with its failures and the deadline recorded in the watch.
struct Tracked<R> {
    inner: R,
    watch: Arc<InputWatch>,
    deadline: Option<std::time::Instant>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self
            .deadline
            .is_some_and(|d| std::time::Instant::now() >= d)
        {
            return Err(self.watch.stop(Stop::OutOfTime));
        }
        let n = self
            .inner
            .read(buf)
            .inspect_err(|_| self.watch.failed.store(true, Ordering::Relaxed))?;
        self.watch
            .compressed_in
            .fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Decompressed output, counted against the caps.
struct Capped<R> {
    inner: R,
    watch: Arc<InputWatch>,
    limits: ReadLimits,
    out: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        let l = &self.limits;
        if self.out > l.max_decompressed_bytes {
            return Err(self.watch.stop(Stop::Capped(format!(
                "decompressed size exceeds the cap of {} bytes ({} MiB, {})",
                l.max_decompressed_bytes,
                l.max_decompressed_bytes >> 20,
                crate::config::MAX_DECOMPRESSED_MIB
            ))));
        }
        let compressed = self.watch.compressed_in.load(Ordering::Relaxed).max(1);
        if self.out > RATIO_CHECK_AFTER
            && self.out as f64 > l.max_compression_ratio * compressed as f64
        {
            return Err(self.watch.stop(Stop::Capped(format!(
                "compression ratio exceeds the cap of {}:1 ({} bytes from at most {compressed} \
                 compressed bytes; {})",
                l.max_compression_ratio,
                self.out,
                crate::config::MAX_COMPRESSION_RATIO
            ))));
        }
        Ok(n)
    }
}

/// A buffered text input, whether it starts a gzip stream, and its watch.
pub(crate) type TextInput<'r> = (Box<dyn BufRead + Send + 'r>, bool, Arc<InputWatch>);

/// The first bytes of every Parquet file.
pub const PARQUET_MAGIC: &[u8] = b"PAR1";

/// Buffers `input`, decompressing gzip (detected by its magic bytes) within `limits`. A Parquet
/// file (magic `PAR1`) is refused here with an accurate reason: it is not text.
pub(crate) fn open_text<'r, R: Read + Send + 'r>(
    input: R,
    format: TextFormat,
    limits: ReadLimits,
) -> Result<TextInput<'r>, ConvertError> {
    let watch = Arc::new(InputWatch::default());
    let mut raw = BufReader::with_capacity(
        1 << 20,
        Tracked {
            inner: input,
            watch: watch.clone(),
            deadline: limits.deadline,
        },
    );
    let head = raw
        .fill_buf()
        .map_err(|e| blame_source(ConvertError::Source(e), &watch))?;
    if head.starts_with(PARQUET_MAGIC) {
        return Err(ConvertError::Unreadable {
            format,
            reason: "the file is Parquet (it starts with PAR1), not text; declare \
                     source.format \"parquet\" for this dataset or land it under another prefix"
                .into(),
        });
    }
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn BufRead + Send + 'r> = if gzip {
        Box::new(BufReader::with_capacity(
            1 << 20,
            Capped {
                inner: flate2::bufread::MultiGzDecoder::new(raw),
                watch: watch.clone(),
                limits,
                out: 0,
            },
        ))
    } else {
        Box::new(raw)
    };
    Ok((reader, gzip, watch))
}

/// Blames an error on its real cause: a cap or the deadline (recorded in the watch) wins over
/// whatever decoding error it caused; a decode error after a failed source read is a source
/// failure, to be retried, not bad data.
pub(crate) fn blame_source(e: ConvertError, watch: &InputWatch) -> ConvertError {
    match watch.stop.get() {
        Some(Stop::Capped(reason)) => {
            return ConvertError::TooLarge {
                reason: reason.clone(),
            };
        }
        Some(Stop::OutOfTime) => return ConvertError::OutOfTime,
        None => {}
    }
    match e {
        ConvertError::Unreadable { .. } if watch.failed.load(Ordering::Relaxed) => {
            ConvertError::Source(io::Error::other("source stream failed while reading"))
        }
        e => e,
    }
}
