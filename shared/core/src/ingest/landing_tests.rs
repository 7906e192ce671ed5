//! Unit tests of `landing`.

use super::*;

#[test]
fn stems_are_stable_and_safe() {
    let a = output_stem("b", "x/y/orders 2024.csv");
    assert_eq!(a, output_stem("b", "x/y/orders 2024.csv"));
    assert!(
        a.starts_with("orders_2024.csv-") && a.len() == "orders_2024.csv-".len() + 8,
        "{a}"
    );
    assert_ne!(a, output_stem("b", "z/orders 2024.csv"));
}

#[test]
fn formats_from_declaration_or_extension() {
    let mut ds = Dataset::default();
    assert_eq!(detect_format(&ds, "a/b.CSV.gz"), Some("csv"));
    assert_eq!(detect_format(&ds, "a/b.jsonl"), Some("jsonl"));
    assert_eq!(detect_format(&ds, "a/b.tsv"), Some("tsv"));
    assert_eq!(detect_format(&ds, "a/b.parquet"), Some("parquet"));
    assert_eq!(detect_format(&ds, "a/b"), None);
    ds.source.format = Some("jsonl".into());
    assert_eq!(detect_format(&ds, "a/b.csv"), Some("jsonl"));
}
