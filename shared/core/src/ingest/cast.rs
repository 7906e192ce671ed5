//! Parquet values into declared column types, column by column with Arrow arrays, never through
//! text: how DMS Parquet (and any Parquet source read against a declaration) meets the schema.
//!
//! # The rules
//!
//! | source (Arrow) | declared | rule |
//! | --- | --- | --- |
//! | any integer width | `int` / `bigint` | exact; a value outside the declared range rejects its row (value in the reason) |
//! | `decimal(p, s)` | `int` / `bigint` | exact: a non-zero fraction or a value out of range rejects its row |
//! | any integer, `decimal(p, s)` | `double` | exact where the double holds the value (read back at the decimal's scale it is the same number); otherwise the row is rejected with the value |
//! | `float`, `double` | `double` | as is |
//! | `timestamp` (any unit, with or without a zone) | `timestamp` | the instant in UTC, in microseconds; a zoned timestamp is its instant, a zoneless one (as DMS writes Oracle `DATE`/`TIMESTAMP`) is read as UTC, like text without an offset. Sub-microsecond digits are dropped and **counted** |
//! | `timestamp` | `date` | the UTC calendar date; a non-zero time of day is dropped and **counted** (the row is kept) |
//! | `date` | `date` / `timestamp` | as is / midnight UTC |
//! | string (also dictionary-encoded, large, view) | any | parsed by the text rules (`crate::model::schema::parse_text`), so a Parquet string field behaves like a CSV field; an empty string stays empty for `string` |
//! | binary (any layout) | `string` | upper-case hex, as DMS writes `RAW`/`BLOB` to CSV |
//! | number, boolean, date, timestamp, decimal | `string` | canonical text: decimals with their scale, timestamps `YYYY-MM-DD HH:MM:SS[.f]`, dates `YYYY-MM-DD` |
//! | `boolean` | `boolean` | as is |
//!
//! [`fit`] classifies a (source, declared) pair once per file: [`Fit::Holds`] (the rules above),
//! [`Fit::Widens`] (the source is wider than the declaration: an integer wider than `int`, a
//! decimal with more integer digits than `int` holds; the declaration must widen first), or
//! [`Fit::Incompatible`] (narrowing, e.g. `double` into `bigint`, or unrelated, e.g. `boolean`
//! into `date`): the file is refused with a reason naming the column and both types.
//!
//! Invariants:
//! - **Exact or rejected**: every non-null source value becomes the declared value by its rule, or
//!   its row is reported in [`Cast::errors`] with the value; nothing is silently changed except
//!   the truncations it lists ([`Cast::truncated`]).
//! - Nulls stay null; requiredness is the caller's (it knows keys and deletes).
//! - [`Cast::values`] has exactly the declared Arrow type ([`ColumnType::arrow`]) and the source's length.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array,
    StringArray, StringBuilder, TimestampMicrosecondArray,
};
use arrow::compute::kernels::cast::cast;
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float64Type, Int32Type, Int64Type, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};

use crate::model::schema::{Cell, Column, ColumnBuilder, ColumnType, parse_text};

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// How a source column meets its declared type (decided once per file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fit {
    /// Every value converts by the rules (or its row is rejected).
    Holds,
    /// The source is wider: the declaration must first widen to this type.
    Widens(ColumnType),
    /// Narrowing or unrelated: the reason names both types.
    Incompatible(String),
}

/// The source's type as Tributary names it (`decimal(12,2)`, `timestamp[us, UTC]`, ...).
pub fn source_type_name(dt: &DataType) -> String {
    match dt {
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::Dictionary(_, v) => source_type_name(v),
        DataType::Timestamp(unit, tz) => {
            let unit = match unit {
                TimeUnit::Second => "s",
                TimeUnit::Millisecond => "ms",
                TimeUnit::Microsecond => "us",
                TimeUnit::Nanosecond => "ns",
            };
            match tz {
                Some(tz) => format!("timestamp[{unit}, {tz}]"),
                None => format!("timestamp[{unit}]"),
            }
        }
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "int".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        s if is_string(s) => "string".into(),
        s if is_binary(s) => "binary".into(),
        other => other.to_string().to_lowercase(),
    }
}

fn is_int(dt: &DataType) -> bool {
    dt.is_integer()
}

fn is_string(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

fn is_binary(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_)
    )
}

/// Whether an integer type always fits in `int`.
fn fits_int32(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16
    )
}

/// How values of `source` meet a column declared `declared`.
pub fn fit(source: &DataType, declared: ColumnType) -> Fit {
    if let DataType::Dictionary(_, v) = source {
        return fit(v, declared);
    }
    use ColumnType as T;
    let holds = match (declared, source) {
        (_, s) if is_string(s) => true,
        (_, DataType::Null) => true,
        (T::String, s) => {
            is_binary(s)
                || s.is_numeric()
                || matches!(
                    s,
                    DataType::Boolean
                        | DataType::Date32
                        | DataType::Date64
                        | DataType::Timestamp(_, _)
                )
        }
        (T::Int32, s) if is_int(s) && !fits_int32(s) => return Fit::Widens(T::Int64),
        (T::Int32, DataType::Decimal128(p, s) | DataType::Decimal256(p, s)) => {
            if i16::from(*p) - i16::from(*s) > 9 {
                return Fit::Widens(T::Int64);
            }
            true
        }
        (T::Int32 | T::Int64, s) => {
            is_int(s) || matches!(s, DataType::Decimal128(..) | DataType::Decimal256(..))
        }
        (T::Double, s) => s.is_numeric(),
        (T::Boolean, s) => *s == DataType::Boolean,
        (T::Date | T::Timestamp, s) => {
            matches!(
                s,
                DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
            )
        }
    };
    if holds {
        Fit::Holds
    } else {
        Fit::Incompatible(format!(
            "{} in the file cannot be held by the declared {}{}",
            source_type_name(source),
            declared.glue(),
            if source.is_floating() && matches!(declared, T::Int32 | T::Int64) {
                " (narrowing)"
            } else {
                ""
            }
        ))
    }
}

/// The declared type a new column takes from its Parquet type; `None`: no declared type holds it.
pub fn column_type_of(source: &DataType) -> Option<ColumnType> {
    Some(match source {
        DataType::Dictionary(_, v) => return column_type_of(v),
        s if is_string(s) || is_binary(s) => ColumnType::String,
        s if fits_int32(s) => ColumnType::Int32,
        s if is_int(s) => ColumnType::Int64,
        DataType::Decimal128(p, 0) | DataType::Decimal256(p, 0) if *p <= 18 => ColumnType::Int64,
        s if s.is_numeric() => ColumnType::Double,
        DataType::Boolean => ColumnType::Boolean,
        DataType::Date32 | DataType::Date64 => ColumnType::Date,
        DataType::Timestamp(_, _) => ColumnType::Timestamp,
        DataType::Null => ColumnType::String,
        _ => return None,
    })
}

/// One source column converted to its declared type.
#[derive(Debug)]
pub struct Cast {
    /// The declared Arrow type; a rejected value is null here.
    pub values: ArrayRef,
    /// Rejected rows (ascending) with the reason, the value in it.
    pub errors: Vec<(usize, String)>,
    /// Rows (ascending) whose value lost a non-zero part (a time of day into `date`,
    /// sub-microsecond digits into `timestamp`).
    pub truncated: Vec<usize>,
}

impl Cast {
    fn exact(values: ArrayRef) -> Self {
        Self {
            values,
            errors: Vec::new(),
            truncated: Vec::new(),
        }
    }
}

/// Converts `source` into `col`'s declared type by the module's rules; `Err` when the types do
/// not [`fit`] (the reason names the column and both types).
pub fn cast_column(col: &Column, source: &ArrayRef) -> Result<Cast, String> {
    match fit(source.data_type(), col.ty) {
        Fit::Holds => {}
        Fit::Widens(to) => {
            return Err(format!(
                "column {}: {} in the file needs the declared {} widened to {}",
                col.name,
                source_type_name(source.data_type()),
                col.ty.glue(),
                to.glue()
            ));
        }
        Fit::Incompatible(why) => return Err(format!("column {}: {why}", col.name)),
    }
    let source = normalise(source).map_err(|e| format!("column {}: {e}", col.name))?;
    let dt = source.data_type().clone();
    let arrow_err = |e: arrow::error::ArrowError| format!("column {}: {e}", col.name);
    use ColumnType as T;
    Ok(match (col.ty, &dt) {
        (_, DataType::Null) => {
            Cast::exact(arrow::array::new_null_array(&col.ty.arrow(), source.len()))
        }
        (T::String, DataType::Utf8) => Cast::exact(source),
        (_, DataType::Utf8) => parse_strings(col, source.as_string::<i32>()),
        (T::String, DataType::Binary) => Cast::exact(hex(&source)),
        (T::String, DataType::Timestamp(..)) => timestamp_text(&source),
        (T::String, DataType::Date32) => date_text(&source),
        (T::String, _) => Cast::exact(cast(&source, &DataType::Utf8).map_err(arrow_err)?),
        (T::Int32 | T::Int64 | T::Double, DataType::Decimal128(_, scale)) => {
            decimals(col, &source, *scale)
        }
        (T::Int32 | T::Int64 | T::Double, _) => numbers(col, &source).map_err(arrow_err)?,
        (T::Boolean, _) => Cast::exact(source),
        (T::Date, DataType::Date32) => Cast::exact(source),
        (T::Date, _) | (T::Timestamp, _) => times(col.ty, &source),
    })
}

/// Dictionaries decoded, strings to `Utf8`, binaries to `Binary`, `Date64` to `Date32`,
/// `Decimal256` to `Decimal128(38, s)` (a value beyond 38 digits becomes an error later).
fn normalise(source: &ArrayRef) -> Result<ArrayRef, arrow::error::ArrowError> {
    let to = match source.data_type() {
        DataType::Dictionary(_, v) => {
            let decoded = cast(source, v)?;
            return normalise(&decoded);
        }
        DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
        DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
            DataType::Binary
        }
        DataType::Date64 => DataType::Date32,
        DataType::Decimal256(_, s) => DataType::Decimal128(38, *s),
        _ => return Ok(source.clone()),
    };
    cast(source, &to)
}

/// The shown value of row `i` (for a reason), at most 64 characters.
fn shown(array: &dyn Array, i: usize) -> String {
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    let text = ArrayFormatter::try_new(array, &FormatOptions::default())
        .map(|f| f.value(i).to_string())
        .unwrap_or_else(|_| "?".into());
    text.chars().take(64).collect()
}

fn parse_strings(col: &Column, source: &StringArray) -> Cast {
    // Requiredness is the caller's: an empty string is null here, as an empty CSV field.
    let nullable = Column {
        nullable: true,
        ..col.clone()
    };
    let mut b = ColumnBuilder::new(col.ty, source.len());
    let mut errors = Vec::new();
    for (i, v) in source.iter().enumerate() {
        match v.map(|s| parse_text(&nullable, s)) {
            None => b.append(&Cell::Null),
            Some(Ok(cell)) => b.append(&cell),
            Some(Err(reason)) => {
                b.append(&Cell::Null);
                errors.push((i, reason));
            }
        }
    }
    Cast {
        values: b.finish(),
        errors,
        truncated: Vec::new(),
    }
}

fn hex(source: &ArrayRef) -> ArrayRef {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let bin = source.as_binary::<i32>();
    let mut b = StringBuilder::with_capacity(bin.len(), bin.values().len() * 2);
    let mut text = String::new();
    for v in bin.iter() {
        match v {
            None => b.append_null(),
            Some(bytes) => {
                text.clear();
                for byte in bytes {
                    text.push(DIGITS[(byte >> 4) as usize] as char);
                    text.push(DIGITS[(byte & 15) as usize] as char);
                }
                b.append_value(&text);
            }
        }
    }
    Arc::new(b.finish())
}

/// Nanoseconds since the epoch of each value of a timestamp array (any unit; `None`: null or
/// out of the representable range).
fn timestamp_nanos(source: &ArrayRef) -> Vec<Option<i128>> {
    let DataType::Timestamp(unit, _) = source.data_type() else {
        return vec![None; source.len()];
    };
    let (scale, values): (i128, Vec<Option<i64>>) = match unit {
        TimeUnit::Second => (
            1_000_000_000,
            source
                .as_primitive::<TimestampSecondType>()
                .iter()
                .collect(),
        ),
        TimeUnit::Millisecond => (
            1_000_000,
            source
                .as_primitive::<TimestampMillisecondType>()
                .iter()
                .collect(),
        ),
        TimeUnit::Microsecond => (
            1_000,
            source
                .as_primitive::<TimestampMicrosecondType>()
                .iter()
                .collect(),
        ),
        TimeUnit::Nanosecond => (
            1,
            source
                .as_primitive::<TimestampNanosecondType>()
                .iter()
                .collect(),
        ),
    };
    values
        .into_iter()
        .map(|v| v.map(|v| i128::from(v) * scale))
        .collect()
}

fn timestamp_text(source: &ArrayRef) -> Cast {
    let mut b = StringBuilder::with_capacity(source.len(), source.len() * 26);
    for ns in timestamp_nanos(source) {
        let t = ns.and_then(|ns| {
            let secs = i64::try_from(ns.div_euclid(1_000_000_000)).ok()?;
            chrono::DateTime::from_timestamp(secs, ns.rem_euclid(1_000_000_000) as u32)
        });
        match t {
            Some(t) => b.append_value(t.naive_utc().format("%Y-%m-%d %H:%M:%S%.f").to_string()),
            None => b.append_null(),
        }
    }
    Cast::exact(Arc::new(b.finish()))
}

fn date_text(source: &ArrayRef) -> Cast {
    let days = source.as_primitive::<Date32Type>();
    let mut b = StringBuilder::with_capacity(days.len(), days.len() * 10);
    for d in days.iter() {
        match d.and_then(|d| chrono::DateTime::from_timestamp(i64::from(d) * 86_400, 0)) {
            Some(t) => b.append_value(t.date_naive().to_string()),
            None => b.append_null(),
        }
    }
    Cast::exact(Arc::new(b.finish()))
}

/// `date` or `timestamp` from a date or a timestamp of any unit.
fn times(ty: ColumnType, source: &ArrayRef) -> Cast {
    let nanos: Vec<Option<i128>> = match source.data_type() {
        DataType::Date32 => source
            .as_primitive::<Date32Type>()
            .iter()
            .map(|d| d.map(|d| i128::from(d) * i128::from(MICROS_PER_DAY) * 1000))
            .collect(),
        _ => timestamp_nanos(source),
    };
    let mut truncated = Vec::new();
    let mut errors = Vec::new();
    let values: ArrayRef = if ty == ColumnType::Date {
        let day_ns = i128::from(MICROS_PER_DAY) * 1000;
        let mut out = Vec::with_capacity(nanos.len());
        for (i, ns) in nanos.iter().enumerate() {
            out.push(ns.and_then(|ns| {
                if ns.rem_euclid(day_ns) != 0 {
                    truncated.push(i);
                }
                let day = i32::try_from(ns.div_euclid(day_ns)).ok();
                if day.is_none() {
                    errors.push((i, format!("{} is out of the date range", shown(source, i))));
                }
                day
            }));
        }
        Arc::new(Date32Array::from(out))
    } else {
        let out: Vec<Option<i64>> = nanos
            .iter()
            .enumerate()
            .map(|(i, ns)| {
                ns.map(|ns| {
                    if ns.rem_euclid(1000) != 0 {
                        truncated.push(i);
                    }
                    // From i64 nanoseconds or smaller units times their scale: always in range.
                    ns.div_euclid(1000) as i64
                })
            })
            .collect();
        Arc::new(TimestampMicrosecondArray::from(out).with_timezone("+00:00"))
    };
    Cast {
        values,
        errors,
        truncated,
    }
}

/// Integers and floats into `int`, `bigint` or `double`: exact or rejected.
fn numbers(col: &Column, source: &ArrayRef) -> Result<Cast, arrow::error::ArrowError> {
    let to = col.ty.arrow();
    let values = cast(source, &to)?;
    let mut errors = Vec::new();
    let why = match col.ty {
        ColumnType::Double => "has no exact double",
        _ => "is out of the range of",
    };
    // A safe cast turns a value out of range into null: report each one.
    if values.null_count() != source.null_count() {
        for i in 0..source.len() {
            if source.is_valid(i) && values.is_null(i) {
                errors.push((
                    i,
                    format!(
                        "column {}: {} {why} {}",
                        col.name,
                        shown(source, i),
                        col.ty.glue()
                    ),
                ));
            }
        }
    }
    // Integers beyond 2^53 may round in a double: only exact ones are kept.
    let values = if col.ty == ColumnType::Double && is_int(source.data_type()) {
        let wide = cast(source, &DataType::Decimal128(38, 0))?;
        let wide = wide.as_primitive::<Decimal128Type>();
        let doubles = values.as_primitive::<Float64Type>();
        let mut kept = Vec::with_capacity(doubles.len());
        for i in 0..doubles.len() {
            let v = doubles.is_valid(i).then(|| doubles.value(i));
            match (v, wide.is_valid(i).then(|| wide.value(i))) {
                (Some(d), Some(w)) if d as i128 != w || d.abs() >= 1.7e38 => {
                    errors.push((
                        i,
                        format!("column {}: {} {why}", col.name, shown(source, i)),
                    ));
                    kept.push(None);
                }
                (d, _) => kept.push(d),
            }
        }
        Arc::new(Float64Array::from(kept)) as ArrayRef
    } else {
        values
    };
    errors.sort_by_key(|(i, _)| *i);
    Ok(Cast {
        values,
        errors,
        truncated: Vec::new(),
    })
}

/// Decimals into `int`, `bigint` (whole numbers in range) or `double` (exact at the scale).
fn decimals(col: &Column, source: &ArrayRef, scale: i8) -> Cast {
    let dec = source.as_primitive::<Decimal128Type>();
    let pow = 10i128.checked_pow(u32::from(scale.unsigned_abs()));
    let mut errors = Vec::new();
    let mut reject = |i: usize, why: &str| {
        errors.push((
            i,
            format!("column {}: {} {why}", col.name, shown(source, i)),
        ));
    };
    let whole = |v: i128| -> Option<i128> {
        match (scale, pow) {
            (0, _) => Some(v),
            (s, Some(p)) if s > 0 => (v % p == 0).then_some(v / p),
            (_, Some(p)) => v.checked_mul(p),
            _ => None,
        }
    };
    let values: ArrayRef = match col.ty {
        ColumnType::Double => {
            let mut out = Vec::with_capacity(dec.len());
            for (i, v) in dec.iter().enumerate() {
                out.push(v.and_then(|v| match exact_double(v, scale) {
                    Some(d) => Some(d),
                    None => {
                        reject(i, "has no exact double");
                        None
                    }
                }));
            }
            Arc::new(Float64Array::from(out))
        }
        ColumnType::Int32 => {
            let mut out = Vec::with_capacity(dec.len());
            for (i, v) in dec.iter().enumerate() {
                out.push(v.and_then(|v| match whole(v).map(i32::try_from) {
                    Some(Ok(n)) => Some(n),
                    Some(Err(_)) => {
                        reject(i, "is out of the range of int");
                        None
                    }
                    None => {
                        reject(i, "is not a whole number");
                        None
                    }
                }));
            }
            Arc::new(Int32Array::from(out))
        }
        _ => {
            let mut out = Vec::with_capacity(dec.len());
            for (i, v) in dec.iter().enumerate() {
                out.push(v.and_then(|v| match whole(v).map(i64::try_from) {
                    Some(Ok(n)) => Some(n),
                    Some(Err(_)) => {
                        reject(i, "is out of the range of bigint");
                        None
                    }
                    None => {
                        reject(i, "is not a whole number");
                        None
                    }
                }));
            }
            Arc::new(Int64Array::from(out))
        }
    };
    Cast {
        values,
        errors,
        truncated: Vec::new(),
    }
}

/// The double of the decimal `v × 10^-scale` when it is exact: the nearest double, printed
/// in its shortest form, is the same number (every decimal of up to 15 significant digits is;
/// longer ones only when the double happens to hold them). `None` otherwise.
pub fn exact_double(v: i128, scale: i8) -> Option<f64> {
    let d: f64 = decimal_text(v, scale).parse().ok()?;
    if !d.is_finite() {
        return None;
    }
    // `{:e}` is the shortest representation that reads back as `d`: `1.2345e2`.
    let shortest = format!("{d:e}");
    let (mantissa, exp) = shortest.split_once('e')?;
    let exp: i32 = exp.parse().ok()?;
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: i128 = format!("{int}{frac}").parse().ok()?;
    Some(d).filter(|_| normal(digits, exp - frac.len() as i32) == normal(v, -i32::from(scale)))
}

/// `m × 10^e` without trailing zeros in `m` (zero is `(0, 0)`).
fn normal(mut m: i128, mut e: i32) -> (i128, i32) {
    if m == 0 {
        return (0, 0);
    }
    while m % 10 == 0 {
        m /= 10;
        e += 1;
    }
    (m, e)
}

/// The plain text of `v × 10^-scale` (`-12.50`).
pub fn decimal_text(v: i128, scale: i8) -> String {
    let digits = v.unsigned_abs().to_string();
    let sign = if v < 0 { "-" } else { "" };
    if scale <= 0 {
        return format!(
            "{sign}{digits}{}",
            "0".repeat(scale.unsigned_abs() as usize)
        );
    }
    let s = scale as usize;
    let padded = format!("{digits:0>width$}", width = s + 1);
    let (int, frac) = padded.split_at(padded.len() - s);
    format!("{sign}{int}.{frac}")
}

/// A declared-type array viewed for reading cells (one downcast per batch).
pub enum Typed<'a> {
    Str(&'a StringArray),
    I32(&'a Int32Array),
    I64(&'a Int64Array),
    F64(&'a Float64Array),
    Bool(&'a BooleanArray),
    Date(&'a Date32Array),
    Ts(&'a TimestampMicrosecondArray),
}

impl<'a> Typed<'a> {
    /// The view of `values`, which has `ty`'s Arrow type (as [`Cast::values`]).
    pub fn of(values: &'a ArrayRef, ty: ColumnType) -> Self {
        match ty {
            ColumnType::String => Self::Str(values.as_string::<i32>()),
            ColumnType::Int32 => Self::I32(values.as_primitive::<Int32Type>()),
            ColumnType::Int64 => Self::I64(values.as_primitive::<Int64Type>()),
            ColumnType::Double => Self::F64(values.as_primitive::<Float64Type>()),
            ColumnType::Boolean => Self::Bool(values.as_boolean()),
            ColumnType::Date => Self::Date(values.as_primitive::<Date32Type>()),
            ColumnType::Timestamp => Self::Ts(values.as_primitive::<TimestampMicrosecondType>()),
        }
    }

    pub fn is_null(&self, i: usize) -> bool {
        match self {
            Self::Str(a) => a.is_null(i),
            Self::I32(a) => a.is_null(i),
            Self::I64(a) => a.is_null(i),
            Self::F64(a) => a.is_null(i),
            Self::Bool(a) => a.is_null(i),
            Self::Date(a) => a.is_null(i),
            Self::Ts(a) => a.is_null(i),
        }
    }

    /// The cell of row `i` (borrowing strings from the array).
    pub fn cell(&self, i: usize) -> Cell<'a> {
        if self.is_null(i) {
            return Cell::Null;
        }
        match self {
            Self::Str(a) => Cell::Str(a.value(i)),
            Self::I32(a) => Cell::I64(i64::from(a.value(i))),
            Self::I64(a) => Cell::I64(a.value(i)),
            Self::F64(a) => Cell::F64(a.value(i)),
            Self::Bool(a) => Cell::Bool(a.value(i)),
            Self::Date(a) => Cell::Date(a.value(i)),
            Self::Ts(a) => Cell::Ts(a.value(i)),
        }
    }
}

#[cfg(test)]
#[path = "cast_tests.rs"]
mod tests;
