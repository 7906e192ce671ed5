//! Unit tests of `cast`: one per rule of the module's table.

use super::*;
use arrow::array::{
    BinaryArray, Decimal128Array, DictionaryArray, Float64Array, Int8Array,
    TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray, UInt64Array,
};

fn col(ty: ColumnType) -> Column {
    Column {
        name: "C".into(),
        ty,
        nullable: true,
    }
}

fn cells(c: &Cast, ty: ColumnType) -> Vec<Cell<'_>> {
    let t = Typed::of(&c.values, ty);
    (0..c.values.len()).map(|i| t.cell(i)).collect()
}

fn run(ty: ColumnType, a: ArrayRef) -> Cast {
    let c = cast_column(&col(ty), &a).unwrap();
    assert_eq!(c.values.data_type(), &ty.arrow());
    assert_eq!(c.values.len(), a.len());
    c
}

#[test]
fn timestamp_into_date_is_the_utc_day_and_counts_time_parts() {
    // 2006-03-26T00:00:00 (as DMS writes an Oracle DATE), then 2006-03-26T13:45:00, then null.
    let day = 13_233i64; // 2006-03-26
    let a: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![
        Some(day * 86_400_000),
        Some(day * 86_400_000 + 49_500_000),
        None,
    ]));
    let c = run(ColumnType::Date, a);
    assert_eq!(
        cells(&c, ColumnType::Date),
        [Cell::Date(day as i32), Cell::Date(day as i32), Cell::Null]
    );
    assert!(c.errors.is_empty());
    assert_eq!(c.truncated, [1]);
    // Before the epoch: the calendar day, not a day late.
    let a: ArrayRef = Arc::new(TimestampSecondArray::from(vec![-1]));
    assert_eq!(
        cells(&run(ColumnType::Date, a), ColumnType::Date),
        [Cell::Date(-1)]
    );
}

#[test]
fn zoned_timestamps_are_their_utc_instant() {
    let us = 1_730_813_400_000_001i64;
    let zoned: ArrayRef = Arc::new(
        TimestampNanosecondArray::from(vec![us * 1000 + 999]).with_timezone("America/New_York"),
    );
    let c = run(ColumnType::Timestamp, zoned);
    assert_eq!(cells(&c, ColumnType::Timestamp), [Cell::Ts(us)]);
    assert_eq!(c.truncated, [0], "sub-microsecond digits are counted");
    let naive: ArrayRef = Arc::new(TimestampSecondArray::from(vec![Some(10), None]));
    let c = run(ColumnType::Timestamp, naive);
    assert_eq!(
        cells(&c, ColumnType::Timestamp),
        [Cell::Ts(10_000_000), Cell::Null]
    );
    assert!(c.truncated.is_empty());
}

#[test]
fn decimals_into_double_are_exact_or_rejected_with_the_value() {
    let a: ArrayRef = Arc::new(
        Decimal128Array::from(vec![
            Some(2_400_000),
            Some(45),
            None,
            Some(12_345_678_901_234_567_891),
        ])
        .with_precision_and_scale(38, 2)
        .unwrap(),
    );
    let c = run(ColumnType::Double, a);
    assert_eq!(
        cells(&c, ColumnType::Double)[..3],
        [Cell::F64(24000.0), Cell::F64(0.45), Cell::Null]
    );
    assert_eq!(c.errors.len(), 1);
    assert_eq!(c.errors[0].0, 3);
    assert!(
        c.errors[0].1.contains("123456789012345678.91"),
        "{:?}",
        c.errors
    );
    // Long scales are fine when the number is short.
    let a: ArrayRef = Arc::new(
        Decimal128Array::from(vec![123_450_000_000_000_000_000i128])
            .with_precision_and_scale(38, 18)
            .unwrap(),
    );
    assert_eq!(
        cells(&run(ColumnType::Double, a), ColumnType::Double),
        [Cell::F64(123.45)]
    );
}

#[test]
fn decimals_into_integers_must_be_whole_and_in_range() {
    let a: ArrayRef = Arc::new(
        Decimal128Array::from(vec![
            Some(10000),
            Some(12_345),
            Some(i64::MAX as i128 * 100 + 100),
        ])
        .with_precision_and_scale(38, 2)
        .unwrap(),
    );
    let c = run(ColumnType::Int64, a);
    assert_eq!(cells(&c, ColumnType::Int64)[0], Cell::I64(100));
    let reasons: Vec<_> = c.errors.iter().map(|(i, r)| (*i, r.as_str())).collect();
    assert_eq!(reasons.len(), 2);
    assert!(
        reasons[0].1.contains("123.45 is not a whole number"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].1.contains("out of the range of bigint"),
        "{reasons:?}"
    );
}

#[test]
fn integer_widths() {
    let a: ArrayRef = Arc::new(Int8Array::from(vec![-5i8]));
    assert_eq!(
        cells(&run(ColumnType::Int32, a.clone()), ColumnType::Int32),
        [Cell::I64(-5)]
    );
    assert_eq!(
        cells(&run(ColumnType::Int64, a), ColumnType::Int64),
        [Cell::I64(-5)]
    );
    let a: ArrayRef = Arc::new(UInt64Array::from(vec![7, u64::MAX]));
    let c = run(ColumnType::Int64, a);
    assert_eq!(cells(&c, ColumnType::Int64)[0], Cell::I64(7));
    assert_eq!(c.errors.len(), 1);
    assert!(
        c.errors[0].1.contains("18446744073709551615"),
        "{:?}",
        c.errors
    );
    // Into double: exact up to 2^53, beyond only when the double holds the value.
    let a: ArrayRef = Arc::new(Int64Array::from(vec![1 << 60, (1 << 53) + 1]));
    let c = run(ColumnType::Double, a);
    assert_eq!(
        cells(&c, ColumnType::Double)[0],
        Cell::F64((1u64 << 60) as f64)
    );
    assert_eq!(c.errors.iter().map(|e| e.0).collect::<Vec<_>>(), [1]);
}

#[test]
fn strings_are_parsed_by_the_text_rules() {
    let a: ArrayRef = Arc::new(StringArray::from(vec![
        Some("6/17/87 0:00"),
        Some(""),
        None,
        Some("not a date"),
    ]));
    let c = run(ColumnType::Date, a);
    assert_eq!(cells(&c, ColumnType::Date)[1..3], [Cell::Null, Cell::Null]);
    assert!(matches!(cells(&c, ColumnType::Date)[0], Cell::Date(_)));
    assert_eq!(c.errors.len(), 1);
    assert!(c.errors[0].1.contains("\"not a date\" is not a valid date"));
    // Dictionary-encoded strings (as pyarrow writes low-cardinality columns).
    let dict: DictionaryArray<Int32Type> = vec!["U", "I", "U"].into_iter().collect();
    let c = run(ColumnType::String, Arc::new(dict));
    assert_eq!(
        cells(&c, ColumnType::String),
        [Cell::Str("U"), Cell::Str("I"), Cell::Str("U")]
    );
}

#[test]
fn typed_values_as_strings() {
    let bin: ArrayRef = Arc::new(BinaryArray::from(vec![&[0x0a, 0xff][..]]));
    assert_eq!(
        cells(&run(ColumnType::String, bin), ColumnType::String),
        [Cell::Str("0AFF")]
    );
    let dec: ArrayRef = Arc::new(
        Decimal128Array::from(vec![-1250])
            .with_precision_and_scale(10, 2)
            .unwrap(),
    );
    assert_eq!(
        cells(&run(ColumnType::String, dec), ColumnType::String),
        [Cell::Str("-12.50")]
    );
    let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![1_500]));
    assert_eq!(
        cells(&run(ColumnType::String, ts), ColumnType::String),
        [Cell::Str("1970-01-01 00:00:01.500")]
    );
}

#[test]
fn fit_classifies_widening_narrowing_and_unrelated_types() {
    use ColumnType as T;
    assert_eq!(fit(&DataType::Int64, T::Int32), Fit::Widens(T::Int64));
    assert_eq!(
        fit(&DataType::Decimal128(12, 0), T::Int32),
        Fit::Widens(T::Int64)
    );
    assert_eq!(fit(&DataType::Decimal128(9, 0), T::Int32), Fit::Holds);
    assert_eq!(fit(&DataType::Decimal128(38, 10), T::Double), Fit::Holds);
    assert_eq!(fit(&DataType::Int32, T::Int64), Fit::Holds);
    let Fit::Incompatible(why) = fit(&DataType::Float64, T::Int64) else {
        panic!("double into bigint narrows");
    };
    assert!(
        why.contains("double") && why.contains("bigint") && why.contains("narrowing"),
        "{why}"
    );
    assert!(matches!(
        fit(&DataType::Boolean, T::Date),
        Fit::Incompatible(_)
    ));
    assert!(matches!(
        fit(&DataType::Int64, T::Timestamp),
        Fit::Incompatible(_)
    ));
    let err = cast_column(
        &Column {
            name: "BONUS".into(),
            ty: T::Int64,
            nullable: true,
        },
        &(Arc::new(Float64Array::from(vec![1.5])) as ArrayRef),
    )
    .unwrap_err();
    assert!(err.starts_with("column BONUS: double"), "{err}");
}

#[test]
fn new_columns_take_their_type_from_the_source() {
    use ColumnType as T;
    assert_eq!(column_type_of(&DataType::Int32), Some(T::Int32));
    assert_eq!(column_type_of(&DataType::Decimal128(10, 0)), Some(T::Int64));
    assert_eq!(
        column_type_of(&DataType::Decimal128(10, 2)),
        Some(T::Double)
    );
    assert_eq!(column_type_of(&DataType::Binary), Some(T::String));
    assert_eq!(
        column_type_of(&DataType::Timestamp(TimeUnit::Millisecond, None)),
        Some(T::Timestamp)
    );
    assert_eq!(
        column_type_of(&DataType::List(Arc::new(arrow::datatypes::Field::new(
            "x",
            DataType::Int32,
            true
        )))),
        None
    );
}

#[test]
fn exact_double_round_trips() {
    assert_eq!(exact_double(1, 1), Some(0.1));
    assert_eq!(exact_double(-45, 2), Some(-0.45));
    assert_eq!(exact_double(0, 5), Some(0.0));
    assert_eq!(exact_double(123_456_789_012_345_678, 0), None);
    assert_eq!(decimal_text(5, 3), "0.005");
    assert_eq!(decimal_text(-5, -2), "-500");
}
