//! Table schemas as datasets declare them, value parsing into typed cells, Arrow builders, and
//! schema inference from a sample.
//!
//! Invariants:
//! - Parsing is total and strict: a value either parses into its column's type or yields a reason
//!   that names the column and the value (the row is then rejected, never silently nulled).
//! - An empty field is NULL; a NULL in a non-nullable column is a rejection.
//! - Timestamps are stored as microseconds since the epoch, UTC. Values with an offset are
//!   converted; values without one are taken as UTC.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int32Builder, Int64Builder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

/// A column's logical type, as written in dataset declarations (`"type": "int64"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    String,
    Int32,
    Int64,
    Double,
    Boolean,
    Date,
    Timestamp,
}

impl ColumnType {
    pub fn arrow(self) -> DataType {
        match self {
            ColumnType::String => DataType::Utf8,
            ColumnType::Int32 => DataType::Int32,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Double => DataType::Float64,
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::Date => DataType::Date32,
            ColumnType::Timestamp => {
                DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
            }
        }
    }

    /// The Hive/Glue type name (what Athena shows).
    pub fn glue(self) -> &'static str {
        match self {
            ColumnType::String => "string",
            ColumnType::Int32 => "int",
            ColumnType::Int64 => "bigint",
            ColumnType::Double => "double",
            ColumnType::Boolean => "boolean",
            ColumnType::Date => "date",
            ColumnType::Timestamp => "timestamp",
        }
    }

    /// Maps an Arrow type back (Parquet pass-through); unknown types map to `None`.
    pub fn from_arrow(dt: &DataType) -> Option<Self> {
        Some(match dt {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColumnType::String,
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::UInt8
            | DataType::UInt16 => ColumnType::Int32,
            DataType::Int64 | DataType::UInt32 => ColumnType::Int64,
            DataType::Float32 | DataType::Float64 => ColumnType::Double,
            DataType::Boolean => ColumnType::Boolean,
            DataType::Date32 | DataType::Date64 => ColumnType::Date,
            DataType::Timestamp(_, _) => ColumnType::Timestamp,
            _ => return None,
        })
    }
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ColumnType,
    #[serde(default = "default_true")]
    pub nullable: bool,
}

/// Ordered columns of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TableSchema {
    pub columns: Vec<Column>,
}

impl TableSchema {
    pub fn arrow(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| Field::new(&c.name, c.ty.arrow(), c.nullable))
                .collect::<Vec<_>>(),
        ))
    }

    /// The schema inferred from per-column guesses: every column nullable.
    pub fn inferred(names: &[String], guesses: &[TypeGuess]) -> TableSchema {
        let columns = names
            .iter()
            .zip(guesses)
            .map(|(n, g)| Column {
                name: n.clone(),
                ty: g.column_type(),
                nullable: true,
            })
            .collect();
        TableSchema { columns }
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Whether a file with schema `self` may be served as it is under the table schema `table`
    /// (a Parquet file copied through): every file column is a table column of the same type
    /// (names compared case-insensitively, as Glue and the engines do), and every required table
    /// column is in the file. A nullable table column may be absent (readers see nulls). The
    /// error names each offending column.
    pub fn conforms_to(&self, table: &TableSchema) -> Result<(), String> {
        let find = |cols: &[Column], name: &str| {
            cols.iter()
                .find(|c| c.name.eq_ignore_ascii_case(name))
                .cloned()
        };
        let mut problems = Vec::new();
        for c in &self.columns {
            match find(&table.columns, &c.name) {
                None => problems.push(format!("column {} is not declared", c.name)),
                Some(t) if t.ty != c.ty => problems.push(format!(
                    "column {} is {} in the file but declared {}",
                    c.name,
                    c.ty.glue(),
                    t.ty.glue()
                )),
                Some(_) => {}
            }
        }
        for t in table.columns.iter().filter(|t| !t.nullable) {
            if find(&self.columns, &t.name).is_none() {
                problems.push(format!("required column {} is missing", t.name));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// The schema without the named columns (partition columns live in the path, not the file).
    pub fn without(&self, names: &[String]) -> TableSchema {
        TableSchema {
            columns: self
                .columns
                .iter()
                .filter(|c| !names.contains(&c.name))
                .cloned()
                .collect(),
        }
    }
}

/// One parsed value, borrowed from the input where possible.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Null,
    Str(&'a str),
    Owned(String),
    I64(i64),
    F64(f64),
    Bool(bool),
    Date(i32),
    Ts(i64),
}

const EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// Parses `YYYY-MM-DD` (validated: no 30 February) into days since the epoch.
/// Also accepts the US-style forms [`parse_timestamp`] does, at midnight (`6/7/94 0:00`).
pub fn parse_date(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.get(1..3).is_some_and(|b| b.contains(&b'/')) {
        let us = parse_us_timestamp(s)?;
        return (us.rem_euclid(86_400_000_000) == 0).then(|| us.div_euclid(86_400_000_000) as i32);
    }
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as u32)
        })
    };
    let d = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    Some(d.num_days_from_ce_compat() - EPOCH_DAYS_FROM_CE)
}

trait DaysFromCe {
    fn num_days_from_ce_compat(&self) -> i32;
}
impl DaysFromCe for NaiveDate {
    fn num_days_from_ce_compat(&self) -> i32 {
        use chrono::Datelike;
        self.num_days_from_ce()
    }
}

/// Accepts RFC 3339 (any offset), `YYYY-MM-DD HH:MM:SS[.fraction]` and `YYYY-MM-DDTHH:MM:SS[.fraction]`
/// (taken as UTC). Returns microseconds since the epoch.
///
/// Also accepts US-style `M/D/YY[YY] H:MM[:SS]` and `M/D/YY[YY]` (as Oracle and spreadsheet exports
/// write them, e.g. `6/7/94 0:00`); two-digit years 70–99 are 19xx, 00–69 are 20xx.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    if s.as_bytes().get(1..3).is_some_and(|b| b.contains(&b'/')) {
        return parse_us_timestamp(s);
    }
    if s.len() < 19 {
        return None;
    }
    if let Some(us) = parse_plain_timestamp(s.as_bytes()) {
        return Some(us);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    None
}

/// Fast path for the most common layout, `YYYY-MM-DD[ T]HH:MM:SS[.f{1,9}]` without an offset
/// (what DMS writes for its timestamp column); anything else goes to the general parsers.
fn parse_plain_timestamp(b: &[u8]) -> Option<i64> {
    if b.len() < 19 || !matches!(b[10], b' ' | b'T') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as u32)
        })
    };
    let micros = match &b[19..] {
        [] => 0,
        [b'.', frac @ ..] if (1..=9).contains(&frac.len()) => {
            let mut v: i64 = 0;
            for (i, &c) in frac.iter().enumerate() {
                if !c.is_ascii_digit() {
                    return None;
                }
                if i < 6 {
                    v = v * 10 + (c - b'0') as i64;
                }
            }
            v * 10i64.pow(6u32.saturating_sub(frac.len() as u32))
        }
        _ => return None,
    };
    let day = parse_date(std::str::from_utf8(&b[..10]).ok()?)? as i64;
    let (h, m, sec) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    Some(((day * 86_400 + (h * 3600 + m * 60 + sec) as i64) * 1_000_000) + micros)
}

fn parse_us_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let mut at = 0;
    // Reads 1..=max digits, then expects `sep` (or the end when `sep` is None).
    let mut number = |max: usize, sep: Option<u8>| -> Option<(u32, usize)> {
        let start = at;
        let mut v = 0u32;
        while at < b.len() && b[at].is_ascii_digit() && at - start < max {
            v = v * 10 + (b[at] - b'0') as u32;
            at += 1;
        }
        let len = at - start;
        if len == 0 {
            return None;
        }
        match sep {
            Some(c) if b.get(at) == Some(&c) => at += 1,
            Some(_) => return None,
            None => {}
        }
        Some((v, len))
    };
    let (m, _) = number(2, Some(b'/'))?;
    let (d, _) = number(2, Some(b'/'))?;
    let (y, ylen) = number(4, None)?;
    let year = match ylen {
        2 if y >= 70 => 1900 + y as i32,
        2 => 2000 + y as i32,
        4 => y as i32,
        _ => return None,
    };
    let day = NaiveDate::from_ymd_opt(year, m, d)?;
    let rest = s[at..].trim();
    let secs = if rest.is_empty() {
        0
    } else {
        let t = match rest.len() {
            // The common `H:MM` / `HH:MM` without a parser round trip.
            4 | 5 => {
                let (h, mm) = rest.split_once(':')?;
                if mm.len() != 2 || !h.bytes().chain(mm.bytes()).all(|c| c.is_ascii_digit()) {
                    return None;
                }
                chrono::NaiveTime::from_hms_opt(h.parse().ok()?, mm.parse().ok()?, 0)?
            }
            _ => chrono::NaiveTime::parse_from_str(rest, "%H:%M:%S%.f").ok()?,
        };
        return Some(day.and_time(t).and_utc().timestamp_micros());
    };
    Some(day.and_hms_opt(0, 0, secs)?.and_utc().timestamp_micros())
}

pub fn parse_bool(s: &str) -> Option<bool> {
    match s.len() {
        1..=5 => match s.to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" => Some(true),
            "false" | "f" | "no" | "n" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Parses a text field into a cell of `col`'s type. Empty text is NULL.
pub fn parse_text<'a>(col: &Column, s: &'a str) -> Result<Cell<'a>, String> {
    if s.is_empty() {
        return if col.nullable {
            Ok(Cell::Null)
        } else {
            Err(format!("column {}: required value is empty", col.name))
        };
    }
    let bad = || {
        format!(
            "column {}: {:?} is not a valid {}",
            col.name,
            truncate(s, 64),
            col.ty.glue()
        )
    };
    Ok(match col.ty {
        ColumnType::String => Cell::Str(s),
        ColumnType::Int32 => {
            let v: i32 = s.trim().parse().map_err(|_| bad())?;
            Cell::I64(v as i64)
        }
        ColumnType::Int64 => Cell::I64(s.trim().parse().map_err(|_| bad())?),
        ColumnType::Double => Cell::F64(s.trim().parse().map_err(|_| bad())?),
        ColumnType::Boolean => Cell::Bool(parse_bool(s.trim()).ok_or_else(bad)?),
        ColumnType::Date => Cell::Date(parse_date(s.trim()).ok_or_else(bad)?),
        ColumnType::Timestamp => Cell::Ts(parse_timestamp(s.trim()).ok_or_else(bad)?),
    })
}

/// Fast path for numeric columns: parses the raw bytes directly (no separate UTF-8 pass).
/// Returns `None` for non-numeric columns, which go through [`parse_text`].
pub fn parse_numeric_bytes<'a>(col: &Column, raw: &[u8]) -> Option<Result<Cell<'a>, String>> {
    if !matches!(
        col.ty,
        ColumnType::Int32 | ColumnType::Int64 | ColumnType::Double
    ) {
        return None;
    }
    if raw.is_empty() {
        return Some(if col.nullable {
            Ok(Cell::Null)
        } else {
            Err(format!("column {}: required value is empty", col.name))
        });
    }
    let t = raw.trim_ascii();
    let cell = match col.ty {
        ColumnType::Int64 => lexical_core::parse::<i64>(t).ok().map(Cell::I64),
        ColumnType::Int32 => lexical_core::parse::<i32>(t)
            .ok()
            .map(|v| Cell::I64(v as i64)),
        _ => lexical_core::parse::<f64>(t).ok().map(Cell::F64),
    };
    Some(cell.ok_or_else(|| {
        let shown = String::from_utf8_lossy(&raw[..raw.len().min(64)]);
        format!(
            "column {}: {shown:?} is not a valid {}",
            col.name,
            col.ty.glue()
        )
    }))
}

/// Converts a JSON value into a cell of `col`'s type. Strings are parsed for dates and timestamps;
/// numbers must be JSON numbers; objects and arrays are kept as JSON text in string columns.
pub fn parse_json<'a>(col: &Column, v: Option<&'a serde_json::Value>) -> Result<Cell<'a>, String> {
    use serde_json::Value;
    let bad = |v: &Value| {
        format!(
            "column {}: {} is not a valid {}",
            col.name,
            truncate(&v.to_string(), 64),
            col.ty.glue()
        )
    };
    match v {
        None | Some(Value::Null) => {
            if col.nullable {
                Ok(Cell::Null)
            } else {
                Err(format!(
                    "column {}: required field is missing or null",
                    col.name
                ))
            }
        }
        Some(v) => match (col.ty, v) {
            (ColumnType::String, Value::String(s)) => Ok(Cell::Str(s)),
            (
                ColumnType::String,
                Value::Object(_) | Value::Array(_) | Value::Number(_) | Value::Bool(_),
            ) => Ok(Cell::Owned(v.to_string())),
            (ColumnType::Int64, Value::Number(n)) => {
                n.as_i64().map(Cell::I64).ok_or_else(|| bad(v))
            }
            (ColumnType::Int32, Value::Number(n)) => n
                .as_i64()
                .filter(|i| i32::try_from(*i).is_ok())
                .map(Cell::I64)
                .ok_or_else(|| bad(v)),
            (ColumnType::Double, Value::Number(n)) => {
                n.as_f64().map(Cell::F64).ok_or_else(|| bad(v))
            }
            (ColumnType::Boolean, Value::Bool(b)) => Ok(Cell::Bool(*b)),
            (ColumnType::Date | ColumnType::Timestamp, Value::String(s)) => parse_text(col, s),
            _ => Err(bad(v)),
        },
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A typed Arrow builder for one column.
pub enum ColumnBuilder {
    Str(StringBuilder),
    I32(Int32Builder),
    I64(Int64Builder),
    F64(Float64Builder),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Ts(TimestampMicrosecondBuilder),
}

impl ColumnBuilder {
    pub fn new(ty: ColumnType, capacity: usize) -> Self {
        match ty {
            ColumnType::String => Self::Str(StringBuilder::with_capacity(capacity, capacity * 16)),
            ColumnType::Int32 => Self::I32(Int32Builder::with_capacity(capacity)),
            ColumnType::Int64 => Self::I64(Int64Builder::with_capacity(capacity)),
            ColumnType::Double => Self::F64(Float64Builder::with_capacity(capacity)),
            ColumnType::Boolean => Self::Bool(BooleanBuilder::with_capacity(capacity)),
            ColumnType::Date => Self::Date(Date32Builder::with_capacity(capacity)),
            ColumnType::Timestamp => Self::Ts(
                TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("+00:00"),
            ),
        }
    }

    /// Appends a cell already parsed for this column's type.
    pub fn append(&mut self, cell: &Cell<'_>) {
        match (self, cell) {
            (Self::Str(b), Cell::Str(s)) => b.append_value(s),
            (Self::Str(b), Cell::Owned(s)) => b.append_value(s),
            (Self::Str(b), Cell::Null) => b.append_null(),
            (Self::I32(b), Cell::I64(v)) => b.append_value(*v as i32),
            (Self::I32(b), _) => b.append_null(),
            (Self::I64(b), Cell::I64(v)) => b.append_value(*v),
            (Self::I64(b), _) => b.append_null(),
            (Self::F64(b), Cell::F64(v)) => b.append_value(*v),
            (Self::F64(b), _) => b.append_null(),
            (Self::Bool(b), Cell::Bool(v)) => b.append_value(*v),
            (Self::Bool(b), _) => b.append_null(),
            (Self::Date(b), Cell::Date(v)) => b.append_value(*v),
            (Self::Date(b), _) => b.append_null(),
            (Self::Ts(b), Cell::Ts(v)) => b.append_value(*v),
            (Self::Ts(b), _) => b.append_null(),
            (Self::Str(b), other) => b.append_value(format!("{other:?}")),
        }
    }

    pub fn finish(&mut self) -> ArrayRef {
        match self {
            Self::Str(b) => Arc::new(b.finish()),
            Self::I32(b) => Arc::new(b.finish()),
            Self::I64(b) => Arc::new(b.finish()),
            Self::F64(b) => Arc::new(b.finish()),
            Self::Bool(b) => Arc::new(b.finish()),
            Self::Date(b) => Arc::new(b.finish()),
            Self::Ts(b) => Arc::new(b.finish()),
        }
    }
}

/// Infers one column's type from text samples: the narrowest of int64, double, boolean, date,
/// timestamp that every non-empty sample parses as, else string. No samples → string.
#[derive(Debug, Clone)]
pub struct TypeGuess {
    int: bool,
    float: bool,
    boolean: bool,
    date: bool,
    ts: bool,
    seen: bool,
}

impl Default for TypeGuess {
    fn default() -> Self {
        Self {
            int: true,
            float: true,
            boolean: true,
            date: true,
            ts: true,
            seen: false,
        }
    }
}

impl TypeGuess {
    pub fn observe_text(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        self.seen = true;
        let t = s.trim();
        // Leading zeros ("007") are identifiers, not numbers: keep them as text.
        let leading_zero = t.len() > 1 && t.starts_with('0') && !t.starts_with("0.");
        if self.int && (leading_zero || t.parse::<i64>().is_err()) {
            self.int = false;
        }
        if self.float
            && (leading_zero
                || t.parse::<f64>().is_err()
                || t.eq_ignore_ascii_case("nan")
                || t.contains("inf"))
        {
            self.float = false;
        }
        if self.boolean && !matches!(t.to_ascii_lowercase().as_str(), "true" | "false") {
            self.boolean = false;
        }
        if self.date && parse_date(t).is_none() {
            self.date = false;
        }
        if self.ts && parse_timestamp(t).is_none() {
            self.ts = false;
        }
    }

    pub fn observe_json(&mut self, v: &serde_json::Value) {
        use serde_json::Value;
        match v {
            Value::Null => {}
            Value::Number(n) => {
                self.seen = true;
                self.boolean = false;
                self.date = false;
                self.ts = false;
                if n.as_i64().is_none() {
                    self.int = false;
                }
            }
            Value::Bool(_) => {
                self.seen = true;
                self.int = false;
                self.float = false;
                self.date = false;
                self.ts = false;
            }
            Value::String(s) => {
                self.seen = true;
                self.int = false;
                self.float = false;
                self.boolean = false;
                if self.date && parse_date(s).is_none() {
                    self.date = false;
                }
                if self.ts && parse_timestamp(s).is_none() {
                    self.ts = false;
                }
            }
            Value::Array(_) | Value::Object(_) => {
                self.seen = true;
                self.int = false;
                self.float = false;
                self.boolean = false;
                self.date = false;
                self.ts = false;
            }
        }
    }

    pub fn column_type(&self) -> ColumnType {
        if !self.seen {
            ColumnType::String
        } else if self.int {
            ColumnType::Int64
        } else if self.float {
            ColumnType::Double
        } else if self.boolean {
            ColumnType::Boolean
        } else if self.date {
            ColumnType::Date
        } else if self.ts {
            ColumnType::Timestamp
        } else {
            ColumnType::String
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(ty: ColumnType, nullable: bool) -> Column {
        Column {
            name: "c".into(),
            ty,
            nullable,
        }
    }

    #[test]
    fn parses_each_type_strictly() {
        assert_eq!(
            parse_text(&col(ColumnType::Int64, true), "42").unwrap(),
            Cell::I64(42)
        );
        assert!(
            parse_text(&col(ColumnType::Int64, true), "4.2")
                .unwrap_err()
                .contains("not a valid bigint")
        );
        assert!(parse_text(&col(ColumnType::Int32, true), "9999999999").is_err());
        assert_eq!(
            parse_text(&col(ColumnType::Double, true), "4.5").unwrap(),
            Cell::F64(4.5)
        );
        assert_eq!(
            parse_text(&col(ColumnType::Boolean, true), "TRUE").unwrap(),
            Cell::Bool(true)
        );
        assert_eq!(
            parse_text(&col(ColumnType::Date, true), "1970-01-02").unwrap(),
            Cell::Date(1)
        );
        assert_eq!(
            parse_text(&col(ColumnType::Timestamp, true), "1970-01-01T00:00:01Z").unwrap(),
            Cell::Ts(1_000_000)
        );
        assert_eq!(
            parse_text(
                &col(ColumnType::Timestamp, true),
                "1970-01-01 01:00:00+01:00"
            )
            .unwrap(),
            Cell::Ts(0)
        );
        assert_eq!(
            parse_text(&col(ColumnType::Timestamp, true), "1970-01-01 00:00:00.5").unwrap(),
            Cell::Ts(500_000)
        );
        assert_eq!(
            parse_text(&col(ColumnType::String, true), "").unwrap(),
            Cell::Null
        );
        assert!(
            parse_text(&col(ColumnType::String, false), "")
                .unwrap_err()
                .contains("required")
        );
    }

    #[test]
    fn plain_timestamps_fast_path_agrees_with_chrono() {
        for s in [
            "2024-11-05 13:45:01",
            "2024-11-05 13:45:01.1",
            "2024-11-05T13:45:01.123456",
            "1969-12-31 23:59:59.999999999",
            "2000-02-29 00:00:00.000001",
        ] {
            let chrono = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f"))
                .unwrap()
                .and_utc()
                .timestamp_micros();
            assert_eq!(parse_plain_timestamp(s.as_bytes()), Some(chrono), "{s}");
        }
        for bad in [
            "2023-02-29 00:00:00",
            "2024-11-05 24:00:00",
            "2024-11-05 13:45:01.",
            "2024-11-05 13:45:01+01:00",
        ] {
            assert_eq!(parse_plain_timestamp(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(
            parse_timestamp("2024-11-05 13:45:01+01:00"),
            Some(1_730_810_701_000_000)
        );
    }

    #[test]
    fn us_style_dates_as_oracle_exports_write_them() {
        let day = |y, m, d| {
            NaiveDate::from_ymd_opt(y, m, d)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_micros()
        };
        assert_eq!(parse_timestamp("6/7/94 0:00"), Some(day(1994, 6, 7)));
        assert_eq!(parse_timestamp("12/31/2001"), Some(day(2001, 12, 31)));
        assert_eq!(
            parse_timestamp("1/13/05 13:30"),
            Some(day(2005, 1, 13) + 48_600_000_000)
        );
        assert_eq!(
            parse_date("6/7/94 0:00"),
            Some((day(1994, 6, 7) / 86_400_000_000) as i32)
        );
        assert_eq!(
            parse_date("6/7/94 1:00"),
            None,
            "a date column holds no time of day"
        );
        for bad in ["13/1/94 0:00", "2/30/94", "6/7/994", "6/7", "6/7/94 25:00"] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn numeric_bytes_agree_with_text_parsing() {
        for ty in [ColumnType::Int32, ColumnType::Int64, ColumnType::Double] {
            for v in [
                "0",
                "-17",
                " 42 ",
                "3.25",
                "1e3",
                "x",
                "9999999999",
                "",
                "+5",
            ] {
                let c = col(ty, true);
                let fast = parse_numeric_bytes(&c, v.as_bytes()).unwrap();
                let slow = parse_text(&c, v);
                assert_eq!(fast.is_ok(), slow.is_ok(), "{ty:?} {v:?}");
                if let (Ok(a), Ok(b)) = (fast, slow) {
                    assert_eq!(a, b, "{ty:?} {v:?}");
                }
            }
        }
        assert!(parse_numeric_bytes(&col(ColumnType::String, true), b"1").is_none());
    }

    #[test]
    fn json_values_follow_the_column_type() {
        let v: serde_json::Value = serde_json::json!({"n": 3, "f": 1.5, "s": "x", "o": {"a": 1}, "t": "2024-01-01T00:00:00Z"});
        assert_eq!(
            parse_json(&col(ColumnType::Int64, true), v.get("n")).unwrap(),
            Cell::I64(3)
        );
        assert!(parse_json(&col(ColumnType::Int64, true), v.get("f")).is_err());
        assert!(parse_json(&col(ColumnType::Int64, true), v.get("s")).is_err());
        assert_eq!(
            parse_json(&col(ColumnType::String, true), v.get("o")).unwrap(),
            Cell::Owned("{\"a\":1}".into())
        );
        assert!(matches!(
            parse_json(&col(ColumnType::Timestamp, true), v.get("t")).unwrap(),
            Cell::Ts(_)
        ));
        assert_eq!(
            parse_json(&col(ColumnType::Int64, true), None).unwrap(),
            Cell::Null
        );
        assert!(parse_json(&col(ColumnType::Int64, false), None).is_err());
    }

    #[test]
    fn inference_picks_the_narrowest_type() {
        let guess = |vals: &[&str]| {
            let mut g = TypeGuess::default();
            vals.iter().for_each(|v| g.observe_text(v));
            g.column_type()
        };
        assert_eq!(guess(&["1", "", "-3"]), ColumnType::Int64);
        assert_eq!(guess(&["1", "2.5"]), ColumnType::Double);
        assert_eq!(guess(&["true", "False"]), ColumnType::Boolean);
        assert_eq!(guess(&["2024-01-01", ""]), ColumnType::Date);
        assert_eq!(
            guess(&["2024-01-01 10:00:00", "2024-01-01T10:00:00Z"]),
            ColumnType::Timestamp
        );
        assert_eq!(guess(&["007", "12"]), ColumnType::String);
        assert_eq!(guess(&["a", "1"]), ColumnType::String);
        assert_eq!(guess(&["", ""]), ColumnType::String);
    }
}
