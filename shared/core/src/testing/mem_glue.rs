//! [`MemGlue`]: an in-memory Glue Data Catalog database implementing
//! [`PartitionCatalog`] and [`PartitionPages`], behaving like Glue where the domain relies on it.
//!
//! Invariants (as Glue):
//! - Table names, column names and partition key names are stored lower case.
//! - `CreateTable` on an existing table is `Ok(false)` (the adapter's `AlreadyExistsException`);
//!   `UpdateTable`, `GetPartitions` and the batch calls on a missing table are
//!   `EntityNotFoundException`.
//! - Batch calls take at most [`MAX_PARTITIONS_PER_CALL`] partitions (`ValidationException`
//!   otherwise) and report failures per partition: `AlreadyExistsException` for a partition
//!   present (or repeated in the batch), `EntityNotFoundException` for updating a missing one,
//!   plus the failures a test armed with [`MemGlue::fail_partition`]; the other partitions of
//!   the batch succeed.
//! - Partitions are paged in value order; a page token is opaque and bound to its table (a
//!   foreign or garbled token is `InvalidInputException`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use super::faults::Faults;
use crate::discovery::manifest::{PartitionPage, PartitionPages};
use crate::error::AwsError;
use crate::tables::glue::{
    GlueError, MAX_PARTITIONS_PER_CALL, PartitionCatalog, PartitionFailure, PartitionState,
    TableDef, TableState,
};

/// The Glue API calls, for counting calls and arming faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GlueOp {
    CreateTable,
    GetTable,
    UpdateTable,
    BatchCreatePartition,
    GetPartitions,
    BatchUpdatePartition,
}

/// A partition as the catalog holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemPartition {
    pub values: Vec<String>,
    pub location: String,
    /// The data columns of the partition's storage descriptor (name, Glue type).
    pub columns: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
struct Table {
    state: TableState,
    description: String,
    partitions: BTreeMap<Vec<String>, MemPartition>,
}

#[derive(Debug)]
struct State {
    tables: BTreeMap<String, Table>,
    faults: Faults<GlueOp, GlueError>,
    /// Values → (code, message) every batch call fails them with.
    failing: HashMap<Vec<String>, (String, String)>,
    /// Created by "another writer" just before the next `CreateTable`.
    race: Option<TableDef>,
    page_size: usize,
    /// Sizes of every batch call, per operation, in call order.
    batches: HashMap<GlueOp, Vec<usize>>,
}

fn glue_error(op: &str, code: &str, message: &str) -> GlueError {
    GlueError::Aws(super::aws_error(op, code, 400, message))
}

fn lower(cols: &[(String, String)]) -> Vec<(String, String)> {
    cols.iter()
        .map(|(n, t)| (n.to_ascii_lowercase(), t.clone()))
        .collect()
}

fn table_of(def: &TableDef) -> Table {
    Table {
        state: TableState {
            columns: lower(&def.columns),
            partition_keys: lower(&def.partition_keys),
            location: def.location.clone(),
        },
        description: def.description.clone(),
        partitions: BTreeMap::new(),
    }
}

fn page_token(table: &str, offset: usize) -> String {
    format!("mem-glue:{table}:{offset}")
}

/// An in-memory Glue database. Clones share the same tables, counters and faults.
#[derive(Clone, Debug)]
pub struct MemGlue {
    state: Arc<Mutex<State>>,
}

impl Default for MemGlue {
    fn default() -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                tables: BTreeMap::new(),
                faults: Faults::default(),
                failing: HashMap::new(),
                race: None,
                page_size: 1000,
                batches: HashMap::new(),
            })),
        }
    }
}

impl MemGlue {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Partitions per `GetPartitions` page when the caller sets no limit (Glue: up to 1000).
    pub fn set_page_size(&self, n: usize) {
        self.lock().page_size = n.max(1);
    }

    /// The table as `GetTable` would return it.
    pub fn table(&self, name: &str) -> Option<TableState> {
        let st = self.lock();
        st.tables
            .get(&name.to_ascii_lowercase())
            .map(|t| t.state.clone())
    }

    /// The table's description.
    pub fn description(&self, name: &str) -> Option<String> {
        let st = self.lock();
        st.tables
            .get(&name.to_ascii_lowercase())
            .map(|t| t.description.clone())
    }

    /// The table's partitions, in value order (empty for a missing table).
    pub fn partitions(&self, table: &str) -> Vec<MemPartition> {
        let st = self.lock();
        st.tables
            .get(&table.to_ascii_lowercase())
            .map(|t| t.partitions.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The number of partitions of every batch call of `op` so far, in call order.
    pub fn batches(&self, op: GlueOp) -> Vec<usize> {
        self.lock().batches.get(&op).cloned().unwrap_or_default()
    }

    /// Every batch call fails the partition with these values with `code` until healed.
    pub fn fail_partition(&self, values: &[&str], code: &str, message: &str) {
        let values = values.iter().map(|v| v.to_string()).collect();
        self.lock()
            .failing
            .insert(values, (code.into(), message.into()));
    }

    /// Disarms every per-partition failure.
    pub fn heal_partitions(&self) {
        self.lock().failing.clear();
    }

    /// Makes the next `CreateTable` lose a race: `winner` is created first, as by a concurrent
    /// writer (so the caller gets `Ok(false)` and must reconcile with `winner`).
    pub fn race_next_create(&self, winner: TableDef) {
        self.lock().race = Some(winner);
    }

    /// How many calls of `op` were made (failed ones included).
    pub fn calls(&self, op: GlueOp) -> u64 {
        self.lock().faults.calls(op)
    }

    /// Calls of every operation.
    pub fn total_calls(&self) -> u64 {
        self.lock().faults.total()
    }

    /// Fails the `nth` call of `op` from now (1 = the next one) with `error`.
    pub fn fail_nth(&self, op: GlueOp, nth: u64, error: GlueError) {
        self.lock().faults.fail_nth(op, nth, error);
    }

    /// Fails every call of `op` with `error` until [`Self::heal`].
    pub fn fail_every(&self, op: GlueOp, error: AwsError) {
        self.lock().faults.fail_every(op, error);
    }

    /// Disarms the faults on `op`.
    pub fn heal(&self, op: GlueOp) {
        self.lock().faults.heal(op);
    }

    /// Counts a call of `op`, failing it if a fault is armed.
    fn enter(&self, op: GlueOp) -> Result<MutexGuard<'_, State>, GlueError> {
        let mut st = self.lock();
        st.faults.record(op)?;
        Ok(st)
    }

    /// The shared part of the batch calls: limits, a missing table, armed failures; `apply`
    /// does one partition and says why it failed.
    fn batch(
        &self,
        op: GlueOp,
        api: &str,
        table: &str,
        partitions: &[PartitionState],
        mut apply: impl FnMut(&mut Table, &PartitionState) -> Option<(&'static str, String)>,
    ) -> Result<Vec<PartitionFailure>, GlueError> {
        let mut st = self.enter(op)?;
        let what = format!("glue:{api} {table}");
        st.batches.entry(op).or_default().push(partitions.len());
        if partitions.len() > MAX_PARTITIONS_PER_CALL {
            return Err(glue_error(
                &what,
                "ValidationException",
                "partition list must have length less than or equal to 100",
            ));
        }
        let failing = st.failing.clone();
        let Some(t) = st.tables.get_mut(&table.to_ascii_lowercase()) else {
            return Err(glue_error(
                &what,
                "EntityNotFoundException",
                &format!("Table {table} not found."),
            ));
        };
        let keys = t.state.partition_keys.len();
        let mut failures = Vec::new();
        for p in partitions {
            let failure = if let Some((code, message)) = failing.get(&p.values) {
                Some((code.clone(), message.clone()))
            } else if p.values.len() != keys {
                Some((
                    "InvalidInputException".into(),
                    format!("{} values for {keys} partition keys", p.values.len()),
                ))
            } else {
                apply(t, p).map(|(code, message)| (code.to_string(), message))
            };
            if let Some((code, message)) = failure {
                failures.push(PartitionFailure {
                    values: p.values.clone(),
                    code,
                    message,
                });
            }
        }
        Ok(failures)
    }
}

impl PartitionCatalog for MemGlue {
    async fn create_table(&self, def: &TableDef) -> Result<bool, GlueError> {
        let mut st = self.enter(GlueOp::CreateTable)?;
        if let Some(winner) = st.race.take() {
            let name = winner.name.to_ascii_lowercase();
            st.tables.entry(name).or_insert_with(|| table_of(&winner));
        }
        let name = def.name.to_ascii_lowercase();
        if st.tables.contains_key(&name) {
            return Ok(false);
        }
        st.tables.insert(name, table_of(def));
        Ok(true)
    }

    async fn create_partitions(
        &self,
        def: &TableDef,
        partitions: &[PartitionState],
    ) -> Result<Vec<PartitionFailure>, GlueError> {
        let columns = lower(&def.columns);
        self.batch(
            GlueOp::BatchCreatePartition,
            "BatchCreatePartition",
            &def.name,
            partitions,
            |t, p| {
                if t.partitions.contains_key(&p.values) {
                    return Some(("AlreadyExistsException", "Partition already exists.".into()));
                }
                let part = MemPartition {
                    values: p.values.clone(),
                    location: p.location.clone(),
                    columns: columns.clone(),
                };
                t.partitions.insert(p.values.clone(), part);
                None
            },
        )
    }

    async fn get_table(&self, name: &str) -> Result<Option<TableState>, GlueError> {
        let st = self.enter(GlueOp::GetTable)?;
        Ok(st
            .tables
            .get(&name.to_ascii_lowercase())
            .map(|t| t.state.clone()))
    }

    async fn update_table(&self, def: &TableDef) -> Result<(), GlueError> {
        let mut st = self.enter(GlueOp::UpdateTable)?;
        match st.tables.get_mut(&def.name.to_ascii_lowercase()) {
            Some(t) => {
                let partitions = std::mem::take(&mut t.partitions);
                *t = Table {
                    partitions,
                    ..table_of(def)
                };
                Ok(())
            }
            None => Err(glue_error(
                &format!("glue:UpdateTable {}", def.name),
                "EntityNotFoundException",
                &format!("Table {} not found.", def.name),
            )),
        }
    }

    async fn get_partitions(
        &self,
        table: &str,
        token: Option<String>,
    ) -> Result<(Vec<PartitionState>, Option<String>), GlueError> {
        let (parts, next) = self.page_of(table, token, None)?;
        let parts = parts
            .into_iter()
            .map(|p| PartitionState {
                values: p.values,
                location: p.location,
            })
            .collect();
        Ok((parts, next))
    }

    async fn update_partitions(
        &self,
        def: &TableDef,
        partitions: &[PartitionState],
    ) -> Result<Vec<PartitionFailure>, GlueError> {
        let columns = lower(&def.columns);
        self.batch(
            GlueOp::BatchUpdatePartition,
            "BatchUpdatePartition",
            &def.name,
            partitions,
            |t, p| match t.partitions.get_mut(&p.values) {
                Some(part) => {
                    part.location = p.location.clone();
                    part.columns = columns.clone();
                    None
                }
                None => Some((
                    "EntityNotFoundException",
                    "Partition not found.".to_string(),
                )),
            },
        )
    }
}

impl MemGlue {
    /// One `GetPartitions` page: at most `limit` (or the page size) partitions from the token.
    fn page_of(
        &self,
        table: &str,
        token: Option<String>,
        limit: Option<i32>,
    ) -> Result<(Vec<MemPartition>, Option<String>), GlueError> {
        let st = self.enter(GlueOp::GetPartitions)?;
        let what = format!("glue:GetPartitions {table}");
        let name = table.to_ascii_lowercase();
        let size = match limit {
            None => st.page_size,
            Some(n) if (1..=1000).contains(&n) => n as usize,
            Some(n) => {
                return Err(glue_error(
                    &what,
                    "ValidationException",
                    &format!("maxResults {n} must be from 1 to 1000"),
                ));
            }
        };
        let Some(t) = st.tables.get(&name) else {
            return Err(glue_error(
                &what,
                "EntityNotFoundException",
                &format!("Table {table} not found."),
            ));
        };
        let from = match token {
            None => 0,
            Some(tok) => tok
                .strip_prefix(&format!("mem-glue:{name}:"))
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| {
                    glue_error(&what, "InvalidInputException", "Invalid pagination token")
                })?,
        };
        let page: Vec<MemPartition> = t
            .partitions
            .values()
            .skip(from)
            .take(size)
            .cloned()
            .collect();
        let end = from + page.len();
        let next = (end < t.partitions.len()).then(|| page_token(&name, end));
        Ok((page, next))
    }
}

impl PartitionPages for MemGlue {
    async fn page(
        &self,
        table: &str,
        token: Option<String>,
        limit: i32,
    ) -> Result<Option<PartitionPage>, GlueError> {
        let keys = {
            let st = self.enter(GlueOp::GetTable)?;
            match st.tables.get(&table.to_ascii_lowercase()) {
                None => return Ok(None),
                Some(t) => t
                    .state
                    .partition_keys
                    .iter()
                    .map(|(k, _)| k.clone())
                    .collect(),
            }
        };
        let (parts, next) = self.page_of(table, token, Some(limit))?;
        Ok(Some(PartitionPage {
            keys,
            partitions: parts.into_iter().map(|p| (p.values, p.location)).collect(),
            next,
        }))
    }
}
