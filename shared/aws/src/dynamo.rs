//! The DynamoDB adapter of the item-table port: [`DynamoTable`] implements
//! [`ItemTable`](tributary::catalog::table::ItemTable) over an `aws_sdk_dynamodb::Client` and a table name.
//! With `crate::clients`, this is the only module that names the DynamoDB SDK.
//!
//! - Attribute values convert in one place ([`to_av`], [`from_av`]): strings and numbers; values
//!   of other types (written by other tools) read as absent.
//! - Conditions and updates render to expressions with generated placeholders ([`Expr`]): every
//!   attribute name becomes `#n<i>` and every value `:v<i>`, so no name can clash with a reserved
//!   word and no caller writes expression text.
//! - `BatchGetItem` takes at most [`BATCH_GET_KEYS`] keys and `BatchWriteItem` at most
//!   [`BATCH_WRITE_ITEMS`] items per call; larger requests are chunked here.
//! - **Every retry is bounded**: unprocessed keys and items, and throttled calls, are retried by
//!   [`Backoff`] (exponential, full jitter) at most [`MAX_ATTEMPTS`] calls in all, then fail with
//!   a retryable error. The SDK's own retries come on top for throttling.
//!
//! Also here: [`DdbMeter`] (counts DynamoDB round trips for tests and the benchmark) and the
//! constructors of the DynamoDB-backed catalog, records, search items and snapshot ledger.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, PutRequest, TransactWriteItem,
    Update, WriteRequest,
};

use tributary::catalog::table::{
    Attr, CancelReason, Cond, Item, ItemTable, Key, PK, SK, ScanFilter, TableError, UpdateAction,
    Write, WriteOp,
};
use tributary::error::AwsError;

/// The DynamoDB client type, for wiring code that must not name the SDK itself.
pub type DynamoClient = aws_sdk_dynamodb::Client;

/// Keys per `BatchGetItem` call (the service's limit).
pub const BATCH_GET_KEYS: usize = 100;
/// Items per `BatchWriteItem` call (the service's limit).
pub const BATCH_WRITE_ITEMS: usize = 25;
/// Calls of one request (the first included) before unprocessed keys or items, or throttling,
/// become a retryable error.
pub const MAX_ATTEMPTS: u32 = 8;
/// Backoff before the second call; doubled for each further one, up to [`MAX_DELAY`].
pub const BASE_DELAY: Duration = Duration::from_millis(25);
/// Longest backoff between two calls.
pub const MAX_DELAY: Duration = Duration::from_secs(2);

/// Error codes of a throttled call (retried by [`send`]).
const THROTTLING_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
];

pub fn to_av(a: &Attr) -> AttributeValue {
    match a {
        Attr::S(s) => AttributeValue::S(s.clone()),
        Attr::N(n) => AttributeValue::N(n.clone()),
    }
}

pub fn from_av(v: &AttributeValue) -> Option<Attr> {
    match v {
        AttributeValue::S(s) => Some(Attr::S(s.clone())),
        AttributeValue::N(n) => Some(Attr::N(n.clone())),
        _ => None,
    }
}

fn to_item(item: &Item) -> HashMap<String, AttributeValue> {
    item.iter().map(|(k, v)| (k.clone(), to_av(v))).collect()
}

fn from_item(item: &HashMap<String, AttributeValue>) -> Item {
    item.iter()
        .filter_map(|(k, v)| from_av(v).map(|a| (k.clone(), a)))
        .collect()
}

fn key_av(key: &Key) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (PK.to_string(), AttributeValue::S(key.pk.clone())),
        (SK.to_string(), AttributeValue::S(key.sk.clone())),
    ])
}

/// Expression text with generated placeholders, and the placeholders' names and values.
#[derive(Debug, Default)]
pub struct Expr {
    /// attribute name → `#n<i>`.
    names: BTreeMap<String, String>,
    values: Vec<(String, AttributeValue)>,
}

impl Expr {
    fn name(&mut self, attr: &str) -> String {
        let next = self.names.len();
        self.names
            .entry(attr.to_string())
            .or_insert_with(|| format!("#n{next}"))
            .clone()
    }

    fn value(&mut self, v: &Attr) -> String {
        let p = format!(":v{}", self.values.len());
        self.values.push((p.clone(), to_av(v)));
        p
    }

    /// A condition expression.
    pub fn condition(&mut self, c: &Cond) -> String {
        let mut compare = |a: &str, op: &str, v: &Attr| {
            let n = self.name(a);
            format!("{n} {op} {}", self.value(v))
        };
        match c {
            Cond::Exists(a) => format!("attribute_exists({})", self.name(a)),
            Cond::NotExists(a) => format!("attribute_not_exists({})", self.name(a)),
            Cond::Eq(a, v) => compare(a, "=", v),
            Cond::Lt(a, v) => compare(a, "<", v),
            Cond::Ge(a, v) => compare(a, ">=", v),
            Cond::And(all) => self.join(all, " AND "),
            Cond::Or(any) => self.join(any, " OR "),
        }
    }

    fn join(&mut self, parts: &[Cond], sep: &str) -> String {
        parts
            .iter()
            .map(|p| match p {
                Cond::And(_) | Cond::Or(_) => format!("({})", self.condition(p)),
                _ => self.condition(p),
            })
            .collect::<Vec<_>>()
            .join(sep)
    }

    /// An update expression (`SET ... ADD ... REMOVE ...`).
    pub fn update(&mut self, actions: &[UpdateAction]) -> String {
        let (mut set, mut add, mut remove) = (vec![], vec![], vec![]);
        for a in actions {
            let n = self.name(a.attr());
            match a {
                UpdateAction::Set(_, v) => set.push(format!("{n} = {}", self.value(v))),
                UpdateAction::SetIfAbsent(_, v) => {
                    set.push(format!("{n} = if_not_exists({n}, {})", self.value(v)))
                }
                UpdateAction::Add(_, v) => add.push(format!("{n} {}", self.value(v))),
                UpdateAction::Remove(_) => remove.push(n),
            }
        }
        [("SET", set), ("ADD", add), ("REMOVE", remove)]
            .into_iter()
            .filter(|(_, parts)| !parts.is_empty())
            .map(|(verb, parts)| format!("{verb} {}", parts.join(", ")))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A projection of `attrs` and the key attributes.
    pub fn projection(&mut self, attrs: &[&str]) -> String {
        let mut all: Vec<&str> = vec![PK, SK];
        all.extend(attrs.iter().filter(|a| **a != PK && **a != SK));
        all.iter()
            .map(|a| self.name(a))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A scan filter expression.
    pub fn scan_filter(&mut self, f: &ScanFilter) -> String {
        let pk = self.name(PK);
        let prefix = self.value(&Attr::s(&f.pk_prefix));
        let sk = self.name(SK);
        let sks: Vec<String> = f
            .sk_in
            .iter()
            .map(|s| format!("{sk} = {}", self.value(&Attr::s(s))))
            .collect();
        if sks.is_empty() {
            format!("begins_with({pk}, {prefix})")
        } else {
            format!("begins_with({pk}, {prefix}) AND ({})", sks.join(" OR "))
        }
    }

    /// `ExpressionAttributeNames` (`None` when empty: DynamoDB rejects an empty map).
    pub fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| {
            self.names
                .iter()
                .map(|(attr, p)| (p.clone(), attr.clone()))
                .collect()
        })
    }

    /// `ExpressionAttributeValues` (`None` when empty).
    pub fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.iter().cloned().collect())
    }
}

/// Bounded exponential backoff with full jitter: the one retry policy of this adapter.
#[derive(Debug, Default)]
pub struct Backoff {
    calls: u32,
}

impl Backoff {
    /// Counts a call that must be redone and sleeps [`Backoff::next_delay`]; `false` (no sleep)
    /// once [`MAX_ATTEMPTS`] calls were made.
    pub async fn wait(&mut self) -> bool {
        match self.next_delay() {
            Some(d) => {
                tokio::time::sleep(d).await;
                true
            }
            None => false,
        }
    }

    /// Counts a call that must be redone: a random delay up to
    /// `min(MAX_DELAY, BASE_DELAY * 2^(calls - 1))` (full jitter), or `None` once
    /// [`MAX_ATTEMPTS`] calls were made.
    pub fn next_delay(&mut self) -> Option<Duration> {
        self.calls += 1;
        if self.calls >= MAX_ATTEMPTS {
            return None;
        }
        let cap = BASE_DELAY
            .saturating_mul(1 << (self.calls - 1).min(16))
            .min(MAX_DELAY);
        Some(cap.mul_f64(jitter()))
    }
}

/// A uniform random fraction in [0, 1) (std's randomly keyed hasher; no crypto needed).
fn jitter() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Sends a request (built anew by `call` for each attempt), redoing it while it is throttled,
/// within [`Backoff`]'s bound (then the last, retryable, throttling error is returned).
pub async fn send<T, E, Fut>(mut call: impl FnMut() -> Fut) -> Result<T, SdkError<E, HttpResponse>>
where
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata,
{
    let mut backoff = Backoff::default();
    loop {
        match call().await {
            Err(e) if e.code().is_some_and(|c| THROTTLING_CODES.contains(&c)) => {
                if !backoff.wait().await {
                    return Err(e);
                }
            }
            r => return r,
        }
    }
}

fn exhausted(operation: &str, what: &str) -> TableError {
    AwsError {
        operation: operation.to_string(),
        code: None,
        status: None,
        message: format!("{what} still pending after {MAX_ATTEMPTS} calls"),
        retryable: true,
    }
    .into()
}

fn invalid(operation: &str, e: impl std::fmt::Display) -> TableError {
    AwsError {
        operation: operation.to_string(),
        code: None,
        status: None,
        message: e.to_string(),
        retryable: false,
    }
    .into()
}

/// A single write's error: its condition failing, or any other.
fn write_error<E>(operation: &str, e: SdkError<E, HttpResponse>) -> TableError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let source = crate::sdk::aws_error(operation, e);
    if source.is_code("ConditionalCheckFailedException") {
        TableError::ConditionFailed { source }
    } else {
        TableError::Aws(source)
    }
}

fn cancel_reason(code: Option<&str>) -> CancelReason {
    match code {
        None | Some("None") => CancelReason::None,
        Some("ConditionalCheckFailed") => CancelReason::ConditionFailed,
        Some("TransactionConflict") => CancelReason::Conflict,
        Some(other) => CancelReason::Other(other.to_string()),
    }
}

/// One DynamoDB table (see the module docs).
#[derive(Clone, Debug)]
pub struct DynamoTable {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoTable {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The same client on another table.
    pub fn sibling(&self, table: impl Into<String>) -> Self {
        Self::new(self.client.clone(), table)
    }

    fn op(&self, name: &str) -> String {
        format!("dynamodb:{name} {}", self.table)
    }

    fn transact_item(&self, w: &Write) -> Result<TransactWriteItem, TableError> {
        let op = self.op("TransactWriteItems");
        let table = w.table.as_deref().unwrap_or(&self.table);
        let mut expr = Expr::default();
        let condition = w.condition.as_ref().map(|c| expr.condition(c));
        let item = TransactWriteItem::builder();
        let item = match &w.op {
            WriteOp::Put(i) => item.put(
                Put::builder()
                    .table_name(table)
                    .set_item(Some(to_item(i)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(|e| invalid(&op, e))?,
            ),
            WriteOp::Update(k, actions) => {
                let update = expr.update(actions);
                item.update(
                    Update::builder()
                        .table_name(table)
                        .set_key(Some(key_av(k)))
                        .update_expression(update)
                        .set_condition_expression(condition)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(|e| invalid(&op, e))?,
                )
            }
            WriteOp::Delete(k) => item.delete(
                Delete::builder()
                    .table_name(table)
                    .set_key(Some(key_av(k)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(|e| invalid(&op, e))?,
            ),
            WriteOp::Check(k) => item.condition_check(
                ConditionCheck::builder()
                    .table_name(table)
                    .set_key(Some(key_av(k)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(|e| invalid(&op, e))?,
            ),
        };
        Ok(item.build())
    }

    /// One `BatchGetItem` request (at most [`BATCH_GET_KEYS`] keys), unprocessed keys redone.
    async fn batch_get_chunk(
        &self,
        keys: &[&Key],
        projection: Option<&[&str]>,
        found: &mut HashMap<Key, Item>,
    ) -> Result<(), TableError> {
        let op = self.op("BatchGetItem");
        let mut expr = Expr::default();
        let projection = projection.map(|attrs| expr.projection(attrs));
        let wanted = KeysAndAttributes::builder()
            .set_keys(Some(keys.iter().map(|k| key_av(k)).collect()))
            .consistent_read(true)
            .set_projection_expression(projection)
            .set_expression_attribute_names(expr.names())
            .build()
            .map_err(|e| invalid(&op, e))?;
        let mut request = HashMap::from([(self.table.clone(), wanted)]);
        let mut backoff = Backoff::default();
        loop {
            let out = send(|| {
                self.client
                    .batch_get_item()
                    .set_request_items(Some(request.clone()))
                    .send()
            })
            .await
            .map_err(|e| crate::sdk::aws_error(&op, e))?;
            for item in out
                .responses()
                .and_then(|r| r.get(&self.table))
                .into_iter()
                .flatten()
            {
                let item = from_item(item);
                if let Some(k) = Key::of(&item) {
                    found.insert(k, item);
                }
            }
            match out
                .unprocessed_keys()
                .and_then(|u| u.get(&self.table))
                .filter(|k| !k.keys().is_empty())
            {
                None => return Ok(()),
                Some(left) => request = HashMap::from([(self.table.clone(), left.clone())]),
            }
            if !backoff.wait().await {
                return Err(exhausted(&op, "unprocessed keys"));
            }
        }
    }
}

impl ItemTable for DynamoTable {
    fn name(&self) -> &str {
        &self.table
    }

    async fn get(
        &self,
        key: &Key,
        projection: Option<&[&str]>,
    ) -> Result<Option<Item>, TableError> {
        let mut expr = Expr::default();
        let projection = projection.map(|attrs| expr.projection(attrs));
        let out = send(|| {
            self.client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(key_av(key)))
                .consistent_read(true)
                .set_projection_expression(projection.clone())
                .set_expression_attribute_names(expr.names())
                .send()
        })
        .await
        .map_err(|e| crate::sdk::aws_error(self.op("GetItem"), e))?;
        Ok(out.item().map(from_item))
    }

    async fn query(&self, pk: &str) -> Result<Vec<Item>, TableError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = send(|| {
                self.client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("#pk = :pk")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_values(":pk", AttributeValue::S(pk.to_string()))
                    .consistent_read(true)
                    .set_exclusive_start_key(start.clone())
                    .send()
            })
            .await
            .map_err(|e| crate::sdk::aws_error(self.op("Query"), e))?;
            items.extend(out.items().iter().map(from_item));
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    async fn batch_get(
        &self,
        keys: &[Key],
        projection: Option<&[&str]>,
    ) -> Result<HashMap<Key, Item>, TableError> {
        let unique: Vec<&Key> = keys.iter().collect::<BTreeSet<_>>().into_iter().collect();
        let mut found = HashMap::new();
        for chunk in unique.chunks(BATCH_GET_KEYS) {
            self.batch_get_chunk(chunk, projection, &mut found).await?;
        }
        Ok(found)
    }

    async fn write(&self, w: Write) -> Result<(), TableError> {
        let table = w.table.as_deref().unwrap_or(&self.table);
        let mut expr = Expr::default();
        let condition = w.condition.as_ref().map(|c| expr.condition(c));
        let op = |name: &str| format!("dynamodb:{name} {table}");
        match &w.op {
            WriteOp::Put(item) => send(|| {
                self.client
                    .put_item()
                    .table_name(table)
                    .set_item(Some(to_item(item)))
                    .set_condition_expression(condition.clone())
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .send()
            })
            .await
            .map(drop)
            .map_err(|e| write_error(&op("PutItem"), e)),
            WriteOp::Update(key, actions) => {
                let update = expr.update(actions);
                send(|| {
                    self.client
                        .update_item()
                        .table_name(table)
                        .set_key(Some(key_av(key)))
                        .update_expression(&update)
                        .set_condition_expression(condition.clone())
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .send()
                })
                .await
                .map(drop)
                .map_err(|e| write_error(&op("UpdateItem"), e))
            }
            WriteOp::Delete(key) => send(|| {
                self.client
                    .delete_item()
                    .table_name(table)
                    .set_key(Some(key_av(key)))
                    .set_condition_expression(condition.clone())
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .send()
            })
            .await
            .map(drop)
            .map_err(|e| write_error(&op("DeleteItem"), e)),
            // A lone check is a one-item transaction.
            WriteOp::Check(_) => match self.transact(vec![w.clone()]).await {
                Err(TableError::Cancelled { source, .. }) => {
                    Err(TableError::ConditionFailed { source })
                }
                other => other,
            },
        }
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), TableError> {
        let items = writes
            .iter()
            .map(|w| self.transact_item(w))
            .collect::<Result<Vec<_>, _>>()?;
        let res = send(|| {
            self.client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
        })
        .await;
        let err = match res {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let reasons = match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(tc)) => Some(
                tc.cancellation_reasons()
                    .iter()
                    .map(|r| cancel_reason(r.code()))
                    .collect(),
            ),
            _ => None,
        };
        let source = crate::sdk::aws_error(self.op("TransactWriteItems"), err);
        Err(match reasons {
            Some(reasons) => TableError::Cancelled { reasons, source },
            None => TableError::Aws(source),
        })
    }

    async fn batch_put(&self, items: Vec<Item>) -> Result<(), TableError> {
        let op = self.op("BatchWriteItem");
        for chunk in items.chunks(BATCH_WRITE_ITEMS) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    PutRequest::builder()
                        .set_item(Some(to_item(item)))
                        .build()
                        .map(|p| WriteRequest::builder().put_request(p).build())
                        .map_err(|e| invalid(&op, e))
                })
                .collect::<Result<_, _>>()?;
            let mut backoff = Backoff::default();
            loop {
                let out = send(|| {
                    self.client
                        .batch_write_item()
                        .request_items(&self.table, pending.clone())
                        .send()
                })
                .await
                .map_err(|e| crate::sdk::aws_error(&op, e))?;
                pending = out
                    .unprocessed_items()
                    .and_then(|u| u.get(&self.table))
                    .cloned()
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if !backoff.wait().await {
                    return Err(exhausted(&op, "unprocessed items"));
                }
            }
        }
        Ok(())
    }

    async fn scan(&self, filter: &ScanFilter) -> Result<Vec<Item>, TableError> {
        let mut expr = Expr::default();
        let filter = expr.scan_filter(filter);
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = send(|| {
                self.client
                    .scan()
                    .table_name(&self.table)
                    .filter_expression(&filter)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .consistent_read(true)
                    .set_exclusive_start_key(start.clone())
                    .send()
            })
            .await
            .map_err(|e| crate::sdk::aws_error(self.op("Scan"), e))?;
            items.extend(out.items().iter().map(from_item));
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(items);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The DynamoDB-backed ports, under their historical names.

/// The dataset catalog and ledger over DynamoDB.
pub type DynamoCatalog = tributary::catalog::Catalog<DynamoTable>;
/// Dataset records over the DynamoDB catalog table.
pub type DynamoRecords = tributary::catalog::records::Records<DynamoTable>;
/// Search index and record reads over the DynamoDB catalog table.
pub type DynamoItems = tributary::discovery::search::TableItems<DynamoTable>;
/// Snapshot records and compaction leases over the DynamoDB catalog table.
pub type DynamoSnapshots = tributary::compaction::Snapshots<DynamoTable>;

/// The catalog and ledger over their two tables (one client).
pub fn catalog(
    client: aws_sdk_dynamodb::Client,
    catalog_table: impl Into<String>,
    ledger_table: impl Into<String>,
) -> DynamoCatalog {
    let catalog = DynamoTable::new(client, catalog_table);
    let ledger = catalog.sibling(ledger_table);
    DynamoCatalog::with_tables(catalog, ledger)
}

/// Dataset records over the catalog table.
pub fn records(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> DynamoRecords {
    DynamoRecords::with_table(DynamoTable::new(client, table))
}

/// Index and record reads over the catalog table.
pub fn items(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> DynamoItems {
    DynamoItems::with_table(DynamoTable::new(client, table))
}

/// Snapshot records and leases over the catalog table.
pub fn snapshots(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> DynamoSnapshots {
    DynamoSnapshots::with_table(DynamoTable::new(client, table))
}

// ---------------------------------------------------------------------------------------------
// Metering.

/// Counts the HTTP requests a DynamoDB client sends and the time spent waiting for them
/// (an SDK interceptor), so tests and the benchmark can check round trips per page and separate
/// the handler's own time from the emulator's.
#[derive(Debug, Default)]
pub struct DdbMeter {
    calls: AtomicU64,
    wait_nanos: AtomicU64,
    started: std::sync::Mutex<Vec<std::time::Instant>>,
}

impl DdbMeter {
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
    /// Total time between sending requests and receiving their responses.
    pub fn wait(&self) -> Duration {
        Duration::from_nanos(self.wait_nanos.load(Ordering::SeqCst))
    }
    /// A DynamoDB client like `client` whose requests this meter counts.
    pub fn instrument(
        self: &Arc<Self>,
        client: &aws_sdk_dynamodb::Client,
    ) -> aws_sdk_dynamodb::Client {
        let conf = client
            .config()
            .to_builder()
            .interceptor(MeterInterceptor(self.clone()))
            .build();
        aws_sdk_dynamodb::Client::from_conf(conf)
    }
}

#[derive(Debug)]
struct MeterInterceptor(Arc<DdbMeter>);

impl aws_sdk_dynamodb::config::Intercept for MeterInterceptor {
    fn name(&self) -> &'static str {
        "tributary-ddb-meter"
    }

    fn read_before_transmit(
        &self,
        _ctx: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _rc: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.calls.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut s) = self.0.started.lock() {
            s.push(std::time::Instant::now());
        }
        Ok(())
    }

    fn read_after_transmit(
        &self,
        _ctx: &aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextRef<
            '_,
        >,
        _rc: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        if let Some(t) = self.0.started.lock().ok().and_then(|mut s| s.pop()) {
            self.0
                .wait_nanos
                .fetch_add(t.elapsed().as_nanos() as u64, Ordering::SeqCst);
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "dynamo_tests.rs"]
mod tests;
