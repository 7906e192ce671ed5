//! The synthetic sequence `_seq`: what a DMS file's name says ([`DmsFile`]) and the fixed-width,
//! byte-comparable value built for each row ([`SeqWriter`]), and how a row's op, commit time and
//! change sequence set it (`Run::order`); its layout is in the parent module's docs.

use super::*;

/// Width of `_seq` in bytes.
pub const SEQ_WIDTH: usize = 72;
pub(super) const K_AT: usize = 2;
pub(super) const K_LEN: usize = 35;
pub(super) const F_AT: usize = 38;
pub(super) const F_LEN: usize = 23;
pub(super) const R_AT: usize = 62;
pub(super) const R_LEN: usize = 10;
/// Largest row position `R` can hold.
pub const MAX_ROWS_PER_FILE: u64 = 9_999_999_999;

/// What a DMS file's name says: its phase and its place among the table's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmsFile {
    pub phase: Phase,
    ordinal: [u8; F_LEN],
    /// `K` for rows ordered by file time (CDC files without a timestamp or sequence column).
    file_time: [u8; K_LEN],
}

pub(super) fn put_decimal(out: &mut [u8], mut v: u64) -> bool {
    for b in out.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
    v == 0
}

impl DmsFile {
    /// Parses the last path segment of a DMS output key (extensions such as `.csv`, `.csv.gz`
    /// and `.parquet` are ignored): `LOAD<hex>` or `LOAD_<segment>_<hex>` for the full load,
    /// `YYYYMMDD-HHMMSS[fraction]` for CDC.
    pub fn parse(key: &str) -> Result<Self, String> {
        let name = key.rsplit('/').next().unwrap_or(key);
        let stem = name.split('.').next().unwrap_or(name);
        let bad = || {
            format!(
                "{name:?} is not a DMS file name: expected LOAD<hex counter> (full load) or \
                 YYYYMMDD-HHMMSS[fraction] (CDC)"
            )
        };
        if let Some(rest) = stem.strip_prefix("LOAD") {
            let (segment, counter) = match rest.strip_prefix('_') {
                Some(r) => {
                    let (seg, ctr) = r.split_once('_').ok_or_else(bad)?;
                    (seg.parse::<u64>().ok().filter(|s| *s <= 999), ctr)
                }
                None => (Some(0), rest),
            };
            let segment = segment.ok_or_else(bad)?;
            if counter.is_empty() || counter.len() > 16 {
                return Err(bad());
            }
            let counter = u64::from_str_radix(counter, 16).map_err(|_| bad())?;
            let mut ordinal = [b'0'; F_LEN];
            put_decimal(&mut ordinal[..3], segment);
            put_decimal(&mut ordinal[3..], counter);
            return Ok(DmsFile {
                phase: Phase::FullLoad,
                ordinal,
                file_time: [b'0'; K_LEN],
            });
        }
        let b = stem.as_bytes();
        if b.len() < 15 || b.len() > 24 || b[8] != b'-' {
            return Err(bad());
        }
        if !b[..8].iter().chain(&b[9..]).all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| stem[r].parse::<u32>().unwrap_or(u32::MAX);
        NaiveDate::from_ymd_opt(num(0..4) as i32, num(4..6), num(6..8)).ok_or_else(bad)?;
        NaiveTime::from_hms_opt(num(9..11), num(11..13), num(13..15)).ok_or_else(bad)?;
        let mut ordinal = [b'0'; F_LEN];
        ordinal[..8].copy_from_slice(&b[..8]);
        ordinal[8..14].copy_from_slice(&b[9..15]);
        ordinal[14..14 + (b.len() - 15)].copy_from_slice(&b[15..]);
        let mut file_time = [b'0'; K_LEN];
        file_time[..F_LEN].copy_from_slice(&ordinal);
        Ok(DmsFile {
            phase: Phase::Cdc,
            ordinal,
            file_time,
        })
    }

    /// The `F` field.
    pub fn ordinal(&self) -> &str {
        std::str::from_utf8(&self.ordinal).expect("digits")
    }
}

/// Builds `_seq` values for the rows of one file; only `K` and `R` change from row to row.
#[derive(Clone)]
pub struct SeqWriter {
    buf: [u8; SEQ_WIDTH],
    last_micros: Option<i64>,
}

impl SeqWriter {
    pub fn new(file: &DmsFile) -> Self {
        let mut buf = [b'0'; SEQ_WIDTH];
        buf[0] = match file.phase {
            Phase::FullLoad => b'0',
            Phase::Cdc => b'1',
        };
        buf[1] = b'-';
        buf[K_AT + K_LEN] = b'-';
        buf[F_AT..F_AT + F_LEN].copy_from_slice(&file.ordinal);
        buf[F_AT + F_LEN] = b'-';
        if file.phase == Phase::Cdc {
            buf[K_AT..K_AT + K_LEN].copy_from_slice(&file.file_time);
        }
        Self {
            buf,
            last_micros: None,
        }
    }

    /// Sets `K` from a change-sequence value; `false` (nothing changed) unless it is 35 digits.
    pub fn set_change_sequence(&mut self, v: &[u8]) -> bool {
        if v.len() != K_LEN || !v.iter().all(u8::is_ascii_digit) {
            return false;
        }
        self.buf[K_AT..K_AT + K_LEN].copy_from_slice(v);
        self.last_micros = None;
        true
    }

    /// Sets `K` from a commit time (µs since the epoch, UTC); `false` outside years 0–9999.
    pub fn set_commit_micros(&mut self, us: i64) -> bool {
        if self.last_micros == Some(us) {
            return true;
        }
        let Some(t) = chrono::DateTime::from_timestamp_micros(us) else {
            return false;
        };
        let n = t.naive_utc();
        if !(0..=9999).contains(&n.year()) {
            return false;
        }
        let k = &mut self.buf[K_AT..K_AT + K_LEN];
        put_decimal(&mut k[0..4], n.year() as u64);
        put_decimal(&mut k[4..6], n.month() as u64);
        put_decimal(&mut k[6..8], n.day() as u64);
        put_decimal(&mut k[8..10], n.hour() as u64);
        put_decimal(&mut k[10..12], n.minute() as u64);
        put_decimal(&mut k[12..14], n.second() as u64);
        put_decimal(&mut k[14..20], (n.nanosecond() / 1000) as u64);
        k[20..].fill(b'0');
        self.last_micros = Some(us);
        true
    }

    /// Sets `K` straight from a timestamp's text when it is written `YYYY-MM-DD[ T]HH:MM:SS[.f…]`
    /// with no offset (already validated by the parser, so UTC). `false`: use
    /// [`Self::set_commit_micros`].
    pub fn set_commit_text(&mut self, t: &[u8]) -> bool {
        let plain = t.len() >= 19
            && t[4] == b'-'
            && t[7] == b'-'
            && matches!(t[10], b' ' | b'T')
            && t[13] == b':'
            && t[16] == b':'
            && (t.len() == 19
                || (t[19] == b'.' && t.len() <= 29 && t[20..].iter().all(u8::is_ascii_digit)));
        if !plain {
            return false;
        }
        let k = &mut self.buf[K_AT..K_AT + K_LEN];
        k[0..4].copy_from_slice(&t[0..4]);
        k[4..6].copy_from_slice(&t[5..7]);
        k[6..8].copy_from_slice(&t[8..10]);
        k[8..10].copy_from_slice(&t[11..13]);
        k[10..12].copy_from_slice(&t[14..16]);
        k[12..14].copy_from_slice(&t[17..19]);
        let frac = t.get(20..).unwrap_or_default();
        let n = frac.len().min(6);
        k[14..14 + n].copy_from_slice(&frac[..n]);
        k[14 + n..].fill(b'0');
        self.last_micros = None;
        true
    }

    /// Sets `R`; `false` if it does not fit.
    pub fn set_row(&mut self, row: u64) -> bool {
        row <= MAX_ROWS_PER_FILE && put_decimal(&mut self.buf[R_AT..R_AT + R_LEN], row)
    }

    pub fn bytes(&self) -> &[u8; SEQ_WIDTH] {
        &self.buf
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf).expect("ASCII")
    }
}

/// What orders a row: its op, commit time and change sequence, as found in the file.
pub(super) struct OrderFields<'r> {
    pub(super) op: Option<&'r [u8]>,
    pub(super) commit: Commit<'r>,
    pub(super) cseq: Option<&'r [u8]>,
}

/// The commit time of a row.
pub(super) enum Commit<'r> {
    /// No timestamp column.
    None,
    /// As text (CSV; empty is NULL).
    Text(&'r [u8]),
    /// Already typed (Parquet), µs since the epoch.
    Micros(Option<i64>),
}

impl Run<'_> {
    /// The row's op and commit time; sets `K` of `_seq` (CDC files).
    pub(super) fn order(
        &mut self,
        fields: OrderFields<'_>,
    ) -> Result<(&'static str, Cell<'static>), Rejection> {
        let op: &'static str = match fields.op.map(<[u8]>::trim_ascii) {
            None => "I",
            Some(b"I") => "I",
            Some(b"U") => "U",
            Some(b"D") => "D",
            Some(other) => {
                let reason = format!(
                    "Op {:?} is not I, U or D",
                    String::from_utf8_lossy(&other[..other.len().min(32)])
                );
                return Err(("unknown_op", reason));
            }
        };
        // Commit time and the order key K.
        let mut commit = Cell::Null;
        let mut commit_text: Option<&[u8]> = None;
        match fields.commit {
            Commit::None | Commit::Micros(None) => {}
            Commit::Micros(Some(us)) => commit = Cell::Ts(us),
            Commit::Text(raw) => {
                let raw = raw.trim_ascii();
                if !raw.is_empty() {
                    match std::str::from_utf8(raw).ok().and_then(parse_timestamp) {
                        Some(us) => {
                            commit = Cell::Ts(us);
                            commit_text = Some(raw);
                        }
                        None => {
                            let reason = format!(
                                "commit timestamp {:?} is not yyyy-MM-dd HH:mm:ss[.ffffff]",
                                String::from_utf8_lossy(&raw[..raw.len().min(40)])
                            );
                            return Err(("invalid_commit_timestamp", reason));
                        }
                    }
                }
            }
        }
        let has_ts = !matches!(fields.commit, Commit::None);
        if self.cdc() {
            if let Some(cseq) = fields.cseq {
                if !self.seq.set_change_sequence(cseq.trim_ascii()) {
                    let reason = format!(
                        "change sequence {:?} is not 35 digits",
                        String::from_utf8_lossy(&cseq[..cseq.len().min(40)])
                    );
                    return Err(("invalid_change_sequence", reason));
                }
            } else if has_ts {
                let ok = match (commit_text, &commit) {
                    (Some(t), _) if self.seq.set_commit_text(t) => true,
                    (_, Cell::Ts(us)) => self.seq.set_commit_micros(*us),
                    _ => false,
                };
                if !ok {
                    let reason = "commit timestamp is missing or out of range (it orders this table's changes)".to_string();
                    return Err(("invalid_commit_timestamp", reason));
                }
            }
        }
        Ok((op, commit))
    }
}
