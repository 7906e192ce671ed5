//! [`MemTable`]: an in-memory [`ItemTable`] for fast tests of the domain logic over the port (no
//! emulator). It keeps the port's invariants (`crate::catalog::table`): it evaluates the same
//! [`Cond`]itions and applies the same [`UpdateAction`]s as DynamoDB, a transaction is all or
//! nothing with a reason per write, and the tables made with [`MemTable::sibling`] share one
//! store so a transaction may span them. Built for tests only (`cfg(test)` or the `testing`
//! feature).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::catalog::table::{
    Attr, CancelReason, Cond, Item, ItemTable, Key, ScanFilter, TableError, UpdateAction, Write,
    WriteOp,
};
use crate::error::AwsError;

/// Every table of a store: table name → key → item.
pub type Tables = HashMap<String, BTreeMap<Key, Item>>;

/// Called with the store before each transaction is evaluated (tests simulate concurrent
/// writers with it).
pub type Hook = Arc<dyn Fn(&mut Tables) + Send + Sync>;

/// What a write leaves: its table, key and item (`None`: no item).
type Outcome = (String, Key, Option<Item>);

#[derive(Default)]
struct Store {
    tables: Tables,
    before_transact: Option<Hook>,
}

/// One table of an in-memory store (see the module docs). Clones share the store.
#[derive(Clone)]
pub struct MemTable {
    store: Arc<Mutex<Store>>,
    name: String,
}

impl std::fmt::Debug for MemTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemTable")
            .field("name", &self.name)
            .finish()
    }
}

/// Whether `cond` holds on `item` (`None`: no stored item), as DynamoDB evaluates it.
pub fn eval(cond: &Cond, item: Option<&Item>) -> bool {
    let get = |a: &str| item.and_then(|i| i.get(a));
    let cmp = |a: &str, v: &Attr| get(a).and_then(|x| compare(x, v));
    match cond {
        Cond::Exists(a) => get(a).is_some(),
        Cond::NotExists(a) => get(a).is_none(),
        Cond::Eq(a, v) => cmp(a, v) == Some(Ordering::Equal),
        Cond::Lt(a, v) => cmp(a, v) == Some(Ordering::Less),
        Cond::Ge(a, v) => matches!(cmp(a, v), Some(Ordering::Greater | Ordering::Equal)),
        Cond::And(all) => all.iter().all(|c| eval(c, item)),
        Cond::Or(any) => any.iter().any(|c| eval(c, item)),
    }
}

/// Orders two values of the same type (numbers by value); `None` across types.
fn compare(a: &Attr, b: &Attr) -> Option<Ordering> {
    match (a, b) {
        (Attr::S(a), Attr::S(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        (Attr::N(a), Attr::N(b)) => a.parse::<f64>().ok()?.partial_cmp(&b.parse::<f64>().ok()?),
        _ => None,
    }
}

fn validation(operation: &str, message: String) -> TableError {
    AwsError {
        operation: operation.into(),
        code: Some("ValidationException".into()),
        status: Some(400),
        message,
        retryable: false,
    }
    .into()
}

/// Applies update actions to an item (created with its key when missing).
fn apply_update(
    item: Option<&Item>,
    key: &Key,
    actions: &[UpdateAction],
) -> Result<Item, TableError> {
    let mut out = item.cloned().unwrap_or_else(|| key.item([]));
    for a in actions {
        match a {
            UpdateAction::Set(n, v) => {
                out.insert(n.clone(), v.clone());
            }
            UpdateAction::SetIfAbsent(n, v) => {
                out.entry(n.clone()).or_insert_with(|| v.clone());
            }
            UpdateAction::Add(n, v) => {
                let add = v.as_n().and_then(|x| x.parse::<i128>().ok());
                let old = match out.get(n) {
                    None => Some(0),
                    Some(o) => o.as_n().and_then(|x| x.parse::<i128>().ok()),
                };
                let (Some(add), Some(old)) = (add, old) else {
                    return Err(validation(
                        "UpdateItem",
                        format!("ADD {n}: operands are not integers"),
                    ));
                };
                out.insert(n.clone(), Attr::n(old + add));
            }
            UpdateAction::Remove(n) => {
                out.remove(n);
            }
        }
    }
    Ok(out)
}

fn project(item: &Item, projection: Option<&[&str]>) -> Item {
    match projection {
        None => item.clone(),
        Some(attrs) => item
            .iter()
            .filter(|(k, _)| {
                k.as_str() == crate::catalog::table::PK
                    || k.as_str() == crate::catalog::table::SK
                    || attrs.contains(&k.as_str())
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

impl MemTable {
    /// An empty store with one table, `name`.
    pub fn new(name: &str) -> Self {
        Self {
            store: Arc::new(Mutex::new(Store::default())),
            name: name.to_string(),
        }
    }

    /// Table `name` of the same store.
    pub fn sibling(&self, name: &str) -> Self {
        Self {
            store: self.store.clone(),
            name: name.to_string(),
        }
    }

    /// Runs `hook` on the store before every transaction of any of its tables.
    pub fn before_transact(&self, hook: impl Fn(&mut Tables) + Send + Sync + 'static) {
        self.lock().before_transact = Some(Arc::new(hook));
    }

    /// Every item of this table, by key.
    pub fn items(&self) -> BTreeMap<Key, Item> {
        self.lock()
            .tables
            .get(&self.name)
            .cloned()
            .unwrap_or_default()
    }

    /// Stores `item` as is (test fixtures written "by other means").
    pub fn insert(&self, item: Item) {
        let key = Key::of(&item).expect("a fixture item carries its key");
        self.lock()
            .tables
            .entry(self.name.clone())
            .or_default()
            .insert(key, item);
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The item a write leaves (`Ok(None)`: deleted or untouched by a check), or `Err(())`
    /// when its condition fails.
    fn outcome(
        tables: &Tables,
        default_table: &str,
        w: &Write,
    ) -> Result<Result<Outcome, ()>, TableError> {
        let table = w.table.clone().unwrap_or_else(|| default_table.to_string());
        let key = w
            .key()
            .ok_or_else(|| validation("Write", "an item without its key".into()))?;
        let stored = tables.get(&table).and_then(|t| t.get(&key));
        if let Some(c) = &w.condition
            && !eval(c, stored)
        {
            return Ok(Err(()));
        }
        let after = match &w.op {
            WriteOp::Put(item) => Some(item.clone()),
            WriteOp::Update(_, actions) => Some(apply_update(stored, &key, actions)?),
            WriteOp::Delete(_) => None,
            WriteOp::Check(_) => stored.cloned(),
        };
        Ok(Ok((table, key, after)))
    }

    fn store_outcome(tables: &mut Tables, (table, key, after): Outcome) {
        let t = tables.entry(table).or_default();
        match after {
            Some(item) => t.insert(key, item),
            None => t.remove(&key),
        };
    }

    fn failure(operation: &str, code: &str) -> AwsError {
        AwsError {
            operation: format!("mem:{operation}"),
            code: Some(code.into()),
            status: Some(400),
            message: format!("{code}: the conditional request failed"),
            retryable: false,
        }
    }
}

impl ItemTable for MemTable {
    fn name(&self) -> &str {
        &self.name
    }

    async fn get(
        &self,
        key: &Key,
        projection: Option<&[&str]>,
    ) -> Result<Option<Item>, TableError> {
        let store = self.lock();
        Ok(store
            .tables
            .get(&self.name)
            .and_then(|t| t.get(key))
            .map(|i| project(i, projection)))
    }

    async fn query(&self, pk: &str) -> Result<Vec<Item>, TableError> {
        let store = self.lock();
        Ok(store
            .tables
            .get(&self.name)
            .into_iter()
            .flat_map(|t| t.iter())
            .filter(|(k, _)| k.pk == pk)
            .map(|(_, i)| i.clone())
            .collect())
    }

    async fn batch_get(
        &self,
        keys: &[Key],
        projection: Option<&[&str]>,
    ) -> Result<HashMap<Key, Item>, TableError> {
        let store = self.lock();
        let table = store.tables.get(&self.name);
        Ok(keys
            .iter()
            .filter_map(|k| {
                table
                    .and_then(|t| t.get(k))
                    .map(|i| (k.clone(), project(i, projection)))
            })
            .collect())
    }

    async fn write(&self, w: Write) -> Result<(), TableError> {
        let mut store = self.lock();
        match Self::outcome(&store.tables, &self.name, &w)? {
            Ok(outcome) => {
                Self::store_outcome(&mut store.tables, outcome);
                Ok(())
            }
            Err(()) => Err(TableError::ConditionFailed {
                source: Self::failure("Write", "ConditionalCheckFailedException"),
            }),
        }
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), TableError> {
        let mut store = self.lock();
        if let Some(hook) = store.before_transact.clone() {
            hook(&mut store.tables);
        }
        let mut seen = BTreeSet::new();
        let mut outcomes = Vec::new();
        let mut reasons = Vec::new();
        for w in &writes {
            let table = w.table.clone().unwrap_or_else(|| self.name.clone());
            if !seen.insert((table, w.key())) {
                return Err(validation(
                    "TransactWriteItems",
                    "a transaction touches an item twice".into(),
                ));
            }
            match Self::outcome(&store.tables, &self.name, w)? {
                Ok(o) => {
                    outcomes.push(o);
                    reasons.push(CancelReason::None);
                }
                Err(()) => reasons.push(CancelReason::ConditionFailed),
            }
        }
        if outcomes.len() < writes.len() {
            return Err(TableError::Cancelled {
                reasons,
                source: Self::failure("TransactWriteItems", "TransactionCanceledException"),
            });
        }
        for o in outcomes {
            Self::store_outcome(&mut store.tables, o);
        }
        Ok(())
    }

    async fn batch_put(&self, items: Vec<Item>) -> Result<(), TableError> {
        for item in items {
            let key = Key::of(&item)
                .ok_or_else(|| validation("BatchWriteItem", "an item without its key".into()))?;
            self.lock()
                .tables
                .entry(self.name.clone())
                .or_default()
                .insert(key, item);
        }
        Ok(())
    }

    async fn scan(&self, filter: &ScanFilter) -> Result<Vec<Item>, TableError> {
        let store = self.lock();
        Ok(store
            .tables
            .get(&self.name)
            .into_iter()
            .flat_map(|t| t.iter())
            .filter(|(k, _)| {
                k.pk.starts_with(&filter.pk_prefix)
                    && (filter.sk_in.is_empty() || filter.sk_in.contains(&k.sk))
            })
            .map(|(_, i)| i.clone())
            .collect())
    }
}
