//! Unit tests of `cdc`.

use super::*;
use crate::model::schema::ColumnType;
use crate::storage::DirSinkFactory;
use arrow::array::Array;
use proptest::prelude::*;

fn employees() -> TableSchema {
    let col = |name: &str, ty, nullable| Column {
        name: name.into(),
        ty,
        nullable,
    };
    TableSchema {
        columns: vec![
            col("EMPLOYEE_ID", ColumnType::Int64, false),
            col("LAST_NAME", ColumnType::String, false),
            col("HIRE_DATE", ColumnType::Date, true),
            col("SALARY", ColumnType::Double, true),
            col("DEPARTMENT_ID", ColumnType::Int64, true),
        ],
    }
}

fn spec(key: &str) -> CdcSpec {
    CdcSpec {
        schema: employees(),
        primary_key: vec!["EMPLOYEE_ID".into()],
        partition_columns: vec!["DEPARTMENT_ID".into()],
        header: None,
        delimiter: b',',
        timestamp_column: Some("ts".into()),
        change_sequence_column: None,
        source_file: key.into(),
        file: DmsFile::parse(key).unwrap(),
        output_prefix: "hr.emp/".into(),
        output_stem: key.rsplit('/').next().unwrap().replace('.', "_"),
        reject_key: "hr.emp/rejected.csv".into(),
        tuning: LandingTuning::default(),
        deadline: None,
    }
}

fn dirs(name: &str) -> (std::path::PathBuf, DirSinkFactory, DirSinkFactory) {
    crate::storage::test_dirs("cdc", name)
}

/// Every (partition, _op, _seq, EMPLOYEE_ID, SALARY) written, sorted by `_seq`.
fn rows(
    root: &std::path::Path,
    report: &CdcReport,
) -> Vec<(String, String, String, i64, Option<f64>)> {
    use arrow::array::{AsArray, Float64Array, Int64Array};
    let mut out = Vec::new();
    for o in &report.base.outputs {
        let f = std::fs::File::open(root.join("out").join(&o.key)).unwrap();
        let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap();
        for b in r {
            let b = b.unwrap();
            let op = b.column_by_name(OP).unwrap().as_string::<i32>().clone();
            let seq = b.column_by_name(SEQ).unwrap().as_string::<i32>().clone();
            let id = b
                .column_by_name("EMPLOYEE_ID")
                .unwrap()
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .clone();
            let sal = b
                .column_by_name("SALARY")
                .unwrap()
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .clone();
            for i in 0..b.num_rows() {
                out.push((
                    o.partition.clone(),
                    op.value(i).to_string(),
                    seq.value(i).to_string(),
                    id.value(i),
                    (!sal.is_null(i)).then(|| sal.value(i)),
                ));
            }
        }
    }
    out.sort_by(|a, b| a.2.cmp(&b.2));
    out
}

#[test]
fn dms_file_names() {
    let l1 = DmsFile::parse("HR/EMP/LOAD00000001.csv").unwrap();
    let la = DmsFile::parse("HR/EMP/LOAD0000000A.csv.gz").unwrap();
    let l10 = DmsFile::parse("HR/EMP/LOAD00000010.parquet").unwrap();
    let p2 = DmsFile::parse("HR/EMP/LOAD_2_00000001.csv").unwrap();
    assert_eq!(l1.phase, Phase::FullLoad);
    assert_eq!(l1.ordinal(), "00000000000000000000001");
    assert_eq!(la.ordinal(), "00000000000000000000010");
    assert!(l1.ordinal() < la.ordinal() && la.ordinal() < l10.ordinal());
    assert_eq!(p2.ordinal(), "00200000000000000000001");
    let c3 = DmsFile::parse("HR/EMP/2024/11/05/20241105-134501123.csv").unwrap();
    let c4 = DmsFile::parse("HR/EMP/20141029-1134010000.csv").unwrap();
    assert_eq!(c3.phase, Phase::Cdc);
    assert_eq!(c3.ordinal(), "20241105134501123000000");
    assert_eq!(c4.ordinal(), "20141029113401000000000");
    for bad in [
        "x/data.csv",
        "LOADXYZ.csv",
        "20241305-134501123.csv",
        "20241105-256001.csv",
        "20241105_134501.csv",
        "LOAD.csv",
    ] {
        assert!(
            DmsFile::parse(bad)
                .unwrap_err()
                .contains("not a DMS file name"),
            "{bad}"
        );
    }
}

#[test]
fn seq_layout_is_fixed_and_readable() {
    let f = DmsFile::parse("t/20241105-134501123.csv").unwrap();
    let mut s = SeqWriter::new(&f);
    s.set_row(7);
    assert_eq!(
        s.as_str(),
        "1-20241105134501123000000000000000000-20241105134501123000000-0000000007"
    );
    assert!(s.set_commit_micros(1_730_814_300_000_001)); // 2024-11-05 13:45:00.000001
    assert_eq!(&s.as_str()[2..37], "20241105134500000001000000000000000");
    assert!(s.set_change_sequence(b"20241105134500000000000000000000042"));
    assert!(!s.set_change_sequence(b"2024110513450000000000000000000004"));
    assert!(!s.set_change_sequence(b"2024110513450000000000000000000004x"));
    assert!(!s.set_row(MAX_ROWS_PER_FILE + 1));
    assert_eq!(s.as_str().len(), SEQ_WIDTH);
    let l = SeqWriter::new(&DmsFile::parse("t/LOAD00000001.csv").unwrap());
    assert!(l.as_str() < s.as_str(), "full load sorts before CDC");
}

const FULL: &str = "2024-11-05 13:00:00,100,King,1987-06-17,24000,90\n2024-11-05 13:00:00,104,Ernst,1991-05-21,6000,60\n";
const CDC: &str = "Op,ts,EMPLOYEE_ID,LAST_NAME,HIRE_DATE,SALARY,DEPARTMENT_ID\n\
U,2024-11-05 13:40:00.000001,104,Ernst,5/21/91 0:00,6500,60\n\
U,2024-11-05 13:41:00,104,Ernst,5/21/91 0:00,7000,60\n\
D,2024-11-05 13:42:00,100,,,,90\n\
X,2024-11-05 13:42:30,101,Kochhar,,17000,90\n\
U,2024-11-05 13:43:00,104,Ernst\n\
U,2024-11-05 13:43:30,104,Ernst,,a lot,60\n\
U,2024-11-05 13:44:00,,Nobody,,1,60\n\
I,2024-11-05 13:45:00,100,King,1987-06-17,25000,90\n";

#[test]
fn full_load_then_cdc_sequenced_with_rejects_reconciled() {
    let (root, out, rej) = dirs("basic");
    let full = sequence_csv(FULL.as_bytes(), &spec("t/LOAD00000001.csv"), &out, &rej).unwrap();
    assert!(!full.header && !full.op_column);
    assert_eq!(full.rows_by_op.get("I"), Some(&2));
    let cdc = sequence_csv(
        CDC.as_bytes(),
        &spec("t/20241105-134501123.csv"),
        &out,
        &rej,
    )
    .unwrap();
    assert!(cdc.header && cdc.op_column);
    let b = &cdc.base;
    assert_eq!((b.rows_read, b.rows_written, b.rows_rejected), (8, 4, 4));
    assert_eq!(
        b.rejections_by_reason,
        BTreeMap::from([
            ("invalid_value".to_string(), 1),
            ("missing_key".to_string(), 1),
            ("unknown_op".to_string(), 1),
            ("wrong_column_count".to_string(), 1),
        ])
    );
    assert_eq!(
        b.rejections.iter().map(|r| r.line).collect::<Vec<_>>(),
        vec![5, 6, 7, 8]
    );
    let rejected = std::fs::read_to_string(root.join("rej/hr.emp/rejected.csv")).unwrap();
    assert_eq!(rejected.lines().count(), 5, "header + 4 rows: {rejected}");
    assert!(rejected.starts_with("Op,ts,"));
    assert_eq!(
        cdc.rows_by_op,
        BTreeMap::from([("D".into(), 1), ("I".into(), 1), ("U".into(), 2)])
    );
    let mut all = rows(&root, &full);
    all.extend(rows(&root, &cdc));
    all.sort_by(|a, b| a.2.cmp(&b.2));
    let history: Vec<(&str, i64, Option<f64>)> =
        all.iter().map(|r| (r.1.as_str(), r.3, r.4)).collect();
    assert_eq!(
        history,
        vec![
            ("I", 100, Some(24000.0)),
            ("I", 104, Some(6000.0)),
            ("U", 104, Some(6500.0)),
            ("U", 104, Some(7000.0)),
            ("D", 100, None),
            ("I", 100, Some(25000.0)),
        ]
    );
    assert_eq!(cdc.seq_first.as_deref(), Some(all[2].2.as_str()));
    assert_eq!(cdc.seq_last.as_deref(), Some(all[5].2.as_str()));
    let parts: Vec<&str> = cdc.base.outputs.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        parts,
        vec![
            "hr.emp/DEPARTMENT_ID=60/20241105-134501123_csv.parquet",
            "hr.emp/DEPARTMENT_ID=90/20241105-134501123_csv.parquet"
        ]
    );
    // Footer metadata carries the object's sequence range.
    let f = std::fs::File::open(root.join("out").join(parts[1])).unwrap();
    let md = parquet::file::reader::FileReader::metadata(
        &parquet::file::serialized_reader::SerializedFileReader::new(f).unwrap(),
    )
    .clone();
    let kv = md.file_metadata().key_value_metadata().unwrap();
    let get = |k: &str| {
        kv.iter()
            .find(|e| e.key == k)
            .and_then(|e| e.value.clone())
            .unwrap()
    };
    assert_eq!(get(META_SEQ_MIN), all[4].2);
    assert_eq!(get(META_SEQ_MAX), all[5].2);
    assert_eq!(get(META_SOURCE), "t/20241105-134501123.csv");
}

#[test]
fn headerless_cdc_and_op_in_full_load_are_detected() {
    let (_root, out, rej) = dirs("layout");
    let body = "I,2024-11-05 13:00:00,100,King,,1,90\n";
    let r = sequence_csv(body.as_bytes(), &spec("t/LOAD00000001.csv"), &out, &rej).unwrap();
    assert!(r.op_column && !r.header);
    let r = sequence_csv(
        body.as_bytes(),
        &spec("t/20241105-134501123.csv"),
        &out,
        &rej,
    )
    .unwrap();
    assert!(r.op_column && !r.header && r.base.rows_written == 1);
    // Header only: a CDC file without changes is fine.
    let r = sequence_csv(
        "Op,ts,EMPLOYEE_ID,LAST_NAME,HIRE_DATE,SALARY,DEPARTMENT_ID\n".as_bytes(),
        &spec("t/20241105-134501123.csv"),
        &out,
        &rej,
    )
    .unwrap();
    assert_eq!((r.base.rows_read, r.base.outputs.len()), (0, 0));
    // A header without a declared column makes the file unreadable.
    let e = sequence_csv(
        "Op,ts,EMPLOYEE_ID\nI,2024-11-05 13:00:00,1\n".as_bytes(),
        &spec("t/20241105-134501123.csv"),
        &out,
        &rej,
    )
    .unwrap_err();
    assert!(e.to_string().contains("no column LAST_NAME"), "{e}");
}

#[test]
fn change_sequence_column_orders_changes_across_files() {
    let (root, out, rej) = dirs("cseq");
    let mut s = spec("t/20241105-140000000.csv");
    s.change_sequence_column = Some("seq".into());
    s.timestamp_column = None;
    // The later file holds the earlier change.
    let late = "U,104,Ernst,,7000,60,20241105135900000000000000000000002\n";
    let r_late = sequence_csv(late.as_bytes(), &s, &out, &rej).unwrap();
    let mut s2 = s.clone();
    s2.file = DmsFile::parse("t/20241105-150000000.csv").unwrap();
    s2.output_stem = "stem2".into();
    let early = "U,104,Ernst,,6500,60,20241105135800000000000000000000001\nU,104,Ernst,,1,60,not-a-sequence\n";
    let r_early = sequence_csv(early.as_bytes(), &s2, &out, &rej).unwrap();
    assert_eq!(
        r_early
            .base
            .rejections_by_reason
            .get("invalid_change_sequence"),
        Some(&1)
    );
    let mut all = rows(&root, &r_late);
    all.extend(rows(&root, &r_early));
    all.sort_by(|a, b| a.2.cmp(&b.2));
    assert_eq!(
        all.iter().map(|r| r.4).collect::<Vec<_>>(),
        vec![Some(6500.0), Some(7000.0)]
    );
}

#[test]
fn utf8_is_checked_per_field_even_when_the_record_is_valid() {
    let (root, out, rej) = dirs("utf8");
    let mut body: Vec<u8> = Vec::new();
    body.extend_from_slice("I,2024-11-05 13:00:00,1,Ĳsselmeer-Müller,,1,1\n".as_bytes());
    body.extend_from_slice(b"I,2024-11-05 13:00:01,2,ab\xff,,1,1\n");
    // "é" split across two fields: the record's bytes are valid UTF-8, the fields are not.
    body.extend_from_slice(b"I,2024-11-05 13:00:02,3,x\xc3,\xa9,1,1\n");
    body.extend_from_slice(b"I,2024-11-05 13:00:03,4,ok,,1,1\n");
    let r = sequence_csv(&body[..], &spec("t/20241105-134501123.csv"), &out, &rej).unwrap();
    assert_eq!((r.base.rows_written, r.base.rows_rejected), (2, 2));
    assert_eq!(
        r.base.rejections_by_reason.get("invalid_utf8"),
        Some(&2),
        "{r:?}"
    );
    let _ = rows(&root, &r);
}

#[test]
fn too_many_rejects_publish_nothing() {
    let (root, out, rej) = dirs("rejects");
    let body = "Z,2024-11-05 13:00:00,1,a,,1,1\nZ,2024-11-05 13:00:00,2,b,,1,1\nI,2024-11-05 13:00:00,3,c,,1,1\n";
    let e = sequence_csv(
        body.as_bytes(),
        &spec("t/20241105-134501123.csv"),
        &out,
        &rej,
    )
    .unwrap_err();
    assert!(matches!(e, ConvertError::TooManyRejects { .. }), "{e}");
    let published = walk(&root.join("out"));
    assert!(
        published.iter().all(|p| !p.ends_with(".parquet")),
        "{published:?}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            found.extend(walk(&e.path()));
        } else {
            found.push(e.path().display().to_string());
        }
    }
    found
}

/// The `_seq` of each row, in the file's row order (SALARY holds the row index).
fn seqs_for(body: &str, key: &str, name: &str) -> Vec<String> {
    let (root, out, rej) = dirs(name);
    let r = sequence_csv(body.as_bytes(), &spec(key), &out, &rej).unwrap();
    let mut v: Vec<(u64, String)> = rows(&root, &r)
        .into_iter()
        .map(|r| (r.4.unwrap_or(0.0) as u64, r.2))
        .collect();
    v.sort();
    let _ = std::fs::remove_dir_all(root);
    v.into_iter().map(|(_, s)| s).collect()
}

fn body_of(rows: &[(u8, u32)]) -> String {
    let mut s = String::new();
    for (i, (op, sec)) in rows.iter().enumerate() {
        let op = ["I", "U", "D"][*op as usize % 3];
        s.push_str(&format!(
            "{op},2024-11-05 13:{:02}:{:02},{},n{i},,{},{}\n",
            sec / 60 % 60,
            sec % 60,
            i % 7 + 1,
            i,
            i % 3
        ));
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Within a file (ordered by file time), `_seq` follows row order; re-processing gives
    /// the same numbers.
    #[test]
    fn monotonic_within_a_file_and_deterministic(rows in proptest::collection::vec((0u8..3, 0u32..3600), 1..60), tag in 0u32..1000) {
        let mut s = spec("t/20241105-134501123.csv");
        s.timestamp_column = None;
        let body: String = body_of(&rows).lines().map(|l| { let mut f: Vec<&str> = l.split(',').collect(); f.remove(1); f.join(",") + "\n" }).collect();
        let (root, out, rej) = dirs(&format!("mono{tag}"));
        let r = sequence_csv(body.as_bytes(), &s, &out, &rej).unwrap();
        let first: Vec<_> = self::rows(&root, &r);
        let r2 = sequence_csv(body.as_bytes(), &s, &out, &rej).unwrap();
        let second: Vec<_> = self::rows(&root, &r2);
        prop_assert_eq!(&first, &second);
        // Sorted by _seq, the rows come back in file order (the salary column holds the row index).
        let order: Vec<f64> = first.iter().map(|r| r.4.unwrap()).collect();
        let expected: Vec<f64> = (0..rows.len()).map(|i| i as f64).collect();
        prop_assert_eq!(order, expected);
        let _ = std::fs::remove_dir_all(root);
    }

    /// Across files, CDC rows order by commit time, then file, then row; full-load rows come
    /// first, whatever order the files are processed in.
    #[test]
    fn total_order_across_files(files in proptest::collection::vec(proptest::collection::vec((0u8..3, 0u32..120), 1..8), 1..5), tag in 0u32..1000) {
        let mut expected: Vec<(u8, u32, usize, usize, String)> = Vec::new();
        let mut seqs: Vec<String> = Vec::new();
        let load = "2024-11-05 12:00:00,1,x,,1,1\n";
        for (n, s) in seqs_for(load, "t/LOAD00000001.csv", &format!("load{tag}")).into_iter().enumerate() {
            expected.push((0, 0, 0, n, s.clone()));
            seqs.push(s);
        }
        for (fi, rows) in files.iter().enumerate().rev() {
            let key = format!("t/20241105-1400{:02}000.csv", fi);
            for (ri, s) in seqs_for(&body_of(rows), &key, &format!("f{tag}-{fi}")).into_iter().enumerate() {
                seqs.push(s.clone());
                expected.push((1, rows[ri].1, fi, ri, s));
            }
        }
        expected.sort_by_key(|a| (a.0, a.1, a.2, a.3));
        seqs.sort();
        let mut unique = seqs.clone();
        unique.dedup();
        prop_assert_eq!(unique.len(), seqs.len(), "sequence numbers are unique");
        prop_assert_eq!(seqs, expected.into_iter().map(|e| e.4).collect::<Vec<_>>());
    }
}

#[test]
fn a_header_without_a_nullable_column_lands_with_nulls() {
    let (root, out, rej) = dirs("header-missing");
    let body = "Op,ts,EMPLOYEE_ID,LAST_NAME,HIRE_DATE,DEPARTMENT_ID\n\
                U,2024-11-05 13:40:00,104,Ernst,1991-05-21,60\n";
    let r = sequence_csv(
        body.as_bytes(),
        &spec("t/20241105-134501123.csv"),
        &out,
        &rej,
    )
    .unwrap();
    assert_eq!((r.base.rows_read, r.base.rows_written), (1, 1));
    assert_eq!(rows(&root, &r)[0].4, None, "SALARY is null");
    // A required (key) column missing from the header refuses the file.
    let body = "Op,ts,LAST_NAME,DEPARTMENT_ID\nU,2024-11-05 13:40:00,Ernst,60\n";
    let e = sequence_csv(
        body.as_bytes(),
        &spec("t/20241105-134501124.csv"),
        &out,
        &rej,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("no column EMPLOYEE_ID (required)"),
        "{e}"
    );
}

#[test]
fn a_header_with_a_new_column_is_a_drift_with_its_inferred_type() {
    let (_root, out, rej) = dirs("header-extra");
    let body = "Op,ts,EMPLOYEE_ID,LAST_NAME,HIRE_DATE,SALARY,DEPARTMENT_ID,BONUS,BADGE\n\
                U,2024-11-05 13:40:00,104,Ernst,1991-05-21,6500,60,,B-1\n\
                U,2024-11-05 13:41:00,104,Ernst,1991-05-21,7000,60,250.5,B-2\n";
    let e = sequence_csv(
        body.as_bytes(),
        &spec("t/20241105-134501123.csv"),
        &out,
        &rej,
    )
    .unwrap_err();
    let ConvertError::SchemaDrift { columns } = &e else {
        panic!("{e}");
    };
    let found: Vec<(&str, ColumnType, bool)> = columns
        .iter()
        .map(|c| (c.name.as_str(), c.ty, c.nullable))
        .collect();
    assert_eq!(
        found,
        [
            ("BONUS", ColumnType::Double, true),
            ("BADGE", ColumnType::String, true)
        ]
    );
    assert!(e.to_string().contains("BONUS double, BADGE string"), "{e}");
}

#[test]
fn headerless_rows_short_of_trailing_nullable_columns_take_nulls() {
    let (root, out, rej) = dirs("headerless-short");
    let mut s = spec("t/LOAD00000001.csv");
    // BONUS was added at the end of the table; the partition column moves before it.
    s.schema.columns.push(Column {
        name: "BONUS".into(),
        ty: ColumnType::Double,
        nullable: true,
    });
    // Full load with Op (DMS IncludeOpForFullLoad), written before BONUS existed: one short.
    let body = "I,2024-11-05 13:00:00,100,King,1987-06-17,24000,90\n\
                I,2024-11-05 13:00:00,101,Kochhar,1989-09-21,17000,90,500\n\
                I,2024-11-05 13:00:00,102,De Haan\n";
    let r = sequence_csv(body.as_bytes(), &s, &out, &rej).unwrap();
    assert!(r.op_column);
    let b = &r.base;
    assert_eq!((b.rows_read, b.rows_written, b.rows_rejected), (3, 2, 1));
    assert_eq!(b.rejections[0].reason, "expected 8 fields, found 4");
    let written = rows(&root, &r);
    assert_eq!(written.iter().map(|w| w.3).collect::<Vec<_>>(), [100, 101]);
    // A CDC file without Op detection: the same rule.
    let mut c = s.clone();
    c.file = DmsFile::parse("t/20241105-134501123.csv").unwrap();
    c.source_file = "t/20241105-134501123.csv".into();
    let body = "U,2024-11-05 13:40:00,104,Ernst,1991-05-21,6500,60\n";
    let r = sequence_csv(body.as_bytes(), &c, &out, &rej).unwrap();
    assert_eq!((r.base.rows_written, r.base.rows_rejected), (1, 0));
}

/// Writes `columns` as a Parquet file and opens it for reading.
fn parquet_file(
    root: &std::path::Path,
    name: &str,
    columns: Vec<(&str, ArrayRef)>,
) -> std::fs::File {
    let batch = arrow::record_batch::RecordBatch::try_from_iter(columns).unwrap();
    std::fs::create_dir_all(root).unwrap();
    let path = root.join(name);
    let f = std::fs::File::create(&path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    std::fs::File::open(path).unwrap()
}

use arrow::array::{
    ArrayRef, Decimal128Array, Float64Array, Int32Array, StringArray, TimestampMicrosecondArray,
    TimestampMillisecondArray,
};
use std::sync::Arc;

fn dec(values: Vec<Option<i128>>, p: u8, s: i8) -> ArrayRef {
    Arc::new(
        Decimal128Array::from(values)
            .with_precision_and_scale(p, s)
            .unwrap(),
    )
}

const DAY_US: i64 = 86_400_000_000;

#[test]
fn dms_parquet_types_are_cast_not_printed() {
    let (root, out, rej) = dirs("parquet-types");
    let hire = 7_837; // 1991-06-17
    let ts = 1_730_814_000_000i64; // 2024-11-05 13:40:00 (ms)
    let f = parquet_file(
        &root,
        "20241105-134501123.parquet",
        vec![
            (
                "Op",
                Arc::new(StringArray::from(vec!["U", "U", "D"])) as ArrayRef,
            ),
            (
                "ts",
                Arc::new(TimestampMillisecondArray::from(vec![ts, ts + 1, ts + 2])),
            ),
            (
                "EMPLOYEE_ID",
                Arc::new(Int32Array::from(vec![104, 105, 100])),
            ),
            (
                "LAST_NAME",
                Arc::new(StringArray::from(vec![Some("Ernst"), Some("Austin"), None])),
            ),
            (
                "HIRE_DATE",
                Arc::new(TimestampMicrosecondArray::from(vec![
                    Some(hire * DAY_US),
                    Some(hire * DAY_US + 3_600_000_000),
                    None,
                ])),
            ),
            (
                "SALARY",
                dec(
                    vec![Some(650_050), Some(12_345_678_901_234_567_890_123), None],
                    38,
                    2,
                ),
            ),
            (
                "DEPARTMENT_ID",
                dec(vec![Some(60), Some(60), Some(90)], 4, 0),
            ),
        ],
    );
    let r = sequence_parquet(f, &spec("t/20241105-134501123.parquet"), &out, &rej).unwrap();
    let b = &r.base;
    assert_eq!((b.rows_read, b.rows_written, b.rows_rejected), (3, 2, 1));
    assert!(
        b.rejections[0]
            .reason
            .contains("123456789012345678901.23 has no exact double"),
        "{:?}",
        b.rejections
    );
    assert!(
        r.values_truncated.is_empty(),
        "the 01:00 time was on the rejected row"
    );
    let written = rows(&root, &r);
    let got: Vec<(&str, &str, i64, Option<f64>)> = written
        .iter()
        .map(|w| (w.0.as_str(), w.1.as_str(), w.3, w.4))
        .collect();
    assert_eq!(
        got,
        [
            ("DEPARTMENT_ID=60", "U", 104, Some(6500.5)),
            ("DEPARTMENT_ID=90", "D", 100, None)
        ]
    );
    assert_eq!(
        &written[0].2[2..22],
        "20241105134000000000",
        "K from the typed commit time"
    );
    let rejected = std::fs::read_to_string(root.join("rej/hr.emp/rejected.csv")).unwrap();
    assert!(rejected.starts_with("Op,ts,EMPLOYEE_ID"), "{rejected}");
    assert!(rejected.contains("Austin"), "{rejected}");
}

#[test]
fn dms_parquet_counts_dropped_times_and_reports_drift_and_narrowing() {
    let (root, out, rej) = dirs("parquet-drift");
    let hire = 7_837;
    let base = |extra: Vec<(&'static str, ArrayRef)>, id: ArrayRef| {
        let mut cols: Vec<(&str, ArrayRef)> = vec![
            ("EMPLOYEE_ID", id),
            ("LAST_NAME", Arc::new(StringArray::from(vec!["King"]))),
            (
                "HIRE_DATE",
                Arc::new(TimestampMicrosecondArray::from(vec![hire * DAY_US + 1])),
            ),
            ("SALARY", Arc::new(Float64Array::from(vec![24000.0]))),
            ("DEPARTMENT_ID", Arc::new(Int32Array::from(vec![90]))),
        ];
        cols.extend(extra);
        cols
    };
    let id: ArrayRef = Arc::new(arrow::array::Int64Array::from(vec![100]));
    let mut s = spec("t/LOAD00000001.parquet");
    s.timestamp_column = None;
    let f = parquet_file(&root, "a.parquet", base(vec![], id.clone()));
    let r = sequence_parquet(f, &s, &out, &rej).unwrap();
    assert_eq!(r.base.rows_written, 1);
    assert!(!r.op_column, "a full load without Op");
    assert_eq!(
        r.values_truncated,
        BTreeMap::from([("HIRE_DATE".to_string(), 1)])
    );
    // A column the declaration lacks: its type from Parquet; nothing written.
    let bonus: ArrayRef = dec(vec![Some(125)], 6, 2);
    let f = parquet_file(&root, "b.parquet", base(vec![("BONUS", bonus)], id.clone()));
    match sequence_parquet(f, &s, &out, &rej) {
        Err(ConvertError::SchemaDrift { columns }) => {
            assert_eq!(columns.len(), 1);
            assert_eq!(
                (columns[0].name.as_str(), columns[0].ty),
                ("BONUS", ColumnType::Double)
            );
        }
        other => panic!("{other:?}"),
    }
    // A widening source (bigint into a declared int) is a drift of that column.
    let mut narrow = s.clone();
    narrow.schema.columns[4].ty = ColumnType::Int32;
    let wide_dept: ArrayRef = Arc::new(arrow::array::Int64Array::from(vec![90]));
    let mut cols = base(vec![], id.clone());
    cols[4].1 = wide_dept;
    let f = parquet_file(&root, "c.parquet", cols);
    match sequence_parquet(f, &narrow, &out, &rej) {
        Err(ConvertError::SchemaDrift { columns }) => {
            assert_eq!(
                (columns[0].name.as_str(), columns[0].ty),
                ("DEPARTMENT_ID", ColumnType::Int64)
            );
        }
        other => panic!("{other:?}"),
    }
    // Narrowing (double into a declared bigint) refuses the file, naming column and types.
    let f = parquet_file(
        &root,
        "d.parquet",
        base(vec![], Arc::new(Float64Array::from(vec![100.0]))),
    );
    let e = sequence_parquet(f, &s, &out, &rej).unwrap_err();
    assert!(
        e.to_string().contains("column EMPLOYEE_ID: double in the file cannot be held by the declared bigint (narrowing)"),
        "{e}"
    );
}
