//! A neutral model of a key-value item table and its port, [`ItemTable`]: what the catalog,
//! ledger, dataset records, search index and snapshot ledger need of DynamoDB, without naming it.
//!
//! The model: an [`Item`] is a map of attribute names to [`Attr`]s (strings and numbers, all that
//! Tributary stores); every table has a string partition key [`PK`] and sort key [`SK`], and an
//! item always carries both (see `crate::catalog::keys` for the key layout). Writes ([`Write`]) are puts,
//! updates ([`UpdateAction`]: set, set if absent, add a number, remove), deletes and condition
//! checks, each with an optional structured [`Cond`]ition.
//!
//! Invariants every implementation keeps (`tributary_aws::dynamo::DynamoTable` over DynamoDB, and the
//! in-memory `crate::catalog::memtable::MemTable` of the tests):
//! - **Every read is strongly consistent**: it sees every write that returned before it started.
//! - **A write whose condition does not hold writes nothing** and fails with
//!   [`TableError::ConditionFailed`]; a condition is evaluated on the stored item (a missing item
//!   has no attributes).
//! - **A transaction is all or nothing**: when one of its writes' conditions fails (or another
//!   transaction conflicts) nothing is written and [`TableError::Cancelled`] tells, per write and
//!   in order, why. A transaction's writes may go to several tables of the same store
//!   ([`Write::on`]), and touch each item at most once.
//! - Batch reads and writes take any number of items; chunking to the service's limits and
//!   retrying what the service left unprocessed are the implementation's business, bounded in
//!   attempts (then a retryable error).

use std::collections::HashMap;
use std::future::Future;

use crate::error::{AwsError, Classify, ErrorKind};

/// Partition key attribute of every table.
pub const PK: &str = "pk";
/// Sort key attribute of every table.
pub const SK: &str = "sk";

/// An attribute value: a string, or a number (kept as its decimal text, as DynamoDB does).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Attr {
    S(String),
    N(String),
}

impl Attr {
    pub fn s(v: impl Into<String>) -> Self {
        Attr::S(v.into())
    }

    pub fn n(v: impl Into<i128>) -> Self {
        Attr::N(v.into().to_string())
    }

    pub fn as_s(&self) -> Option<&str> {
        match self {
            Attr::S(s) => Some(s),
            Attr::N(_) => None,
        }
    }

    pub fn as_n(&self) -> Option<&str> {
        match self {
            Attr::N(n) => Some(n),
            Attr::S(_) => None,
        }
    }
}

/// An item: attribute name → value (the key attributes included).
pub type Item = HashMap<String, Attr>;

/// The string attribute `name` of an item.
pub fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(Attr::as_s)
}

/// The number attribute `name` of an item, parsed (`None` when absent, not a number or out of
/// range for `T`).
pub fn number<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    item.get(name)
        .and_then(Attr::as_n)
        .and_then(|n| n.parse().ok())
}

/// An item's primary key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    /// The key of an item (`None` when it lacks a string `pk` or `sk`).
    pub fn of(item: &Item) -> Option<Key> {
        Some(Key::new(text(item, PK)?, text(item, SK)?))
    }

    /// The item with this key and `attrs`.
    pub fn item<'a>(&self, attrs: impl IntoIterator<Item = (&'a str, Attr)>) -> Item {
        let mut item: Item = attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        item.insert(PK.into(), Attr::s(&self.pk));
        item.insert(SK.into(), Attr::s(&self.sk));
        item
    }
}

/// A condition on the stored item, evaluated before a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// The attribute exists (on a missing item: false).
    Exists(String),
    NotExists(String),
    /// The attribute exists, has the value's type and equals it.
    Eq(String, Attr),
    /// The attribute exists, has the value's type and is less (numbers by value, strings by
    /// their UTF-8 bytes).
    Lt(String, Attr),
    /// Greater or equal, like [`Cond::Lt`].
    Ge(String, Attr),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

impl Cond {
    pub fn exists(attr: &str) -> Self {
        Cond::Exists(attr.into())
    }
    pub fn not_exists(attr: &str) -> Self {
        Cond::NotExists(attr.into())
    }
    pub fn eq(attr: &str, v: Attr) -> Self {
        Cond::Eq(attr.into(), v)
    }
    pub fn lt(attr: &str, v: Attr) -> Self {
        Cond::Lt(attr.into(), v)
    }
    pub fn ge(attr: &str, v: Attr) -> Self {
        Cond::Ge(attr.into(), v)
    }
    /// The item does not exist (its partition key is absent).
    pub fn item_absent() -> Self {
        Cond::not_exists(PK)
    }
    /// The item exists.
    pub fn item_present() -> Self {
        Cond::exists(PK)
    }

    pub fn and(self, other: Cond) -> Self {
        match self {
            Cond::And(mut all) => {
                all.push(other);
                Cond::And(all)
            }
            c => Cond::And(vec![c, other]),
        }
    }

    pub fn or(self, other: Cond) -> Self {
        match self {
            Cond::Or(mut any) => {
                any.push(other);
                Cond::Or(any)
            }
            c => Cond::Or(vec![c, other]),
        }
    }
}

/// One change of an update (an update of a missing item creates it with its key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateAction {
    /// `SET a = v`.
    Set(String, Attr),
    /// `SET a = if_not_exists(a, v)`: set only when absent.
    SetIfAbsent(String, Attr),
    /// `ADD a n`: adds a number (an absent attribute counts as 0).
    Add(String, Attr),
    /// `REMOVE a`.
    Remove(String),
}

impl UpdateAction {
    pub fn set(attr: &str, v: Attr) -> Self {
        UpdateAction::Set(attr.into(), v)
    }
    pub fn set_if_absent(attr: &str, v: Attr) -> Self {
        UpdateAction::SetIfAbsent(attr.into(), v)
    }
    pub fn add(attr: &str, n: impl Into<i128>) -> Self {
        UpdateAction::Add(attr.into(), Attr::n(n))
    }
    pub fn remove(attr: &str) -> Self {
        UpdateAction::Remove(attr.into())
    }

    /// The attribute the action changes.
    pub fn attr(&self) -> &str {
        match self {
            UpdateAction::Set(a, _)
            | UpdateAction::SetIfAbsent(a, _)
            | UpdateAction::Add(a, _)
            | UpdateAction::Remove(a) => a,
        }
    }
}

/// What a write does to its item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// Replaces the whole item (it carries its key).
    Put(Item),
    Update(Key, Vec<UpdateAction>),
    Delete(Key),
    /// Writes nothing: only its condition counts (in a transaction).
    Check(Key),
}

/// A write, alone ([`ItemTable::write`]) or in a transaction ([`ItemTable::transact`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// The table written; `None`: the table the write is given to.
    pub table: Option<String>,
    pub op: WriteOp,
    pub condition: Option<Cond>,
}

impl Write {
    /// Puts `item`, which must hold its key (see [`Key::item`]).
    pub fn put(item: Item) -> Self {
        debug_assert!(Key::of(&item).is_some(), "a put item carries its key");
        Self::of(WriteOp::Put(item))
    }
    pub fn update(key: Key, actions: Vec<UpdateAction>) -> Self {
        Self::of(WriteOp::Update(key, actions))
    }
    pub fn delete(key: Key) -> Self {
        Self::of(WriteOp::Delete(key))
    }
    pub fn check(key: Key, condition: Cond) -> Self {
        Self::of(WriteOp::Check(key)).when(condition)
    }

    fn of(op: WriteOp) -> Self {
        Self {
            table: None,
            op,
            condition: None,
        }
    }

    /// The write happens only if `condition` holds.
    pub fn when(mut self, condition: Cond) -> Self {
        self.condition = Some(condition);
        self
    }

    /// The write goes to table `name` (of the same store) rather than the one it is given to.
    pub fn on(mut self, name: &str) -> Self {
        self.table = Some(name.to_string());
        self
    }

    /// The key of the item written.
    pub fn key(&self) -> Option<Key> {
        match &self.op {
            WriteOp::Put(item) => Key::of(item),
            WriteOp::Update(k, _) | WriteOp::Delete(k) | WriteOp::Check(k) => Some(k.clone()),
        }
    }
}

/// Why one write of a cancelled transaction failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelReason {
    /// This write did not fail (another one did).
    None,
    /// Its condition did not hold.
    ConditionFailed,
    /// Another transaction was writing the item.
    Conflict,
    /// Any other reason, by the service's code.
    Other(String),
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum TableError {
    /// A single write's condition did not hold: nothing was written.
    #[error("{source}")]
    ConditionFailed { source: AwsError },
    /// A transaction was cancelled: nothing was written. `reasons` holds one entry per write, in
    /// the transaction's order (empty when the service gave none).
    #[error("{source}")]
    Cancelled {
        reasons: Vec<CancelReason>,
        source: AwsError,
    },
    #[error(transparent)]
    Aws(#[from] AwsError),
}

impl TableError {
    /// The underlying service error.
    pub fn aws(&self) -> &AwsError {
        match self {
            TableError::ConditionFailed { source } | TableError::Cancelled { source, .. } => source,
            TableError::Aws(e) => e,
        }
    }

    pub fn into_aws(self) -> AwsError {
        match self {
            TableError::ConditionFailed { source } | TableError::Cancelled { source, .. } => source,
            TableError::Aws(e) => e,
        }
    }

    /// A single write's condition failed, or a transaction was cancelled for any reason.
    pub fn is_condition_failure(&self) -> bool {
        matches!(
            self,
            TableError::ConditionFailed { .. } | TableError::Cancelled { .. }
        )
    }

    /// The reasons of a cancelled transaction (empty for any other error).
    pub fn reasons(&self) -> &[CancelReason] {
        match self {
            TableError::Cancelled { reasons, .. } => reasons,
            _ => &[],
        }
    }
}

impl Classify for TableError {
    fn kind(&self) -> ErrorKind {
        self.aws().kind()
    }
}

/// What a scan returns: items whose partition key starts with `pk_prefix` and whose sort key is
/// one of `sk_in`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanFilter {
    pub pk_prefix: String,
    pub sk_in: Vec<String>,
}

/// A table of items (see the module invariants). Cheap to clone where implementations are.
pub trait ItemTable: Send + Sync {
    /// The table's name, as [`Write::on`] names it.
    fn name(&self) -> &str;

    /// The item under `key`; with a projection, only those attributes (and the key).
    fn get(
        &self,
        key: &Key,
        projection: Option<&[&str]>,
    ) -> impl Future<Output = Result<Option<Item>, TableError>> + Send;

    /// Every item of partition `pk`, by sort key.
    fn query(&self, pk: &str) -> impl Future<Output = Result<Vec<Item>, TableError>> + Send;

    /// The items found under `keys` (any number; duplicates are read once); with a projection,
    /// only those attributes (and the key).
    fn batch_get(
        &self,
        keys: &[Key],
        projection: Option<&[&str]>,
    ) -> impl Future<Output = Result<HashMap<Key, Item>, TableError>> + Send;

    /// One write (fails with [`TableError::ConditionFailed`] when its condition does not hold).
    fn write(&self, write: Write) -> impl Future<Output = Result<(), TableError>> + Send;

    /// Writes all or nothing (fails with [`TableError::Cancelled`]).
    fn transact(&self, writes: Vec<Write>) -> impl Future<Output = Result<(), TableError>> + Send;

    /// Puts every item, unconditionally (any number, not atomically).
    fn batch_put(&self, items: Vec<Item>) -> impl Future<Output = Result<(), TableError>> + Send;

    /// Every item passing `filter` (reads the whole table: maintenance only, never on a
    /// request path).
    fn scan(
        &self,
        filter: &ScanFilter,
    ) -> impl Future<Output = Result<Vec<Item>, TableError>> + Send;
}
