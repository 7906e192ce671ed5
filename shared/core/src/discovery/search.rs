//! Dataset search on the catalog table: the query engine over the index (`crate::catalog::index`,
//! re-exported here) and the port that reads its items.
//!
//! The index lives in the catalog table beside the records it describes, in two kinds of items,
//! each split into [`SHARDS`] shards by a hash of the dataset id:
//!
//! | pk | sk | attributes |
//! | --- | --- | --- |
//! | `search#docs` | `s<shard>` | cells `c00`..`c31`: per dataset a line `<id>\t<digest>`, the [`Digest`] as JSON (name, owner, zone, sensitivity, tags, allowed groups, version) |
//! | `search#t<bucket>` | `s<shard>` | cells `c00`..`c31`: per dataset a line `<id>\t<postings>` of its tokens in that bucket, `token:fields token:fields ...` |
//!
//! A dataset's lines are always in the same cell ([`cell_attr`]) of the items of its shard.
//!
//! A token's bucket is a hash of its first two characters, one of [`BUCKETS`], so every token a
//! query term can prefix-match is in the term's bucket. `fields` is a bit set of [`Field`]s the
//! token occurs in; weights are applied at query time.
//!
//! Invariants:
//! - **The index is kept consistent with the records.** Every write of a dataset record
//!   (`crate::catalog::records`) rewrites the dataset's line in its digest cell and in the cell of every
//!   bucket it occupies, and removes it from buckets it left, in the same `TransactWriteItems` as
//!   the record, conditioned on the record's version and on each cell holding what was read: the
//!   index never holds a version of a dataset other than the stored one. [`IndexBuild`] computes the same items from scratch (bulk load,
//!   re-index), and the tests compare the two.
//! - **A search page costs at most 2 DynamoDB round trips, with no scan and no query**: one
//!   `BatchGetItem` of the digest shards and of the shards of each query term's bucket (at most
//!   `SHARDS * (1 + MAX_TERM_BUCKETS)` = 80 keys, below the call's limit of 100), and one
//!   `BatchGetItem` of the page's records (declaration and stats of at most [`MAX_LIMIT`]
//!   datasets: 100 keys). Unprocessed keys (throttling) are retried and counted.
//! - Visibility is applied before filters, facets and paging: a caller never learns, even from a
//!   count, that a dataset of another group exists.
//! - Ranking is total (score, then id), and the cursor is the last (score, id) of a page, bound to
//!   the query's parameters: paging visits every match exactly once while the index is unchanged.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;

use serde::{Deserialize, Serialize};

pub use crate::catalog::index::*;
use crate::catalog::table::{ItemTable, TableError};
use crate::error::{AwsError, Classify, ErrorKind};

// ---------------------------------------------------------------------------------------------
// The read port.

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("search index item {pk}/{sk}: {reason}")]
    Corrupt {
        pk: String,
        sk: String,
        reason: String,
    },
}

impl Classify for SearchError {
    fn kind(&self) -> ErrorKind {
        match self {
            SearchError::Aws(e) => e.kind(),
            SearchError::Corrupt { .. } => ErrorKind::Fatal,
        }
    }
}

impl From<TableError> for SearchError {
    fn from(e: TableError) -> Self {
        SearchError::Aws(e.into_aws())
    }
}

/// Reads catalog items by key (in DynamoDB: one `BatchGetItem` per 100 keys, consistent).
pub trait ItemReader: Send + Sync {
    fn read_items(
        &self,
        keys: &[ItemKey],
    ) -> impl Future<Output = Result<HashMap<ItemKey, Item>, SearchError>> + Send;
}

/// [`ItemReader`] over the catalog table (`DynamoItems` over DynamoDB).
#[derive(Clone, Debug)]
pub struct TableItems<T> {
    table: T,
}

impl<T: ItemTable> TableItems<T> {
    pub fn with_table(table: T) -> Self {
        Self { table }
    }
}

impl<T: ItemTable> ItemReader for TableItems<T> {
    async fn read_items(&self, keys: &[ItemKey]) -> Result<HashMap<ItemKey, Item>, SearchError> {
        Ok(self.table.batch_get(keys, None).await?)
    }
}

// ---------------------------------------------------------------------------------------------
// Queries.

/// Who is asking: their principal names (subject, user name, e-mail) and groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    pub principals: Vec<String>,
    pub groups: Vec<String>,
    pub admin: bool,
}

impl Caller {
    /// Whether the caller may see a dataset: an admin, its owner, or a member of one of its
    /// allowed groups. A dataset without allowed groups is visible to its owner and admins only.
    pub fn can_see(&self, owner: &str, groups: &[String]) -> bool {
        self.admin || self.owns(owner) || groups.iter().any(|g| self.groups.contains(g))
    }

    /// Whether the caller owns a dataset: its owner names one of the caller's principals or groups.
    pub fn owns(&self, owner: &str) -> bool {
        !owner.is_empty()
            && (self.principals.iter().any(|p| p == owner)
                || self.groups.iter().any(|g| g == owner))
    }
}

/// A parsed search request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub q: String,
    /// Every listed tag must be present.
    pub tags: Vec<String>,
    /// Any of the listed owners.
    pub owners: Vec<String>,
    pub zones: Vec<String>,
    pub sensitivities: Vec<String>,
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

/// Where the next page starts: after (score, id) in ranking order, for the query hashed `h`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub h: u32,
    pub s: u32,
    pub i: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        base64_simd::URL_SAFE_NO_PAD.encode_to_string(serde_json::to_vec(self).expect("cursor"))
    }

    pub fn decode(s: &str) -> Option<Self> {
        let raw = base64_simd::URL_SAFE_NO_PAD.decode_to_vec(s).ok()?;
        serde_json::from_slice(&raw).ok()
    }
}

impl Query {
    /// The distinct query terms.
    pub fn terms(&self) -> Vec<String> {
        tokens(&self.q)
    }

    /// A hash of everything but the cursor and the limit: a cursor only continues its own query.
    pub fn fingerprint(&self) -> u32 {
        let mut parts = vec![self.terms().join(" ")];
        for list in [&self.tags, &self.owners, &self.zones, &self.sensitivities] {
            let mut l = list.clone();
            l.sort();
            parts.push(l.join("\u{1f}"));
        }
        fnv1a(parts.join("\u{1e}").as_bytes())
    }

    /// The index items a page reads: every digest shard, and every shard of each term's bucket.
    pub fn index_keys(&self) -> Vec<ItemKey> {
        let buckets: BTreeSet<u32> = self.terms().iter().map(|t| bucket_of(t)).collect();
        let mut keys = Vec::new();
        for shard in 0..SHARDS {
            keys.push(ItemKey::new(DOCS_PK, shard_sk(shard)));
            for b in &buckets {
                keys.push(ItemKey::new(term_pk(*b), shard_sk(shard)));
            }
        }
        keys
    }

    /// Distinct term buckets (bounded by [`MAX_TERM_BUCKETS`]).
    pub fn term_buckets(&self) -> usize {
        self.terms()
            .iter()
            .map(|t| bucket_of(t))
            .collect::<BTreeSet<_>>()
            .len()
    }
}

/// One ranked match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hit {
    pub id: String,
    pub score: u32,
    /// Fields a query term matched in (`name`, `id`, `tags`, `columns`, `description`).
    pub matched: Vec<&'static str>,
    #[serde(skip)]
    pub digest: Digest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FacetValue {
    pub value: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Facets {
    pub tags: Vec<FacetValue>,
    pub owners: Vec<FacetValue>,
    pub zones: Vec<FacetValue>,
}

/// A ranked page: its hits, the number of matches, facets over all matches, the next cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranked {
    pub hits: Vec<Hit>,
    pub total: u64,
    pub facets: Facets,
    pub next: Option<Cursor>,
}

/// The (id, value) entries of every cell of an item.
fn string_attrs<'a>(
    items: &'a HashMap<ItemKey, Item>,
    key: &ItemKey,
) -> impl Iterator<Item = (&'a str, &'a str)> {
    items
        .get(key)
        .into_iter()
        .flatten()
        .filter(|(name, _)| name.starts_with(CELL_PREFIX))
        .filter_map(|(_, v)| v.as_s())
        .flat_map(cell_entries)
}

/// Ranks the matches of `query` for `caller` from the index items read with
/// [`Query::index_keys`]: visibility, term matching (exact tokens and prefixes), filters, facets
/// over every visible match, then the page after the cursor.
pub fn rank(
    query: &Query,
    caller: &Caller,
    items: &HashMap<ItemKey, Item>,
) -> Result<Ranked, SearchError> {
    let candidates = candidates(query, caller, items)?;
    let scored = score(query, items, &candidates);
    let facets = facets(&scored, &candidates);
    let total = scored.len() as u64;
    let (hits, next) = page(query, scored, &candidates);
    Ok(Ranked {
        hits,
        total,
        facets,
        next,
    })
}

/// Digests of the visible datasets that pass the query's filters.
fn candidates(
    query: &Query,
    caller: &Caller,
    items: &HashMap<ItemKey, Item>,
) -> Result<BTreeMap<String, Digest>, SearchError> {
    let mut candidates: BTreeMap<String, Digest> = BTreeMap::new();
    for shard in 0..SHARDS {
        let key = ItemKey::new(DOCS_PK, shard_sk(shard));
        for (id, json) in string_attrs(items, &key) {
            let d: Digest = serde_json::from_str(json).map_err(|e| SearchError::Corrupt {
                pk: key.pk.clone(),
                sk: key.sk.clone(),
                reason: format!("digest of {id}: {e}"),
            })?;
            let pass = caller.can_see(&d.owner, &d.groups)
                && query.tags.iter().all(|t| d.tags.contains(t))
                && (query.owners.is_empty() || query.owners.contains(&d.owner))
                && (query.zones.is_empty() || query.zones.contains(&d.zone))
                && (query.sensitivities.is_empty() || query.sensitivities.contains(&d.sensitivity));
            if pass {
                candidates.insert(id.to_string(), d);
            }
        }
    }
    Ok(candidates)
}

/// id → (score, matched field bits), over the candidates that match every term (all of them for
/// a query without terms).
fn score(
    query: &Query,
    items: &HashMap<ItemKey, Item>,
    candidates: &BTreeMap<String, Digest>,
) -> BTreeMap<String, (u32, u8)> {
    let terms = query.terms();
    if terms.is_empty() {
        return candidates.keys().map(|id| (id.clone(), (0, 0))).collect();
    }
    let per_term = term_matches(&terms, items, candidates);
    let mut scored: BTreeMap<String, (u32, u8)> = BTreeMap::new();
    let normalised_q = terms.join(" ");
    for (id, d) in candidates {
        let mut total = 0u32;
        let mut bits = 0u8;
        let mut all = true;
        for m in &per_term {
            match m.get(id) {
                Some((s, f)) => {
                    total += s;
                    bits |= f;
                }
                None => {
                    all = false;
                    break;
                }
            }
        }
        if all {
            if tokens(&d.name).join(" ") == normalised_q
                || tokens(id).join(" ") == normalised_q
                || id.to_lowercase() == query.q.trim().to_lowercase()
            {
                total += EXACT_NAME_BONUS;
            }
            scored.insert(id.clone(), (total, bits));
        }
    }
    scored
}

/// Per term: id → (best score, fields), from the postings of the terms' buckets.
fn term_matches(
    terms: &[String],
    items: &HashMap<ItemKey, Item>,
    candidates: &BTreeMap<String, Digest>,
) -> Vec<HashMap<String, (u32, u8)>> {
    let mut per_term: Vec<HashMap<String, (u32, u8)>> = vec![HashMap::new(); terms.len()];
    let mut buckets: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, t) in terms.iter().enumerate() {
        buckets.entry(bucket_of(t)).or_default().push(i);
    }
    for (bucket, term_idx) in &buckets {
        for shard in 0..SHARDS {
            let key = ItemKey::new(term_pk(*bucket), shard_sk(shard));
            for (id, postings) in string_attrs(items, &key) {
                if !candidates.contains_key(id) {
                    continue;
                }
                for posting in postings.split(' ') {
                    let Some((token, f)) = posting.rsplit_once(':') else {
                        continue;
                    };
                    let f: u8 = f.parse().unwrap_or(0);
                    for &i in term_idx {
                        let term = &terms[i];
                        let exact = token == term;
                        if !exact && !token.starts_with(term.as_str()) {
                            continue;
                        }
                        let w: u32 = Field::ALL
                            .iter()
                            .filter(|fl| f & (**fl as u8) != 0)
                            .map(|fl| fl.weight())
                            .sum();
                        let s = if exact { 2 * w } else { w };
                        let e = per_term[i].entry(id.to_string()).or_insert((0, 0));
                        e.0 = e.0.max(s);
                        e.1 |= f;
                    }
                }
            }
        }
    }
    per_term
}

/// Facet counts (tags, owners, zones) over every match, not just the page.
fn facets(scored: &BTreeMap<String, (u32, u8)>, candidates: &BTreeMap<String, Digest>) -> Facets {
    let mut facet_counts: [BTreeMap<String, u64>; 3] = Default::default();
    for id in scored.keys() {
        let d = &candidates[id];
        for t in &d.tags {
            *facet_counts[0].entry(t.clone()).or_default() += 1;
        }
        *facet_counts[1].entry(d.owner.clone()).or_default() += 1;
        *facet_counts[2].entry(d.zone.clone()).or_default() += 1;
    }
    let facet = |m: &BTreeMap<String, u64>| {
        let mut v: Vec<FacetValue> = m
            .iter()
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, c)| FacetValue {
                value: k.clone(),
                count: *c,
            })
            .collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
        v.truncate(MAX_FACET_VALUES);
        v
    };
    Facets {
        tags: facet(&facet_counts[0]),
        owners: facet(&facet_counts[1]),
        zones: facet(&facet_counts[2]),
    }
}

/// The page after the cursor, in (score desc, id) order, and the cursor of the next page.
fn page(
    query: &Query,
    scored: BTreeMap<String, (u32, u8)>,
    candidates: &BTreeMap<String, Digest>,
) -> (Vec<Hit>, Option<Cursor>) {
    let mut order: Vec<(u32, String, u8)> = scored
        .into_iter()
        .map(|(id, (s, bits))| (s, id, bits))
        .collect();
    order.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let start = match &query.cursor {
        None => 0,
        Some(c) => order.partition_point(|(s, id, _)| *s > c.s || (*s == c.s && *id <= c.i)),
    };
    let limit = query.limit.clamp(1, MAX_LIMIT);
    let page: Vec<&(u32, String, u8)> = order.iter().skip(start).take(limit).collect();
    let next = if start + page.len() < order.len() {
        page.last().map(|(s, id, _)| Cursor {
            h: query.fingerprint(),
            s: *s,
            i: id.clone(),
        })
    } else {
        None
    };
    let hits = page
        .into_iter()
        .map(|(s, id, bits)| Hit {
            id: id.clone(),
            score: *s,
            matched: Field::ALL
                .iter()
                .filter(|f| bits & (**f as u8) != 0)
                .map(|f| f.name())
                .collect(),
            digest: candidates[id].clone(),
        })
        .collect();
    (hits, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::BusinessMetadata;
    use crate::catalog::Dataset;
    use crate::catalog::table::Attr;

    fn ds(id: &str, name: &str, tags: &[&str], groups: &[&str], desc: &str) -> Dataset {
        Dataset {
            id: id.into(),
            zone: "clean".into(),
            landing_prefix: format!("{id}/"),
            business: BusinessMetadata {
                name: name.into(),
                description: desc.into(),
                owner: "team".into(),
                tags: tags.iter().map(|s| s.to_string()).collect(),
                sensitivity: "internal".into(),
                allowed_groups: groups.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn items_of(datasets: &[Dataset]) -> HashMap<ItemKey, Item> {
        let mut b = IndexBuild::new();
        for d in datasets {
            b.add(&DatasetEntries::of(d, None, 1));
        }
        b.rendered()
            .into_iter()
            .map(|((pk, sk), attrs)| {
                let key = ItemKey::new(pk, sk);
                let item = key.item(attrs.iter().map(|(k, v)| (k.as_str(), Attr::s(v))));
                (key, item)
            })
            .collect()
    }

    #[test]
    fn tokens_normalise_split_and_drop_noise() {
        assert_eq!(
            tokens("The Order_ID of Sales-Orders, 2024!"),
            vec!["order_id", "order", "id", "sales", "orders", "2024"]
        );
        assert_eq!(tokens("a b c"), Vec::<String>::new());
        assert_eq!(tokens(&"x".repeat(50))[0].len(), MAX_TOKEN_CHARS);
    }

    #[test]
    fn a_term_shares_its_bucket_with_every_token_it_prefixes() {
        for (term, token) in [("or", "orders"), ("ord", "order_id"), ("émp", "émployés")] {
            assert!(token.starts_with(term));
            assert_eq!(bucket_of(term), bucket_of(token));
        }
    }

    #[test]
    fn exact_names_rank_first_then_score_then_id() {
        let all = [
            ds("a.x", "Orders archive", &["orders"], &["g"], "old orders"),
            ds("b.x", "Orders", &[], &["g"], ""),
            ds("c.x", "Customers", &["orders"], &["g"], "who placed orders"),
            ds("d.x", "Ordering rules", &[], &["g"], ""),
        ];
        let items = items_of(&all);
        let caller = Caller {
            groups: vec!["g".into()],
            ..Default::default()
        };
        let q = Query {
            q: "orders".into(),
            limit: 10,
            ..Default::default()
        };
        let r = rank(&q, &caller, &items).unwrap();
        let ids: Vec<&str> = r.hits.iter().map(|h| h.id.as_str()).collect();
        // Exact name first; "orders" as a name word beats a tag + description; "ordering" is
        // not a prefix match of "orders".
        assert_eq!(ids, ["b.x", "a.x", "c.x"]);
        assert!(r.hits[0].score >= EXACT_NAME_BONUS);
        // Prefix: "ord" matches all four.
        let q = Query {
            q: "ord".into(),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(rank(&q, &caller, &items).unwrap().total, 4);
    }

    #[test]
    fn visibility_filters_facets_and_paging() {
        let mut all = vec![];
        for i in 0..25 {
            let g = if i % 5 == 0 { "other" } else { "g" };
            let tag = if i % 2 == 0 { "even" } else { "odd" };
            all.push(ds(
                &format!("ds.{i:02}"),
                "Metrics",
                &[tag],
                &[g],
                "daily metrics",
            ));
        }
        let items = items_of(&all);
        let caller = Caller {
            groups: vec!["g".into()],
            ..Default::default()
        };
        let mut q = Query {
            q: "metrics".into(),
            limit: 7,
            ..Default::default()
        };
        let mut seen = vec![];
        loop {
            let r = rank(&q, &caller, &items).unwrap();
            assert_eq!(r.total, 20);
            assert_eq!(
                r.facets.tags,
                vec![
                    FacetValue {
                        value: "even".into(),
                        count: 10
                    },
                    FacetValue {
                        value: "odd".into(),
                        count: 10
                    }
                ]
            );
            seen.extend(r.hits.iter().map(|h| h.id.clone()));
            match r.next {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!((seen.len(), sorted.len()), (20, 20));
        assert!(
            !seen
                .iter()
                .any(|id| id.ends_with("00") || id.ends_with("05"))
        );
        q.cursor = None;
        q.tags = vec!["even".into()];
        assert_eq!(rank(&q, &caller, &items).unwrap().total, 10);
    }

    #[test]
    fn cells_splice_in_order() {
        let c = splice_cell(None, "b", Some("2")).unwrap();
        let c = splice_cell(Some(&c), "a", Some("1")).unwrap();
        assert_eq!(c, "a\t1\nb\t2");
        let c = splice_cell(Some(&c), "b", Some("3")).unwrap();
        assert_eq!(
            cell_entries(&c).collect::<Vec<_>>(),
            [("a", "1"), ("b", "3")]
        );
        let c = splice_cell(Some(&c), "a", None).unwrap();
        assert_eq!(splice_cell(Some(&c), "b", None), None);
    }

    #[test]
    fn cursor_round_trips() {
        let c = Cursor {
            h: 7,
            s: 12,
            i: "a.b".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("not a cursor"), None);
    }

    #[test]
    fn index_keys_fit_one_batch_get() {
        let q = Query {
            q: "aa bb cc dd ee ff gg hh ii jj kk".into(),
            ..Default::default()
        };
        assert!(q.term_buckets() > MAX_TERM_BUCKETS || q.index_keys().len() <= 100);
        const { assert!((SHARDS as usize) * (1 + MAX_TERM_BUCKETS) <= 100) };
        const { assert!(2 * MAX_LIMIT <= 100) };
    }
}
