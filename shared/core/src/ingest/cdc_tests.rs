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
