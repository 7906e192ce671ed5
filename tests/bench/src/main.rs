fn main() {
    let all: Vec<tributary::catalog::Dataset> =
        serde_json::from_slice(&std::fs::read("tests/data/datasets.json").unwrap()).unwrap();
    let ds = &all[0];
    let spec = tributary::convert::ConvertSpec {
        format: tributary::convert::TextFormat::Csv,
        delimiter: None,
        header: true,
        schema: ds.schema.clone(),
        partition_columns: vec![],
        static_partitions: vec![],
        output_prefix: "o/".into(),
        output_stem: "s".into(),
        reject_key: "r".into(),
        tuning: Default::default(),
    };
    let out = tributary::storage::DirSinkFactory {
        root: "/tmp/dbg".into(),
    };
    let r = tributary::convert::convert(
        std::fs::File::open("tests/data/landing/hr/employees/employees.csv").unwrap(),
        &spec,
        &out,
        &out,
    );
    println!(
        "{:?}",
        r.map(|r| (r.rows_read, r.rows_written, r.rows_rejected, r.rejections))
    );
}
