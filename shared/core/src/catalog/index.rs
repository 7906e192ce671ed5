//! The search index model: how datasets are tokenised, bucketed and laid out in cells of the
//! catalog table's index items. Records (`crate::catalog::records`) write it with every record;
//! the query engine (`discovery::search`) reads it.
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
//!   `BatchGetItem` of the page's records (declaration and stats of at most `MAX_LIMIT`
//!   datasets: 100 keys). Unprocessed keys (throttling) are retried and counted.
//! - Visibility is applied before filters, facets and paging: a caller never learns, even from a
//!   count, that a dataset of another group exists.
//! - Ranking is total (score, then id), and the cursor is the last (score, id) of a page, bound to
//!   the query's parameters: paging visits every match exactly once while the index is unchanged.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::catalog::Dataset;
pub use crate::catalog::keys::{DOCS_PK, shard_sk, term_pk};
/// Items of the catalog table, and their keys.
pub use crate::catalog::table::{Item, Key as ItemKey};
use crate::model::schema::TableSchema;

/// Index shards per item kind (by dataset id). Each shard item holds about `1/SHARDS` of the
/// datasets; at ~120 bytes of digest per dataset, 8 shards of DynamoDB's 400 KB item limit hold
/// about 25,000 datasets.
pub const SHARDS: u32 = 8;
/// Term buckets (by a token's first two characters).
pub const BUCKETS: u32 = 32;
/// Distinct term buckets a query may touch (more query terms are rejected).
pub const MAX_TERM_BUCKETS: usize = 9;
/// Largest page.
pub const MAX_LIMIT: usize = 50;
/// Default page size.
pub const DEFAULT_LIMIT: usize = 20;
/// Tokens are cut to this many characters.
pub const MAX_TOKEN_CHARS: usize = 32;
/// Facet values returned per facet (most frequent first).
pub const MAX_FACET_VALUES: usize = 20;

/// Cells per index item: a dataset's entries live in attribute `c<cell>` of an item, one line
/// `<id>\t<value>` each, so an item has at most `CELLS` attributes however many datasets it
/// holds (per-attribute costs dominate reads of many small attributes, in emulators above all).
pub const CELLS: u32 = 32;
/// Prefix of a cell attribute.
pub const CELL_PREFIX: &str = "c";

const STOPWORDS: &[&str] = &[
    "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "is", "it", "of", "on", "or",
    "the", "to", "with",
];

/// Where a token occurs, as a bit in a posting's field set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name = 1,
    Id = 2,
    Tag = 4,
    Column = 8,
    Description = 16,
}

impl Field {
    pub const ALL: [Field; 5] = [
        Field::Name,
        Field::Id,
        Field::Tag,
        Field::Column,
        Field::Description,
    ];

    /// Relevance weight of a match in this field.
    pub const fn weight(self) -> u32 {
        match self {
            Field::Name => 8,
            Field::Id => 6,
            Field::Tag => 4,
            Field::Column => 2,
            Field::Description => 1,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Id => "id",
            Field::Tag => "tags",
            Field::Column => "columns",
            Field::Description => "description",
        }
    }
}

/// Score added when the whole query equals the dataset's name or id: exact names rank first.
pub const EXACT_NAME_BONUS: u32 = 10_000;

/// Normalised tokens of a text: lower case, split at characters other than letters, digits and
/// `_`; a token holding `_` also yields its parts (`order_id` → `order_id`, `order`, `id`).
/// Tokens shorter than two characters and a few stop words are dropped; tokens are cut to
/// [`MAX_TOKEN_CHARS`] characters.
pub fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in text
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
    {
        let word = word.to_lowercase();
        let mut push = |t: &str| {
            let t: String = t.chars().take(MAX_TOKEN_CHARS).collect();
            if t.chars().count() >= 2 && !STOPWORDS.contains(&t.as_str()) && !out.contains(&t) {
                out.push(t);
            }
        };
        let trimmed = word.trim_matches('_');
        push(trimmed);
        if trimmed.contains('_') {
            for part in trimmed.split('_') {
                push(part);
            }
        }
    }
    out
}

/// The bucket of a token (or of a query term: every token it prefixes shares its first two
/// characters, hence its bucket).
pub fn bucket_of(token: &str) -> u32 {
    let head: String = token.chars().take(2).collect();
    fnv1a(head.as_bytes()) % BUCKETS
}

/// The shard of a dataset.
pub fn shard_of(dataset_id: &str) -> u32 {
    fnv1a(dataset_id.as_bytes()) % SHARDS
}

/// 64-bit FNV-1a: stable across builds and platforms (the index layout depends on it).
pub fn fnv1a(data: &[u8]) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h ^ (h >> 32)) as u32
}

/// The cell attribute holding a dataset's entries in every index item of its shard.
pub fn cell_attr(dataset_id: &str) -> String {
    let h = fnv1a(format!("cell:{dataset_id}").as_bytes());
    format!("{CELL_PREFIX}{:02}", h % CELLS)
}

/// The (id, value) lines of a cell.
pub fn cell_entries(cell: &str) -> impl Iterator<Item = (&str, &str)> {
    cell.split('\n').filter_map(|l| l.split_once('\t'))
}

/// A cell with `id`'s line replaced by `value` (or removed); `None` when nothing is left. Lines
/// stay sorted by id, so equal contents are equal strings.
pub fn splice_cell(cell: Option<&str>, id: &str, value: Option<&str>) -> Option<String> {
    let mut lines: BTreeMap<&str, &str> = cell.map(cell_entries).into_iter().flatten().collect();
    match value {
        Some(v) => lines.insert(id, v),
        None => lines.remove(id),
    };
    render_cell(lines.into_iter())
}

fn render_cell<'a>(lines: impl Iterator<Item = (&'a str, &'a str)>) -> Option<String> {
    let mut out = String::new();
    for (id, v) in lines {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(id);
        out.push('\t');
        out.push_str(v);
    }
    (!out.is_empty()).then_some(out)
}

/// What search needs of a dataset to filter, facet, check visibility and rank exact names,
/// stored once per dataset in its digest shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Digest {
    #[serde(rename = "n")]
    pub name: String,
    #[serde(rename = "o")]
    pub owner: String,
    #[serde(rename = "z")]
    pub zone: String,
    #[serde(rename = "s")]
    pub sensitivity: String,
    #[serde(rename = "t", default)]
    pub tags: Vec<String>,
    #[serde(rename = "g", default)]
    pub groups: Vec<String>,
    #[serde(rename = "v")]
    pub version: u64,
}

/// The index entries of one dataset: its digest and its postings by bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetEntries {
    pub id: String,
    pub digest: Digest,
    /// bucket → `token:fields ...` (tokens sorted).
    pub postings: BTreeMap<u32, String>,
}

impl DatasetEntries {
    /// Computes a dataset's entries from its declaration, at record `version`. `recorded` is the
    /// schema recorded from its first file, used when the declaration has none.
    pub fn of(ds: &Dataset, recorded: Option<&TableSchema>, version: u64) -> Self {
        let mut fields: BTreeMap<String, u8> = BTreeMap::new();
        let mut add = |text: &str, f: Field| {
            for t in tokens(text) {
                *fields.entry(t).or_default() |= f as u8;
            }
        };
        let b = &ds.business;
        add(&b.name, Field::Name);
        add(&ds.id, Field::Id);
        for t in &b.tags {
            add(t, Field::Tag);
        }
        if let Some(schema) = ds.schema.as_ref().or(recorded) {
            for c in &schema.columns {
                add(&c.name, Field::Column);
            }
        }
        add(&b.description, Field::Description);
        let mut postings: BTreeMap<u32, String> = BTreeMap::new();
        for (token, f) in &fields {
            let p = postings.entry(bucket_of(token)).or_default();
            if !p.is_empty() {
                p.push(' ');
            }
            p.push_str(token);
            p.push(':');
            p.push_str(&f.to_string());
        }
        Self {
            id: ds.id.clone(),
            digest: Digest {
                name: b.name.clone(),
                owner: b.owner.clone(),
                zone: ds.zone.clone(),
                sensitivity: b.sensitivity.clone(),
                tags: b.tags.clone(),
                groups: b.allowed_groups.clone(),
                version,
            },
            postings,
        }
    }

    pub fn digest_json(&self) -> String {
        serde_json::to_string(&self.digest).expect("digests serialise")
    }

    /// The buckets the dataset occupies, as stored on its record (`"3,17,30"`).
    pub fn bucket_list(&self) -> String {
        self.postings
            .keys()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Parses a record's stored bucket list (unknown or malformed entries are ignored).
pub fn parse_bucket_list(s: &str) -> BTreeSet<u32> {
    s.split(',')
        .filter_map(|b| b.trim().parse().ok())
        .filter(|b| *b < BUCKETS)
        .collect()
}

/// Full index items built from scratch for a set of datasets (bulk load and re-index): every
/// digest shard and every term bucket shard, each item complete (written with `PutItem`).
#[derive(Debug, Default)]
pub struct IndexBuild {
    /// (pk, sk) → cell attribute → dataset id → value.
    pub items: BTreeMap<(String, String), BTreeMap<String, BTreeMap<String, String>>>,
}

impl IndexBuild {
    pub fn new() -> Self {
        let mut items = BTreeMap::new();
        for shard in 0..SHARDS {
            items.insert((DOCS_PK.to_string(), shard_sk(shard)), BTreeMap::new());
            for bucket in 0..BUCKETS {
                items.insert((term_pk(bucket), shard_sk(shard)), BTreeMap::new());
            }
        }
        Self { items }
    }

    pub fn add(&mut self, e: &DatasetEntries) {
        let sk = shard_sk(shard_of(&e.id));
        let attr = cell_attr(&e.id);
        self.items
            .get_mut(&(DOCS_PK.to_string(), sk.clone()))
            .expect("every shard exists")
            .entry(attr.clone())
            .or_default()
            .insert(e.id.clone(), e.digest_json());
        for (bucket, p) in &e.postings {
            self.items
                .get_mut(&(term_pk(*bucket), sk.clone()))
                .expect("every bucket exists")
                .entry(attr.clone())
                .or_default()
                .insert(e.id.clone(), p.clone());
        }
    }

    /// The items' attributes as stored: cell attribute → its lines.
    pub fn rendered(&self) -> BTreeMap<(String, String), BTreeMap<String, String>> {
        self.items
            .iter()
            .map(|(k, cells)| {
                let cells = cells
                    .iter()
                    .filter_map(|(attr, lines)| {
                        render_cell(lines.iter().map(|(i, v)| (i.as_str(), v.as_str())))
                            .map(|c| (attr.clone(), c))
                    })
                    .collect();
                (k.clone(), cells)
            })
            .collect()
    }
}
