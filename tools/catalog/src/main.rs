//! `tributary-catalog`: the catalog's command line, for operators and the demo.
//!
//! ```text
//! tributary-catalog declare FILE.json          # declare every dataset of a JSON array (indexed writes)
//! tributary-catalog reindex                    # rebuild the whole search index from the records
//! tributary-catalog items dataset ID           # a dataset's items: declaration, stats, schema versions
//! tributary-catalog items stats                # every dataset's stats item, with its `dataset_id`
//! tributary-catalog items ledger BUCKET KEY    # the ledger entries of one object (one per version)
//! tributary-catalog items compaction ID        # a table's snapshot record and lease
//! ```
//!
//! Declarations go through `DatasetCatalog::declare`, which writes each record together with its
//! routes and search index entries. `reindex` is for records written by other means (a `PutItem` of
//! a declaration, as the README's data contract allows): it scans the declarations and rewrites
//! every record and the complete index with `BatchWriteItem`; run it while nothing else writes
//! records. `items` prints a JSON array of items (strings as strings, numbers as numbers), found by
//! the keys of `tributary::catalog::keys`, so no script spells a key itself. Configuration: the
//! functions' variables (`TRIBUTARY_CATALOG_TABLE`, ...) and the standard AWS ones.

use serde_json::{Map, Value};
use tributary::catalog::keys;
use tributary::catalog::records;
use tributary::catalog::table::{self, Attr, Item, ItemTable, ScanFilter};
use tributary::catalog::{Dataset, DatasetCatalog};
use tributary::config::Config;
use tributary_aws::clients;
use tributary_aws::dynamo::DynamoTable;

const USAGE: &str = "usage: tributary-catalog declare FILE.json | reindex | items dataset ID | items stats \
                     | items ledger BUCKET KEY | items compaction ID";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = Config::from_env()?;
    let sdk = clients::load_sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let catalog_table = DynamoTable::new(dynamodb.clone(), &config.catalog_table);
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["declare", file] => {
            let datasets: Vec<Dataset> = serde_json::from_slice(&std::fs::read(file)?)?;
            let catalog = tributary_aws::dynamo::catalog(
                dynamodb,
                &config.catalog_table,
                &config.ledger_table,
            );
            for ds in &datasets {
                catalog.declare(ds).await?;
                println!("declared {}", ds.id);
            }
        }
        ["reindex"] => {
            let all = records::scan_records(&catalog_table).await?;
            let items = records::bulk_load(&catalog_table, &all, &records::now()).await?;
            println!("re-indexed {} datasets ({items} items written)", all.len());
        }
        ["items", "dataset", id] => print_items(catalog_table.query(&keys::dataset_pk(id)).await?),
        ["items", "compaction", id] => {
            print_items(catalog_table.query(&keys::compaction_pk(id)).await?)
        }
        ["items", "ledger", bucket, key] => {
            let ledger = DynamoTable::new(dynamodb, &config.ledger_table);
            print_items(ledger.query(&keys::ledger_pk(bucket, key)).await?)
        }
        ["items", "stats"] => {
            let filter = ScanFilter {
                pk_prefix: keys::DATASET_PREFIX.into(),
                sk_in: vec![keys::STATS_SK.into()],
            };
            let mut items = catalog_table.scan(&filter).await?;
            for item in &mut items {
                let id = table::text(item, table::PK).and_then(keys::dataset_id_of);
                if let Some(id) = id.map(str::to_string) {
                    item.insert("dataset_id".into(), Attr::S(id));
                }
            }
            print_items(items)
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
    Ok(())
}

/// Items as a JSON array, ordered by key; numbers that fit an `i64` or `f64` print as numbers.
fn print_items(mut items: Vec<Item>) {
    let key = |i: &Item| {
        let text = |a: &str| {
            i.get(a)
                .and_then(Attr::as_s)
                .unwrap_or_default()
                .to_string()
        };
        (text(table::PK), text(table::SK))
    };
    items.sort_by_key(key);
    let out: Vec<Value> = items
        .into_iter()
        .map(|item| {
            let mut obj: Map<String, Value> = Map::new();
            for (name, attr) in item {
                let v = match attr {
                    Attr::S(s) => Value::String(s),
                    Attr::N(n) => n
                        .parse::<i64>()
                        .map(Value::from)
                        .or_else(|_| n.parse::<f64>().map(Value::from))
                        .unwrap_or(Value::String(n)),
                };
                obj.insert(name, v);
            }
            Value::Object(obj)
        })
        .collect();
    println!("{}", Value::Array(out));
}
