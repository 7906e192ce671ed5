//! `tributary-catalog`: the catalog's command line, for operators and the demo.
//!
//! ```text
//! tributary-catalog declare FILE.json   # declare every dataset of a JSON array (indexed writes)
//! tributary-catalog reindex             # rebuild the whole search index from the records
//! ```
//!
//! Declarations go through `DatasetCatalog::declare`, which writes each record together with its
//! search index entries. `reindex` is for records written by other means (a `PutItem` of a
//! declaration, as the README's data contract allows): it scans the declarations and rewrites
//! every record and the complete index with `BatchWriteItem`; run it while nothing else writes
//! records. Configuration: the functions' variables (`TRIBUTARY_CATALOG_TABLE`, ...) and the
//! standard AWS ones.

use tributary::catalog::records;
use tributary::catalog::{Dataset, DatasetCatalog};
use tributary::config::Config;
use tributary_aws::clients;
use tributary_aws::dynamo::DynamoTable;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = Config::from_env()?;
    let sdk = clients::load_sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
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
            let table = DynamoTable::new(dynamodb, &config.catalog_table);
            let all = records::scan_records(&table).await?;
            let items = records::bulk_load(&table, &all, &records::now()).await?;
            println!("re-indexed {} datasets ({items} items written)", all.len());
        }
        _ => {
            eprintln!("usage: tributary-catalog declare FILE.json | tributary-catalog reindex");
            std::process::exit(2);
        }
    }
    Ok(())
}
