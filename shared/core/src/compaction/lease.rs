//! The snapshot ledger: the published snapshot's record and the table's compaction lease, written
//! once over the item-table port. The lease is taken by a conditional put (free, expired or
//! ours), renewed before publishing (fencing), and the record is written in one transaction that
//! checks the lease and the previous generation: one publisher per table.

use super::*;

/// Snapshot records and the per-table lease. Implemented once over the item-table port.
pub trait SnapshotLedger: Send + Sync {
    /// The table's published snapshot, if any.
    fn current(
        &self,
        dataset: &str,
    ) -> impl Future<Output = Result<Option<SnapshotRecord>, CompactionError>> + Send;
    /// Takes the lease for `ttl` unless another owner holds an unexpired one (then `Err(until)`).
    fn acquire(
        &self,
        dataset: &str,
        owner: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Result<(), DateTime<Utc>>, CompactionError>> + Send;
    /// Extends the lease if `owner` still holds it; `false` if it was lost.
    fn renew(
        &self,
        dataset: &str,
        owner: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, CompactionError>> + Send;
    fn release(
        &self,
        dataset: &str,
        owner: &str,
    ) -> impl Future<Output = Result<(), CompactionError>> + Send;
    /// Records `snapshot` if `owner` holds the lease and the recorded generation is `previous`;
    /// `false` when either condition fails (nothing written).
    fn publish(
        &self,
        snapshot: &SnapshotRecord,
        previous: Option<u64>,
        owner: &str,
    ) -> impl Future<Output = Result<bool, CompactionError>> + Send;
}

/// [`SnapshotLedger`] in the catalog table (`DynamoSnapshots` over DynamoDB): `pk =
/// compaction#<dataset>` (`crate::catalog::keys`), `sk = snapshot` (the record as JSON in `doc`, its
/// `generation`) and `sk = lease` (`owner`, `expires_ms`).
/// Lease times come from its clock (the system clock unless [`Snapshots::with_clock`]).
#[derive(Clone)]
pub struct Snapshots<T> {
    table: T,
    clock: SharedClock,
}

impl<T: std::fmt::Debug> std::fmt::Debug for Snapshots<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshots")
            .field("table", &self.table)
            .finish()
    }
}

impl From<TableError> for CompactionError {
    fn from(e: TableError) -> Self {
        CompactionError::Aws(e.into_aws())
    }
}

/// The lease is `owner`'s and has not expired at `now` (ms).
fn lease_held(owner: &str, now: i64) -> Cond {
    Cond::eq("owner", Attr::s(owner)).and(Cond::ge("expires_ms", Attr::n(now)))
}

impl<T: ItemTable> Snapshots<T> {
    pub fn with_table(table: T) -> Self {
        Self {
            table,
            clock: clock::system(),
        }
    }

    /// Reads lease times from `clock` (a manual clock in tests: a lease expires when it is advanced).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    fn now_ms(&self) -> i64 {
        self.clock.epoch_millis()
    }
}

impl<T: ItemTable> SnapshotLedger for Snapshots<T> {
    async fn current(&self, dataset: &str) -> Result<Option<SnapshotRecord>, CompactionError> {
        let item = self.table.get(&keys::snapshot(dataset), None).await?;
        let Some(doc) = item.as_ref().and_then(|i| table::text(i, "doc")) else {
            return Ok(None);
        };
        serde_json::from_str(doc)
            .map(Some)
            .map_err(|e| CompactionError::Manifest {
                key: format!(
                    "table {} {}",
                    self.table.name(),
                    keys::compaction_pk(dataset)
                ),
                reason: e.to_string(),
            })
    }

    async fn acquire(
        &self,
        dataset: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Result<(), DateTime<Utc>>, CompactionError> {
        let now = self.now_ms();
        let lease = keys::lease(dataset);
        let put = Write::put(lease.item([
            ("owner", Attr::s(owner)),
            ("expires_ms", Attr::n(now + ttl.as_millis() as i64)),
        ]))
        .when(
            Cond::item_absent()
                .or(Cond::lt("expires_ms", Attr::n(now)))
                .or(Cond::eq("owner", Attr::s(owner))),
        );
        match self.table.write(put).await {
            Ok(()) => Ok(Ok(())),
            Err(e) if e.is_condition_failure() => {
                let until = self
                    .table
                    .get(&lease, None)
                    .await?
                    .as_ref()
                    .and_then(|i| table::number::<i64>(i, "expires_ms"))
                    .and_then(DateTime::from_timestamp_millis)
                    .unwrap_or_else(|| self.clock.now());
                Ok(Err(until))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn renew(
        &self,
        dataset: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, CompactionError> {
        let now = self.now_ms();
        let update = Write::update(
            keys::lease(dataset),
            vec![UpdateAction::set(
                "expires_ms",
                Attr::n(now + ttl.as_millis() as i64),
            )],
        )
        .when(lease_held(owner, now));
        match self.table.write(update).await {
            Ok(()) => Ok(true),
            Err(e) if e.is_condition_failure() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn release(&self, dataset: &str, owner: &str) -> Result<(), CompactionError> {
        let delete = Write::delete(keys::lease(dataset)).when(Cond::eq("owner", Attr::s(owner)));
        match self.table.write(delete).await {
            Ok(()) => Ok(()),
            // Expired and taken by another run: not ours to delete.
            Err(e) if e.is_condition_failure() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn publish(
        &self,
        snapshot: &SnapshotRecord,
        previous: Option<u64>,
        owner: &str,
    ) -> Result<bool, CompactionError> {
        let check = Write::check(
            keys::lease(&snapshot.dataset),
            lease_held(owner, self.now_ms()),
        );
        let doc = serde_json::to_string(snapshot).expect("records serialise");
        let put = Write::put(keys::snapshot(&snapshot.dataset).item([
            ("generation", Attr::n(snapshot.generation)),
            ("snapshot", Attr::s(&snapshot.snapshot)),
            ("rows", Attr::n(snapshot.rows)),
            ("published_at", Attr::s(snapshot.published_at.to_rfc3339())),
            ("doc", Attr::s(doc)),
        ]))
        .when(match previous {
            None => Cond::item_absent(),
            Some(g) => Cond::eq("generation", Attr::n(g)),
        });
        match self.table.transact(vec![check, put]).await {
            Ok(()) => Ok(true),
            Err(e) if e.is_condition_failure() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
