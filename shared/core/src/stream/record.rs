//! Stream records: one JSON object per Firehose or Kinesis record, checked against the destination
//! dataset's schema and normalised. Shared by `firehose-transform` ([`crate::stream::firehose`]) and
//! `stream-ingest` ([`crate::stream::kinesis`]).
//!
//! Per record, in this order ([`RecordSpec::check`]):
//! 1. **Size**: more than the spec's limit ([`MAX_RECORD_BYTES`], Firehose's record limit, unless
//!    [`RecordSpec::with_max_record_bytes`] says otherwise) or nothing but whitespace fails the
//!    record.
//! 2. **JSON**: the record must be one JSON object ([`crate::format::jsonrec`], strict and zero-copy).
//! 3. **Renames** (`TRIBUTARY_STREAM_RENAMES`): keys are renamed before anything looks at them.
//! 4. **Filters** (`TRIBUTARY_STREAM_DROP_IF`): a record with a matching field is dropped, whatever
//!    else is wrong with it (a heartbeat need not carry the schema's fields).
//! 5. **Schema**: every declared column that is present must have a value of its type (the same
//!    rules as JSON lines in landing: [`crate::model::schema::parse_json`]); a non-nullable column must be
//!    present and not null; a column may appear once. Fields the schema does not name pass through.
//! 6. **Event time**: the time field (`TRIBUTARY_STREAM_TIME_FIELD`, default the schema's first
//!    `timestamp` column) when present and not null, else the record's arrival time.
//!
//! Invariants:
//! - Every record gets exactly one [`Verdict`]: accepted, dropped (naming the filter) or failed
//!   with a category (for counting) and a reason that names the field and shows the value.
//! - Normalised output ([`RecordSpec::write_json`]) is one line: the record's fields in their
//!   order, renamed; `timestamp` columns (and the time field) as RFC 3339 UTC
//!   `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`, `date` columns as `YYYY-MM-DD`; every other value byte for
//!   byte as received; no whitespace between tokens; then `\n`.
//! - Partition keys ([`HourKey`]) are the event time's UTC year (4 digits), month, day and hour
//!   (2 digits each), so `year=2024/month=01/day=15/hour=10` paths sort by time.

use std::borrow::Cow;
use std::sync::Arc;

use crate::catalog::cache::TtlCache;
use crate::catalog::{CatalogError, Dataset, DatasetCatalog};
use crate::clock::{self, SharedClock};
use crate::config::StreamConfig;
use crate::error::{Classify, ErrorKind};
use crate::format::datetime::*;
use crate::format::jsonrec::{self, Field, JsonError, Kind, Object};
use crate::model::schema::{Cell, ColumnType, TableSchema, parse_date};

mod hour;
pub use hour::*;

/// Largest record accepted, in bytes after base64 decoding: Firehose's own record limit
/// (1,000 KiB).
pub const MAX_RECORD_BYTES: usize = 1_024_000;
/// The partition keys of stream output, in path order.
pub const PARTITION_KEYS: [&str; 4] = ["year", "month", "day", "hour"];

const NONE: u32 = u32::MAX;

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("dataset {0} is not declared in the catalog")]
    UnknownDataset(String),
    #[error("dataset {id}: {reason}")]
    Spec { id: String, reason: String },
}

impl Classify for StreamError {
    fn kind(&self) -> ErrorKind {
        match self {
            StreamError::Catalog(e) => e.kind(),
            // The function is configured for a dataset that cannot take its records.
            StreamError::UnknownDataset(_) | StreamError::Spec { .. } => ErrorKind::Fatal,
        }
    }
}

/// Why a record was not accepted: a category for counting and a reason for people.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reject {
    pub category: &'static str,
    pub reason: String,
}

impl Reject {
    pub fn new(category: &'static str, reason: impl Into<String>) -> Self {
        Self {
            category,
            reason: reason.into(),
        }
    }
}

/// The verdict on one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: `event_us` is the event time (µs since the epoch, UTC); `from_field` tells whether
    /// it came from the record's time field (else from the arrival time).
    Accepted {
        event_us: i64,
        from_field: bool,
    },
    /// A drop filter matched (its index in the configuration).
    Dropped {
        filter: usize,
    },
    Failed(Reject),
}

/// Where the event time comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TimeSource {
    Column(usize),
    Field(String),
    Arrival,
}

#[derive(Debug, Clone)]
struct ColSpec {
    name: String,
    ty: ColumnType,
    nullable: bool,
}

/// What a record key means to the spec: its rename, its column and the filters on it.
#[derive(Debug, Clone)]
struct KeyEntry {
    name: Box<str>,
    /// The name's first and next eight bytes (zero-padded): with the length, comparisons of
    /// names up to 16 bytes end here.
    prefix: u64,
    prefix2: u64,
    rename: u32,
    column: u32,
    filters: Vec<u32>,
}

#[inline]
fn key_prefix(s: &[u8]) -> u64 {
    match s.get(..8) {
        Some(head) => u64::from_le_bytes(head.try_into().expect("eight bytes")),
        // Short keys byte by byte: a variable-length copy would call memmove.
        None => s
            .iter()
            .enumerate()
            .fold(0, |v, (i, &b)| v | (b as u64) << (8 * i)),
    }
}

/// Every key the spec knows (column names, rename sources, filter fields), in schema order with
/// each rename source after its target's column, so records whose fields follow the schema are
/// matched with one comparison per field.
#[derive(Debug, Clone, Default)]
struct KeyTable {
    entries: Vec<KeyEntry>,
}

impl KeyTable {
    fn new(
        columns: &[ColSpec],
        renames: &[(String, String)],
        filters: &[(String, String)],
    ) -> Self {
        let mut t = KeyTable::default();
        let mut add = |name: &str, rename: u32, effective: &str| {
            if t.entries.iter().any(|e| &*e.name == name) {
                return;
            }
            t.entries.push(KeyEntry {
                name: name.into(),
                prefix: key_prefix(name.as_bytes()),
                prefix2: key_prefix(name.as_bytes().get(8..).unwrap_or_default()),
                rename,
                column: columns
                    .iter()
                    .position(|c| c.name == effective)
                    .map_or(NONE, |i| i as u32),
                filters: (0..filters.len() as u32)
                    .filter(|&i| filters[i as usize].0 == effective)
                    .collect(),
            });
        };
        let source = |name: &str| renames.iter().any(|(from, _)| from == name);
        for c in columns {
            if !source(&c.name) {
                add(&c.name, NONE, &c.name);
            }
            for (i, (from, to)) in renames.iter().enumerate() {
                if *to == c.name {
                    add(from, i as u32, to);
                }
            }
        }
        for (i, (from, to)) in renames.iter().enumerate() {
            add(from, i as u32, to);
        }
        for (field, _) in filters {
            if !source(field) {
                add(field, NONE, field);
            }
        }
        t
    }

    /// The entry for `key`, trying `hint` and the entries after it first; moves the hint on.
    #[inline]
    fn lookup(&self, key: &str, hint: &mut usize) -> Option<&KeyEntry> {
        let bytes = key.as_bytes();
        let (len, prefix) = (bytes.len(), key_prefix(bytes));
        let prefix2 = key_prefix(bytes.get(8..).unwrap_or_default());
        let n = self.entries.len();
        let matches = |e: &KeyEntry| {
            e.prefix == prefix
                && e.prefix2 == prefix2
                && e.name.len() == len
                && (len <= 16 || e.name.as_bytes()[16..] == bytes[16..])
        };
        let start = (*hint).min(n);
        let found = (start..n)
            .chain(0..start)
            .find(|&i| matches(&self.entries[i]))?;
        *hint = found + 1;
        Some(&self.entries[found])
    }
}

/// A dataset's schema and the stream settings, compiled for checking records.
#[derive(Debug, Clone)]
pub struct RecordSpec {
    dataset: Arc<str>,
    columns: Vec<ColSpec>,
    keys: KeyTable,
    renames: Vec<(String, String)>,
    filters: Vec<(String, String)>,
    time: TimeSource,
    max_record_bytes: usize,
}

/// A value checked against its column's type.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Typed {
    Null,
    /// A string column: the field's value as it is (string content, or JSON text).
    Raw,
    I64(i64),
    F64(f64),
    Bool(bool),
    Date(i32),
    Ts(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Tag {
    Null,
    Raw,
    I64,
    F64,
    Bool,
    Date,
    Ts,
}

/// A [`Typed`] as stored per column: the tag and the payload in separate aligned words, so it
/// moves as two plain stores (copying the enum itself went through overlapping loads that
/// stalled store forwarding, a fifth of the time spent checking).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    tag: Tag,
    bits: i64,
}

impl Slot {
    const NULL: Slot = Slot {
        tag: Tag::Null,
        bits: 0,
    };

    #[inline]
    fn new(t: Typed) -> Slot {
        let (tag, bits) = match t {
            Typed::Null => (Tag::Null, 0),
            Typed::Raw => (Tag::Raw, 0),
            Typed::I64(v) => (Tag::I64, v),
            Typed::F64(v) => (Tag::F64, v.to_bits() as i64),
            Typed::Bool(v) => (Tag::Bool, v as i64),
            Typed::Date(v) => (Tag::Date, v as i64),
            Typed::Ts(v) => (Tag::Ts, v),
        };
        Slot { tag, bits }
    }

    #[inline]
    fn get(self) -> Typed {
        match self.tag {
            Tag::Null => Typed::Null,
            Tag::Raw => Typed::Raw,
            Tag::I64 => Typed::I64(self.bits),
            Tag::F64 => Typed::F64(f64::from_bits(self.bits as u64)),
            Tag::Bool => Typed::Bool(self.bits != 0),
            Tag::Date => Typed::Date(self.bits as i32),
            Tag::Ts => Typed::Ts(self.bits),
        }
    }
}

/// One checked record: its fields and what the schema made of them. Borrowed from the input.
pub struct Record<'a> {
    /// The record as received, and where its object lies in it.
    data: &'a [u8],
    object: Option<Object>,
    pub fields: Vec<Field<'a>>,
    /// Per field: its column, or `NONE`.
    field_col: Vec<u32>,
    /// Per field: the rename applied to its key, or `NONE`.
    field_rename: Vec<u32>,
    /// Per column: the field holding it, or `NONE`.
    col_field: Vec<u32>,
    col_val: Vec<Slot>,
    /// The time field when it is not a column: (field, µs).
    time_field: Option<(usize, i64)>,
}

/// Reusable buffers for [`RecordSpec::check`], so checking a batch allocates nothing per record.
#[derive(Default)]
pub struct Scratch {
    fields: Vec<Field<'static>>,
    field_col: Vec<u32>,
    field_rename: Vec<u32>,
    col_field: Vec<u32>,
    col_val: Vec<Slot>,
}

/// Reuses a vector's allocation for another lifetime (the vector is emptied first; the element
/// types have the same layout, so the collect happens in place).
fn recycle<'x, 'y>(mut v: Vec<Field<'x>>) -> Vec<Field<'y>> {
    v.clear();
    v.into_iter().map(|_| unreachable!()).collect()
}

impl Scratch {
    fn take<'a>(&mut self, data: &'a [u8]) -> Record<'a> {
        Record {
            data,
            object: None,
            fields: recycle(std::mem::take(&mut self.fields)),
            field_col: std::mem::take(&mut self.field_col),
            field_rename: std::mem::take(&mut self.field_rename),
            col_field: std::mem::take(&mut self.col_field),
            col_val: std::mem::take(&mut self.col_val),
            time_field: None,
        }
    }

    /// Returns a record's buffers for the next one.
    pub fn give_back(&mut self, r: Record<'_>) {
        self.fields = recycle(r.fields);
        self.field_col = r.field_col;
        self.field_rename = r.field_rename;
        self.col_field = r.col_field;
        self.col_val = r.col_val;
    }
}

fn shown(s: &str) -> &str {
    crate::model::schema::truncate(s, 64)
}

impl RecordSpec {
    /// Compiles `schema` (the dataset's declared or recorded schema) with the stream settings.
    pub fn new(
        dataset: &Dataset,
        schema: &TableSchema,
        cfg: &StreamConfig,
    ) -> Result<Self, StreamError> {
        let spec_err = |reason: String| StreamError::Spec {
            id: dataset.id.clone(),
            reason,
        };
        if schema.columns.is_empty() {
            return Err(spec_err("the schema has no columns".into()));
        }
        let columns: Vec<ColSpec> = schema
            .columns
            .iter()
            .map(|c| ColSpec {
                name: c.name.clone(),
                ty: c.ty,
                nullable: c.nullable,
            })
            .collect();
        let keys = KeyTable::new(&columns, &cfg.renames, &cfg.drop_if);
        let time = match &cfg.time_field {
            Some(name) => match schema.index_of(name) {
                Some(i)
                    if matches!(
                        schema.columns[i].ty,
                        ColumnType::Timestamp | ColumnType::Date | ColumnType::String
                    ) =>
                {
                    TimeSource::Column(i)
                }
                Some(i) => {
                    return Err(spec_err(format!(
                        "time field {name} is a {} column; it must be a timestamp, date or string",
                        schema.columns[i].ty.glue()
                    )));
                }
                None => TimeSource::Field(name.clone()),
            },
            None => schema
                .columns
                .iter()
                .position(|c| c.ty == ColumnType::Timestamp)
                .map_or(TimeSource::Arrival, TimeSource::Column),
        };
        Ok(Self {
            dataset: Arc::from(dataset.id.as_str()),
            columns,
            keys,
            renames: cfg.renames.clone(),
            filters: cfg.drop_if.clone(),
            time,
            max_record_bytes: MAX_RECORD_BYTES,
        })
    }

    /// Another record size limit (Kinesis records are not bound by Firehose's).
    pub fn with_max_record_bytes(mut self, max: usize) -> Self {
        self.max_record_bytes = max;
        self
    }

    pub fn dataset(&self) -> &Arc<str> {
        &self.dataset
    }

    /// The time field, if records have one.
    pub fn time_field(&self) -> Option<&str> {
        match &self.time {
            TimeSource::Column(i) => Some(&self.columns[*i].name),
            TimeSource::Field(f) => Some(f),
            TimeSource::Arrival => None,
        }
    }

    /// Checks one record (base64-decoded). `arrival_us` is the fallback event time.
    /// Hand the record back to `scratch` when done with it.
    pub fn check<'a>(
        &self,
        data: &'a [u8],
        arrival_us: i64,
        scratch: &mut Scratch,
    ) -> (Verdict, Record<'a>) {
        let mut rec = scratch.take(data);
        let verdict = self.check_into(data, arrival_us, &mut rec);
        (verdict, rec)
    }

    fn check_into<'a>(&self, data: &'a [u8], arrival_us: i64, rec: &mut Record<'a>) -> Verdict {
        let checked = self
            .parse_into(data, rec)
            .and_then(|()| self.match_fields(rec))
            .and_then(|()| self.type_columns(rec))
            .and_then(|()| self.event_time(rec));
        match checked {
            Ok(Some(us)) => Verdict::Accepted {
                event_us: us,
                from_field: true,
            },
            Ok(None) => Verdict::Accepted {
                event_us: arrival_us,
                from_field: false,
            },
            Err(verdict) => verdict,
        }
    }

    /// Size limit and strict JSON parse into `rec.fields`; resets the per-record indexes.
    #[inline]
    fn parse_into<'a>(&self, data: &'a [u8], rec: &mut Record<'a>) -> Result<(), Verdict> {
        if data.len() > self.max_record_bytes {
            return Err(failed(
                "too_large",
                format!(
                    "record is {} bytes; the limit is {}",
                    data.len(),
                    self.max_record_bytes
                ),
            ));
        }
        match jsonrec::parse_object(data, &mut rec.fields) {
            Ok(object) => rec.object = Some(object),
            Err(e) => {
                let category = match e {
                    JsonError::Empty => return Err(failed("empty", "record is empty".into())),
                    JsonError::Utf8(_) => "invalid_utf8",
                    JsonError::NotObject(_) => "not_an_object",
                    JsonError::Syntax { .. } | JsonError::TooDeep => "invalid_json",
                };
                return Err(failed(category, format!("record is {e}")));
            }
        }
        let n = rec.fields.len();
        rec.field_rename.clear();
        rec.field_rename.resize(n, NONE);
        rec.field_col.clear();
        rec.field_col.resize(n, NONE);
        rec.col_field.clear();
        rec.col_field.resize(self.columns.len(), NONE);
        rec.col_val.clear();
        rec.col_val.resize(self.columns.len(), Slot::NULL);
        Ok(())
    }

    /// One pass over the fields: renames, filters, columns. A matching filter drops the record
    /// whatever else it holds, so it is decided before a duplicate fails it.
    #[inline]
    fn match_fields(&self, rec: &mut Record<'_>) -> Result<(), Verdict> {
        let mut dropped = None;
        let mut duplicate: Option<String> = None;
        let mut hint = 0;
        for fi in 0..rec.fields.len() {
            let f = rec.fields[fi];
            let key = f.key();
            let Some(entry) = self.keys.lookup(&key, &mut hint) else {
                continue;
            };
            rec.field_rename[fi] = entry.rename;
            if dropped.is_none() {
                dropped = entry
                    .filters
                    .iter()
                    .find(|&&i| value_matches(&f, &self.filters[i as usize].1))
                    .map(|&i| i as usize);
            }
            if entry.column != NONE {
                let ci = entry.column as usize;
                if rec.col_field[ci] == NONE {
                    rec.col_field[ci] = fi as u32;
                    rec.field_col[fi] = ci as u32;
                } else if duplicate.is_none() {
                    duplicate = Some(self.columns[ci].name.clone());
                }
            }
        }
        if let Some(filter) = dropped {
            return Err(Verdict::Dropped { filter });
        }
        if let Some(name) = duplicate {
            return Err(failed(
                "duplicate_field",
                format!("field {name} appears more than once"),
            ));
        }
        Ok(())
    }

    /// Each declared column typed from its field; a missing or null required column fails.
    #[inline]
    fn type_columns(&self, rec: &mut Record<'_>) -> Result<(), Verdict> {
        for (ci, col) in self.columns.iter().enumerate() {
            let fi = rec.col_field[ci];
            let value = if fi == NONE {
                Slot::NULL
            } else {
                typed(col, &rec.fields[fi as usize]).map_err(Verdict::Failed)?
            };
            if value.tag == Tag::Null && !col.nullable {
                return Err(if fi == NONE {
                    failed(
                        "missing_field",
                        format!("missing required field {}", col.name),
                    )
                } else {
                    failed("null_field", format!("required field {} is null", col.name))
                });
            }
            rec.col_val[ci] = value;
        }
        Ok(())
    }

    /// The record's event time from its time column or field, if it has one (`None`: arrival).
    #[inline]
    fn event_time(&self, rec: &mut Record<'_>) -> Result<Option<i64>, Verdict> {
        let at = match &self.time {
            TimeSource::Arrival => return Ok(None),
            TimeSource::Column(ci) => match rec.col_val[*ci].get() {
                Typed::Ts(us) => return Ok(Some(us)),
                Typed::Date(d) => return Ok(Some(d as i64 * MICROS_PER_DAY)),
                Typed::Raw => rec.col_field[*ci] as usize,
                _ => return Ok(None),
            },
            TimeSource::Field(name) => {
                let found = (0..rec.fields.len()).find(|&fi| match rec.field_rename[fi] {
                    NONE => rec.fields[fi].key() == name.as_str(),
                    r => self.renames[r as usize].1 == *name,
                });
                match found {
                    Some(fi) if rec.fields[fi].kind != Kind::Null => fi,
                    _ => return Ok(None),
                }
            }
        };
        let us = time_of(&rec.fields[at]).map_err(Verdict::Failed)?;
        rec.time_field = Some((at, us));
        Ok(Some(us))
    }

    /// What a field's value is written as.
    fn normalised(&self, rec: &Record<'_>, fi: usize) -> Typed {
        match (rec.time_field, rec.field_col[fi]) {
            (Some((t, us)), _) if t == fi => Typed::Ts(us),
            (_, NONE) => Typed::Raw,
            (_, ci) => rec.col_val[ci as usize].get(),
        }
    }

    /// Appends the normalised record (see the module docs) and a newline to `out`.
    pub fn write_json(&self, rec: &Record<'_>, out: &mut Vec<u8>) {
        match rec.object {
            Some(object) if object.compact => self.write_spliced(rec, object, out),
            _ => self.write_fields(rec, out),
        }
        out.push(b'\n');
    }

    /// A compact record is already written as the output wants it, except for renamed keys and
    /// normalised values: copy it in spans between those.
    fn write_spliced(&self, rec: &Record<'_>, object: Object, out: &mut Vec<u8>) {
        let data = rec.data;
        let mut copied = object.start;
        for (fi, f) in rec.fields.iter().enumerate() {
            let rename = rec.field_rename[fi];
            if rename != NONE {
                let at = jsonrec::offset_in(data, f.raw_key) - 1;
                out.extend_from_slice(&data[copied..at]);
                jsonrec::write_str(out, &self.renames[rename as usize].1);
                copied = at + f.raw_key.len() + 2;
            }
            let value = self.normalised(rec, fi);
            if matches!(value, Typed::Ts(_) | Typed::Date(_)) {
                let at = jsonrec::offset_in(data, f.value);
                out.extend_from_slice(&data[copied..at]);
                write_value(out, value);
                copied = at + f.value.len();
            }
        }
        out.extend_from_slice(&data[copied..object.end]);
    }

    /// Any other record: field by field, without whitespace between tokens.
    fn write_fields(&self, rec: &Record<'_>, out: &mut Vec<u8>) {
        out.push(b'{');
        for (fi, f) in rec.fields.iter().enumerate() {
            if fi > 0 {
                out.push(b',');
            }
            match rec.field_rename[fi] {
                NONE => {
                    out.push(b'"');
                    out.extend_from_slice(f.raw_key.as_bytes());
                    out.push(b'"');
                }
                r => jsonrec::write_str(out, &self.renames[r as usize].1),
            }
            out.push(b':');
            match self.normalised(rec, fi) {
                v @ (Typed::Ts(_) | Typed::Date(_)) => write_value(out, v),
                _ => out.extend_from_slice(f.value.as_bytes()),
            }
        }
        out.push(b'}');
    }

    /// The value of column `ci` of an accepted record, as a cell for an Arrow builder.
    pub fn cell<'r>(&self, rec: &'r Record<'_>, ci: usize) -> Cell<'r> {
        match rec.col_val[ci].get() {
            Typed::Null => Cell::Null,
            Typed::I64(v) => Cell::I64(v),
            Typed::F64(v) => Cell::F64(v),
            Typed::Bool(v) => Cell::Bool(v),
            Typed::Date(v) => Cell::Date(v),
            Typed::Ts(v) => Cell::Ts(v),
            Typed::Raw => {
                let fi = rec.col_field[ci] as usize;
                if let Some((t, us)) = rec.time_field
                    && t == fi
                {
                    // The time field in a string column: normalised like the JSON output.
                    let mut out = Vec::with_capacity(27);
                    write_rfc3339(&mut out, us);
                    return Cell::Owned(String::from_utf8(out).expect("ASCII"));
                }
                let f = &rec.fields[fi];
                match f.str_value() {
                    Some(Cow::Borrowed(s)) => Cell::Str(s),
                    Some(Cow::Owned(s)) => Cell::Owned(s),
                    // Objects, arrays, numbers and booleans in a string column: their JSON text.
                    None => Cell::Str(f.value),
                }
            }
        }
    }
}

/// Writes a normalised timestamp or date as a JSON string.
fn failed(category: &'static str, reason: String) -> Verdict {
    Verdict::Failed(Reject::new(category, reason))
}

fn write_value(out: &mut Vec<u8>, value: Typed) {
    out.push(b'"');
    match value {
        Typed::Ts(us) => write_rfc3339(out, us),
        Typed::Date(d) => write_date(out, d),
        _ => unreachable!("only timestamps and dates are rewritten"),
    }
    out.push(b'"');
}

/// Whether a filter value matches a field: a string's content, or another value's JSON text.
fn value_matches(f: &Field<'_>, value: &str) -> bool {
    match f.kind {
        Kind::String => f.str_value().is_some_and(|s| s == value),
        _ => f.value == value,
    }
}

fn wrong_type(col: &ColSpec, f: &Field<'_>) -> Reject {
    Reject::new(
        "wrong_type",
        format!(
            "field {}: {} {} is not a valid {}",
            col.name,
            f.kind.name(),
            shown(f.value),
            col.ty.glue()
        ),
    )
}

/// Checks a field's value against its column's type (landing's JSON rules).
fn typed(col: &ColSpec, f: &Field<'_>) -> Result<Slot, Reject> {
    let integer = |f: &Field<'_>| -> Option<i64> {
        let text = f.value.as_bytes();
        if text.iter().any(|b| matches!(b, b'.' | b'e' | b'E')) {
            return None;
        }
        lexical_core::parse::<i64>(text).ok()
    };
    Ok(Slot::new(match (col.ty, f.kind) {
        (_, Kind::Null) => Typed::Null,
        (ColumnType::String, _) => Typed::Raw,
        (ColumnType::Int64, Kind::Number) => {
            Typed::I64(integer(f).ok_or_else(|| wrong_type(col, f))?)
        }
        (ColumnType::Int32, Kind::Number) => Typed::I64(
            integer(f)
                .filter(|v| i32::try_from(*v).is_ok())
                .ok_or_else(|| wrong_type(col, f))?,
        ),
        (ColumnType::Double, Kind::Number) => Typed::F64(
            lexical_core::parse::<f64>(f.value.as_bytes())
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| wrong_type(col, f))?,
        ),
        (ColumnType::Boolean, Kind::Bool) => Typed::Bool(f.value == "true"),
        (ColumnType::Timestamp, Kind::String) => {
            let s = f.str_value().unwrap_or_default();
            Typed::Ts(fast_timestamp(&s).ok_or_else(|| {
                Reject::new(
                    "invalid_value",
                    format!(
                        "field {}: {:?} is not a valid timestamp",
                        col.name,
                        shown(&s)
                    ),
                )
            })?)
        }
        (ColumnType::Date, Kind::String) => {
            let s = f.str_value().unwrap_or_default();
            Typed::Date(parse_date(s.trim()).ok_or_else(|| {
                Reject::new(
                    "invalid_value",
                    format!("field {}: {:?} is not a valid date", col.name, shown(&s)),
                )
            })?)
        }
        _ => return Err(wrong_type(col, f)),
    }))
}

/// The event time in a time field that is not a typed column.
fn time_of(f: &Field<'_>) -> Result<i64, Reject> {
    let key = f.key();
    match f.kind {
        Kind::String => {
            let s = f.str_value().unwrap_or_default();
            fast_timestamp(&s).ok_or_else(|| {
                Reject::new(
                    "invalid_time",
                    format!("time field {key}: {:?} is not a valid timestamp", shown(&s)),
                )
            })
        }
        k => Err(Reject::new(
            "invalid_time",
            format!(
                "time field {key}: a {} is not a timestamp (expected RFC 3339 text)",
                k.name()
            ),
        )),
    }
}

#[cfg(test)]
#[path = "record_tests.rs"]
pub(crate) mod tests;
