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
        let fail = |c, r: String| Verdict::Failed(Reject::new(c, r));
        if data.len() > self.max_record_bytes {
            return fail(
                "too_large",
                format!(
                    "record is {} bytes; the limit is {}",
                    data.len(),
                    self.max_record_bytes
                ),
            );
        }
        match jsonrec::parse_object(data, &mut rec.fields) {
            Ok(object) => rec.object = Some(object),
            Err(e) => {
                let category = match e {
                    JsonError::Empty => return fail("empty", "record is empty".into()),
                    JsonError::Utf8(_) => "invalid_utf8",
                    JsonError::NotObject(_) => "not_an_object",
                    JsonError::Syntax { .. } | JsonError::TooDeep => "invalid_json",
                };
                return fail(category, format!("record is {e}"));
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

        // One pass over the fields: renames, filters, columns. A matching filter drops the record
        // whatever else it holds, so it is decided before a duplicate fails it.
        let mut dropped = None;
        let mut duplicate: Option<String> = None;
        let mut hint = 0;
        for fi in 0..n {
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
            return Verdict::Dropped { filter };
        }
        if let Some(name) = duplicate {
            return fail(
                "duplicate_field",
                format!("field {name} appears more than once"),
            );
        }
        for (ci, col) in self.columns.iter().enumerate() {
            let fi = rec.col_field[ci];
            let value = if fi == NONE {
                Slot::NULL
            } else {
                match typed(col, &rec.fields[fi as usize]) {
                    Ok(v) => v,
                    Err(r) => return Verdict::Failed(r),
                }
            };
            if value.tag == Tag::Null && !col.nullable {
                return if fi == NONE {
                    fail(
                        "missing_field",
                        format!("missing required field {}", col.name),
                    )
                } else {
                    fail("null_field", format!("required field {} is null", col.name))
                };
            }
            rec.col_val[ci] = value;
        }
        let event = match &self.time {
            TimeSource::Arrival => None,
            TimeSource::Column(ci) => match rec.col_val[*ci].get() {
                Typed::Ts(us) => Some(us),
                Typed::Date(d) => Some(d as i64 * MICROS_PER_DAY),
                Typed::Raw => {
                    let fi = rec.col_field[*ci] as usize;
                    match time_of(&rec.fields[fi]) {
                        Ok(us) => {
                            rec.time_field = Some((fi, us));
                            Some(us)
                        }
                        Err(r) => return Verdict::Failed(r),
                    }
                }
                _ => None,
            },
            TimeSource::Field(name) => {
                let at = (0..n).find(|&fi| match rec.field_rename[fi] {
                    NONE => rec.fields[fi].key() == name.as_str(),
                    r => self.renames[r as usize].1 == *name,
                });
                match at {
                    None => None,
                    Some(fi) if rec.fields[fi].kind == Kind::Null => None,
                    Some(fi) => match time_of(&rec.fields[fi]) {
                        Ok(us) => {
                            rec.time_field = Some((fi, us));
                            Some(us)
                        }
                        Err(r) => return Verdict::Failed(r),
                    },
                }
            }
        };
        match event {
            Some(us) => Verdict::Accepted {
                event_us: us,
                from_field: true,
            },
            None => Verdict::Accepted {
                event_us: arrival_us,
                from_field: false,
            },
        }
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

/// The hour an event belongs to: its partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HourKey {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
}

impl HourKey {
    pub fn of(us: i64) -> Self {
        let (year, month, day) = civil_from_days(us.div_euclid(MICROS_PER_DAY));
        let hour = (us.rem_euclid(MICROS_PER_DAY) / 3_600_000_000) as u32;
        Self {
            year,
            month,
            day,
            hour,
        }
    }

    /// `YYYYMMDDHH` in `buf` for years 0 to 9999 (else `None`), without allocating.
    pub fn fixed_digits<'b>(&self, buf: &'b mut [u8; 10]) -> Option<&'b str> {
        if !(0..=9999).contains(&self.year) {
            return None;
        }
        let mut put = |at: usize, v: u32, width: usize| {
            let mut v = v;
            for i in (at..at + width).rev() {
                buf[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, self.year as u32, 4);
        put(4, self.month, 2);
        put(6, self.day, 2);
        put(8, self.hour, 2);
        std::str::from_utf8(buf).ok()
    }

    /// The length of the year's text (4 for years 0 to 9999).
    pub fn year_len(&self) -> usize {
        if (0..=9999).contains(&self.year) {
            4
        } else {
            self.year.to_string().len()
        }
    }

    /// The partition values in [`PARTITION_KEYS`] order: `2024`, `01`, `15`, `10`.
    pub fn values(&self) -> [String; 4] {
        [
            format!("{:04}", self.year),
            format!("{:02}", self.month),
            format!("{:02}", self.day),
            format!("{:02}", self.hour),
        ]
    }

    /// `year=2024/month=01/day=15/hour=10`.
    pub fn path(&self) -> String {
        PARTITION_KEYS
            .iter()
            .zip(self.values())
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// A dataset's compiled spec, as the stream functions use it.
#[derive(Debug)]
pub struct Compiled {
    pub dataset: Dataset,
    pub schema: TableSchema,
    pub spec: RecordSpec,
}

/// The stream's dataset and compiled spec, cached per warm container for
/// [`crate::catalog::cache::DATASET_CACHE_TTL`] (declarations change rarely; a new one is picked up
/// within a minute).
pub struct SpecCache {
    cfg: StreamConfig,
    max_record_bytes: usize,
    /// Keyed by the dataset id (one entry).
    cached: TtlCache<Compiled>,
}

impl SpecCache {
    pub fn new(cfg: StreamConfig) -> Self {
        Self {
            cfg,
            max_record_bytes: MAX_RECORD_BYTES,
            cached: TtlCache::datasets(clock::system()),
        }
    }

    /// Measures the cache's TTL on `clock` (emptying the cache).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.cached = self.cached.with_clock(clock);
        self
    }

    /// Compiles specs with another record size limit ([`RecordSpec::with_max_record_bytes`]).
    pub fn with_max_record_bytes(mut self, max: usize) -> Self {
        self.max_record_bytes = max;
        self
    }

    pub fn config(&self) -> &StreamConfig {
        &self.cfg
    }

    /// The dataset's compiled spec: cached, or read from the catalog (declared schema, else the
    /// schema recorded from its first file).
    pub async fn get<C: DatasetCatalog>(&self, catalog: &C) -> Result<Arc<Compiled>, StreamError> {
        let id = &self.cfg.dataset;
        self.cached
            .get_or_try_load(id, || self.compile(catalog))
            .await
    }

    async fn compile<C: DatasetCatalog>(&self, catalog: &C) -> Result<Compiled, StreamError> {
        let id = &self.cfg.dataset;
        let dataset = catalog
            .get(id)
            .await?
            .ok_or_else(|| StreamError::UnknownDataset(id.clone()))?;
        let schema = match &dataset.schema {
            Some(s) => s.clone(),
            None => catalog
                .recorded_schema(id)
                .await?
                .ok_or_else(|| StreamError::Spec {
                    id: id.clone(),
                    reason: "declares no schema and none is recorded yet; stream records are \
                             validated against one"
                        .into(),
                })?,
        };
        let spec = RecordSpec::new(&dataset, &schema, &self.cfg)?
            .with_max_record_bytes(self.max_record_bytes);
        Ok(Compiled {
            dataset,
            schema,
            spec,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::schema::{Column, parse_timestamp};
    use proptest::prelude::*;

    /// The sample stream dataset (`web.events` in tests/data/datasets.json).
    pub(crate) fn web_events() -> (Dataset, TableSchema) {
        let all: Vec<Dataset> = serde_json::from_slice(
            &std::fs::read(format!(
                "{}/../../tests/data/datasets.json",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap(),
        )
        .unwrap();
        let ds = all.into_iter().find(|d| d.id == "web.events").unwrap();
        let schema = ds.schema.clone().unwrap();
        (ds, schema)
    }

    pub(crate) fn stream_config() -> StreamConfig {
        StreamConfig {
            dataset: "web.events".into(),
            time_field: None,
            renames: vec![("userId".into(), "user_id".into())],
            drop_if: vec![("event_type".into(), "heartbeat".into())],
        }
    }

    pub(crate) fn spec() -> RecordSpec {
        let (ds, schema) = web_events();
        RecordSpec::new(&ds, &schema, &stream_config()).unwrap()
    }

    const ARRIVAL: i64 = 1_705_312_800_000_000; // 2024-01-15T10:00:00Z

    fn run(spec: &RecordSpec, rec: &str) -> (Verdict, String) {
        let mut scratch = Scratch::default();
        let (v, r) = spec.check(rec.as_bytes(), ARRIVAL, &mut scratch);
        let mut out = Vec::new();
        if matches!(v, Verdict::Accepted { .. }) {
            spec.write_json(&r, &mut out);
        }
        scratch.give_back(r);
        (v, String::from_utf8(out).unwrap())
    }

    fn failed(v: &Verdict) -> (&'static str, &str) {
        match v {
            Verdict::Failed(r) => (r.category, r.reason.as_str()),
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn accepts_and_normalises_a_good_record() {
        let s = spec();
        let (v, out) = run(
            &s,
            r#"{"event_id":"e1","event_type":"page_view","userId":"u1","ts":"2024-01-15T11:30:00.250+01:00","page":"/a","duration_ms":12,"revenue":1.50,"consent":true,"ctx":{"ua":"x"},"extra":[1, 2]}"#,
        );
        assert_eq!(
            v,
            Verdict::Accepted {
                event_us: ARRIVAL + 1_800_000_000 + 250_000,
                from_field: true
            }
        );
        assert_eq!(
            out,
            "{\"event_id\":\"e1\",\"event_type\":\"page_view\",\"user_id\":\"u1\",\"ts\":\"2024-01-15T10:30:00.250000Z\",\"page\":\"/a\",\"duration_ms\":12,\"revenue\":1.50,\"consent\":true,\"ctx\":{\"ua\":\"x\"},\"extra\":[1, 2]}\n"
        );
        let back: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back["user_id"], "u1");
    }

    #[test]
    fn compact_and_spaced_records_come_out_the_same() {
        let s = spec();
        let compact = r#"{"event_id":"e\u0031","event_type":"click","userId":"u1","ts":"2024-01-15 10:00:00","extra":{"a": [1, 2]},"n":-1.5e3}"#;
        let spaced = "\n{ \"event_id\" : \"e\\u0031\",\t\"event_type\":\"click\", \"userId\":\"u1\",\"ts\": \"2024-01-15 10:00:00\",\"extra\":{\"a\": [1, 2]} ,\"n\":-1.5e3 }\r\n";
        let want = "{\"event_id\":\"e\\u0031\",\"event_type\":\"click\",\"user_id\":\"u1\",\"ts\":\"2024-01-15T10:00:00Z\",\"extra\":{\"a\": [1, 2]},\"n\":-1.5e3}\n";
        assert_eq!(run(&s, compact).1, want);
        assert_eq!(run(&s, spaced).1, want);
        // A key needing escapes when renamed.
        let (ds, schema) = web_events();
        let mut cfg = stream_config();
        cfg.renames = vec![("page".into(), "pa\"ge".into())];
        let s = RecordSpec::new(&ds, &schema, &cfg).unwrap();
        let rec = r#"{"event_id":"e","event_type":"t","user_id":"u","ts":"2024-01-15T10:00:00Z","page":"/"}"#;
        assert_eq!(
            run(&s, rec).1,
            "{\"event_id\":\"e\",\"event_type\":\"t\",\"user_id\":\"u\",\"ts\":\"2024-01-15T10:00:00Z\",\"pa\\\"ge\":\"/\"}\n"
        );
    }

    #[test]
    fn scratch_buffers_keep_their_allocations() {
        let s = spec();
        let mut scratch = Scratch::default();
        let rec = br#"{"event_id":"e","event_type":"t","user_id":"u","ts":"2024-01-15T10:00:00Z","page":"/","duration_ms":1}"#;
        let (_, r) = s.check(rec, ARRIVAL, &mut scratch);
        scratch.give_back(r);
        let cap = scratch.fields.capacity();
        assert!(cap >= 6, "{cap}");
        let (_, r) = s.check(rec, ARRIVAL, &mut scratch);
        assert!(r.fields.capacity() >= 6, "the same allocation, reused");
        scratch.give_back(r);
        assert_eq!(scratch.fields.capacity(), cap);
    }

    #[test]
    fn keys_are_found_in_any_order() {
        let s = spec();
        let ordered = r#"{"event_id":"e","event_type":"t","userId":"u","ts":"2024-01-15T10:00:00Z","page":"/","duration_ms":1,"revenue":2.5,"consent":false,"ctx":"c"}"#;
        let shuffled = r#"{"ctx":"c","consent":false,"revenue":2.5,"duration_ms":1,"page":"/","ts":"2024-01-15T10:00:00Z","userId":"u","event_type":"t","event_id":"e","other":1}"#;
        let (ds, schema) = web_events();
        for rec in [ordered, shuffled] {
            let mut scratch = Scratch::default();
            let (v, r) = s.check(rec.as_bytes(), ARRIVAL, &mut scratch);
            assert!(matches!(v, Verdict::Accepted { .. }), "{v:?}");
            let at = |n: &str| schema.index_of(n).unwrap();
            assert_eq!(s.cell(&r, at("user_id")), Cell::Str("u"));
            assert_eq!(s.cell(&r, at("revenue")), Cell::F64(2.5));
            assert_eq!(s.cell(&r, at("consent")), Cell::Bool(false));
            assert_eq!(s.cell(&r, at("ctx")), Cell::Str("c"));
            scratch.give_back(r);
        }
        // Long names (past the eight-byte prefix) that share it.
        let mut schema2 = schema.clone();
        for name in [
            "long_field_a",
            "long_field_b",
            "a_very_long_field_name_1",
            "a_very_long_field_name_2",
        ] {
            schema2.columns.push(Column {
                name: name.into(),
                ty: ColumnType::Int64,
                nullable: true,
            });
        }
        let s = RecordSpec::new(&ds, &schema2, &stream_config()).unwrap();
        let rec = r#"{"long_field_b":2,"event_id":"e","event_type":"t","user_id":"u","ts":"2024-01-15T10:00:00Z","long_field_a":1,"long_field_c":"x","a_very_long_field_name_2":4,"a_very_long_field_name_1":3,"a_very_long_field_name_3":5}"#;
        let mut scratch = Scratch::default();
        let (v, r) = s.check(rec.as_bytes(), ARRIVAL, &mut scratch);
        assert!(matches!(v, Verdict::Accepted { .. }), "{v:?}");
        assert_eq!(
            s.cell(&r, schema2.index_of("long_field_a").unwrap()),
            Cell::I64(1)
        );
        assert_eq!(
            s.cell(&r, schema2.index_of("long_field_b").unwrap()),
            Cell::I64(2)
        );
        for (name, v) in [
            ("a_very_long_field_name_1", 3),
            ("a_very_long_field_name_2", 4),
        ] {
            assert_eq!(s.cell(&r, schema2.index_of(name).unwrap()), Cell::I64(v));
        }
        scratch.give_back(r);
    }

    #[test]
    fn drops_on_filters_before_validation() {
        let s = spec();
        // No required fields at all, but a heartbeat.
        let (v, _) = run(&s, r#"{"event_type":"heartbeat","seq":9}"#);
        assert_eq!(v, Verdict::Dropped { filter: 0 });
        // A filter on a non-string value matches its JSON text.
        let (ds, schema) = web_events();
        let mut cfg = stream_config();
        cfg.drop_if = vec![("ping".into(), "true".into())];
        let s = RecordSpec::new(&ds, &schema, &cfg).unwrap();
        // A duplicate field before the filter field does not stop the drop.
        assert_eq!(
            run(&s, r#"{"event_id":"a","event_id":"b","ping":true}"#).0,
            Verdict::Dropped { filter: 0 }
        );
        assert_eq!(
            run(&s, r#"{"ping":true}"#).0,
            Verdict::Dropped { filter: 0 }
        );
        assert_ne!(
            run(&s, r#"{"ping":"yes"}"#).0,
            Verdict::Dropped { filter: 0 }
        );
    }

    #[test]
    fn bad_records_fail_with_a_category_and_a_reason() {
        let s = spec();
        let good =
            r#""event_id":"e1","event_type":"click","user_id":"u1","ts":"2024-01-15T10:00:00Z""#;
        let cases = [
            ("", "empty", "record is empty"),
            ("  \n", "empty", "record is empty"),
            ("{\"event_id\":", "invalid_json", "record is invalid JSON"),
            ("[1,2]", "not_an_object", "not an object"),
            (
                r#"{"event_id":"e1","event_type":"click","ts":"2024-01-15T10:00:00Z"}"#,
                "missing_field",
                "missing required field user_id",
            ),
            (
                &format!("{{{good},\"duration_ms\":\"12\"}}"),
                "wrong_type",
                "field duration_ms: string \"12\" is not a valid bigint",
            ),
            (
                &format!("{{{good},\"duration_ms\":1.5}}"),
                "wrong_type",
                "is not a valid bigint",
            ),
            (
                &format!("{{{good},\"consent\":\"yes\"}}"),
                "wrong_type",
                "field consent: string \"yes\" is not a valid boolean",
            ),
            (
                r#"{"event_id":"e1","event_type":"click","user_id":null,"ts":"2024-01-15T10:00:00Z"}"#,
                "null_field",
                "required field user_id is null",
            ),
            (
                r#"{"event_id":"e1","event_type":"click","user_id":"u","ts":"yesterday"}"#,
                "invalid_value",
                "field ts: \"yesterday\" is not a valid timestamp",
            ),
            (
                &format!("{{{good},\"userId\":\"u2\"}}"),
                "duplicate_field",
                "field user_id appears more than once",
            ),
        ];
        for (rec, category, reason) in cases {
            let (v, _) = run(&s, rec);
            let (c, r) = failed(&v);
            assert_eq!(c, category, "{rec:?}: {r}");
            assert!(r.contains(reason), "{rec:?}: {r}");
        }
        let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(MAX_RECORD_BYTES));
        let v = run(&s, &big).0;
        let (c, r) = failed(&v);
        assert_eq!(
            (c, r),
            ("too_large", "record is 1024010 bytes; the limit is 1024000")
        );
        let unbounded = spec().with_max_record_bytes(usize::MAX);
        assert_eq!(failed(&run(&unbounded, &big).0).0, "missing_field");
        let (c, _) = failed(
            &s.check(b"{\"a\":\"\xff\"}", ARRIVAL, &mut Scratch::default())
                .0,
        );
        assert_eq!(c, "invalid_utf8");
    }

    #[test]
    fn event_time_falls_back_to_arrival() {
        let s = spec();
        assert_eq!(s.time_field(), Some("ts"));
        let (ds, mut schema) = web_events();
        // `ts` optional: without it, the arrival time decides.
        schema.columns.iter_mut().for_each(|c| c.nullable = true);
        let s = RecordSpec::new(&ds, &schema, &stream_config()).unwrap();
        for rec in [r#"{"event_id":"e1"}"#, r#"{"event_id":"e1","ts":null}"#] {
            assert_eq!(
                run(&s, rec).0,
                Verdict::Accepted {
                    event_us: ARRIVAL,
                    from_field: false
                }
            );
        }
        // A time field outside the schema is parsed (and normalised) too.
        let mut cfg = stream_config();
        cfg.time_field = Some("sent_at".into());
        let s = RecordSpec::new(&ds, &schema, &cfg).unwrap();
        let (v, out) = run(&s, r#"{"event_id":"e1","sent_at":"2024-01-15 12:00:00"}"#);
        assert_eq!(
            v,
            Verdict::Accepted {
                event_us: ARRIVAL + 7_200_000_000,
                from_field: true
            }
        );
        assert_eq!(
            out,
            "{\"event_id\":\"e1\",\"sent_at\":\"2024-01-15T12:00:00Z\"}\n"
        );
        let v = run(&s, r#"{"sent_at":1705312800}"#).0;
        let (c, r) = failed(&v);
        assert_eq!(c, "invalid_time", "{r}");
        // A string column as the time field: parsed, and normalised in both outputs.
        let mut cfg = stream_config();
        cfg.time_field = Some("page".into());
        let s = RecordSpec::new(&ds, &schema, &cfg).unwrap();
        let (v, out) = run(
            &s,
            r#"{"event_id":"e1","page":"2024-01-15T12:00:00+02:00"}"#,
        );
        assert_eq!(
            v,
            Verdict::Accepted {
                event_us: ARRIVAL,
                from_field: true
            }
        );
        assert_eq!(
            out,
            "{\"event_id\":\"e1\",\"page\":\"2024-01-15T10:00:00Z\"}\n"
        );
        let mut scratch = Scratch::default();
        let (_, r) = s.check(br#"{"page":"2024-01-15 10:00:00"}"#, ARRIVAL, &mut scratch);
        assert_eq!(
            s.cell(&r, schema.index_of("page").unwrap()),
            Cell::Owned("2024-01-15T10:00:00Z".into())
        );
        scratch.give_back(r);
        assert_eq!(
            failed(&run(&s, r#"{"page":"/pricing"}"#).0).0,
            "invalid_time"
        );
        // A time field of another type is a configuration error.
        let mut cfg = stream_config();
        cfg.time_field = Some("duration_ms".into());
        assert!(RecordSpec::new(&ds, &schema, &cfg).is_err());
    }

    #[test]
    fn cells_follow_the_column_types() {
        let s = spec();
        let rec = r#"{"event_id":"e\u00e9","event_type":"click","user_id":"u1","ts":"2024-01-15T10:00:00Z","duration_ms":-3,"ctx":{"a":1}}"#;
        let mut scratch = Scratch::default();
        let (v, r) = s.check(rec.as_bytes(), ARRIVAL, &mut scratch);
        assert!(matches!(v, Verdict::Accepted { .. }));
        let (_, schema) = web_events();
        let at = |n: &str| schema.index_of(n).unwrap();
        assert_eq!(s.cell(&r, at("event_id")), Cell::Owned("eé".into()));
        assert_eq!(s.cell(&r, at("user_id")), Cell::Str("u1"));
        assert_eq!(s.cell(&r, at("ts")), Cell::Ts(ARRIVAL));
        assert_eq!(s.cell(&r, at("duration_ms")), Cell::I64(-3));
        assert_eq!(s.cell(&r, at("ctx")), Cell::Str("{\"a\":1}"));
        assert_eq!(s.cell(&r, at("page")), Cell::Null);
        scratch.give_back(r);
    }

    #[test]
    fn hour_keys_and_rfc3339() {
        let k = HourKey::of(ARRIVAL + 3_599_999_999);
        assert_eq!(k.values(), ["2024", "01", "15", "10"]);
        assert_eq!(k.path(), "year=2024/month=01/day=15/hour=10");
        assert_eq!(k.fixed_digits(&mut [0; 10]), Some("2024011510"));
        assert_eq!(k.year_len(), 4);
        assert_eq!(HourKey::of(-1).values(), ["1969", "12", "31", "23"]);
        let mut out = Vec::new();
        write_rfc3339(&mut out, ARRIVAL + 5);
        assert_eq!(out, b"2024-01-15T10:00:00.000005Z");
        out.clear();
        write_rfc3339(&mut out, -1_000_000);
        assert_eq!(out, b"1969-12-31T23:59:59Z");
        let _ = Column {
            name: String::new(),
            ty: ColumnType::String,
            nullable: true,
        };
    }

    proptest! {
        #[test]
        fn civil_dates_agree_with_chrono(days in -800_000i64..800_000) {
            let d = chrono::NaiveDate::from_num_days_from_ce_opt((days + 719_163) as i32).unwrap();
            use chrono::Datelike;
            prop_assert_eq!(civil_from_days(days), (d.year() as i64, d.month(), d.day()));
            prop_assert_eq!(days_from_civil(d.year() as i64, d.month(), d.day()), days);
        }

        /// The fast path accepts nothing `parse_timestamp` reads differently, and normalising
        /// round-trips.
        #[test]
        fn fast_timestamps_agree_with_parse_timestamp(
            y in 1900u32..2100, mo in 0u32..14, d in 0u32..32, h in 0u32..25, mi in 0u32..61, s in 0u32..61,
            frac in prop::option::of("[0-9]{1,10}"),
            sep in prop::sample::select(vec!["T", " ", "t"]),
            tz in prop::sample::select(vec!["", "Z", "z", "+01:00", "-05:30", "+2400", "+00:60", "+05:45"]),
        ) {
            let text = format!(
                "{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}{}{tz}",
                frac.map(|f| format!(".{f}")).unwrap_or_default()
            );
            if let Some(us) = fast_path(text.as_bytes()) {
                prop_assert_eq!(parse_timestamp(&text), Some(us), "{}", text);
                let mut out = Vec::new();
                write_rfc3339(&mut out, us);
                prop_assert_eq!(fast_timestamp(std::str::from_utf8(&out).unwrap()), Some(us));
            }
        }
    }
}
