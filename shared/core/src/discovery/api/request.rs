//! Reading a request: the gateway-neutral request, the caller's identity from the authorizer's
//! claims, strict query parameters and bodies (unknown names rejected), and the metadata and
//! manifest bodies with their validation.

use super::*;

/// One HTTP request as the API sees it, whichever gateway delivered it (HTTP API payload 2.0 or
/// REST payload 1.0: `tributary-aws` converts the Lambda event).
#[derive(Debug, Clone, Default)]
pub struct ApiRequest {
    pub method: Method,
    /// The raw path, as sent (a REST API stage prefix included).
    pub path: String,
    /// The query parameters, each with all its values, in order.
    pub query: BTreeMap<String, Vec<String>>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The verified identity's claims from the authorizer; `None` when there is none.
    pub claims: Option<HashMap<String, Value>>,
}

/// An answer: status, headers and a text body.
pub type ApiResponse = Response<String>;

pub(super) type Answer = Result<ApiResponse, Problem>;

pub(super) fn json_response(status: u16, body: &Value) -> ApiResponse {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .expect("valid response")
}

/// Decodes `%XX` escapes of a path segment; `None` for a malformed escape or invalid UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    crate::model::events::decode_escapes(s).ok()
}

/// A list claim: a JSON array, API Gateway's flattened `[a b]`, or a comma/space-separated string.
pub fn claim_list(v: &Value) -> Vec<String> {
    let items: Vec<String> = match v {
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Value::String(s) => {
            let t = s.trim();
            if let Ok(Value::Array(a)) = serde_json::from_str::<Value>(t) {
                return claim_list(&Value::Array(a));
            }
            t.trim_start_matches('[')
                .trim_end_matches(']')
                .split([',', ' '])
                .map(|g| g.trim().trim_matches('"').to_string())
                .collect()
        }
        _ => vec![],
    };
    items.into_iter().filter(|g| !g.is_empty()).collect()
}

/// The caller described by `claims`.
pub fn caller(claims: &HashMap<String, Value>, api: &ApiConfig) -> Caller {
    let principals = ["sub", "username", "cognito:username", "email", "client_id"]
        .iter()
        .filter_map(|k| claims.get(*k).and_then(Value::as_str))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect();
    let groups = claims
        .get(&api.groups_claim)
        .map(claim_list)
        .unwrap_or_default();
    let admin = groups.iter().any(|g| api.admin_groups.contains(g));
    Caller {
        principals,
        groups,
        admin,
    }
}

pub(super) struct Params(BTreeMap<String, Vec<String>>);

impl Params {
    pub(super) fn only(req: &ApiRequest, allowed: &[&str]) -> Result<Self, Problem> {
        let p = req.query.clone();
        if let Some(k) = p.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(Problem {
                code: "unknown_parameter",
                ..Problem::invalid(k.clone(), format!("unknown query parameter {k:?}"))
            });
        }
        Ok(Self(p))
    }

    pub(super) fn one(&self, name: &str) -> Result<Option<&str>, Problem> {
        match self.0.get(name).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([v]) => Ok(Some(v.as_str())),
            Some(_) => Err(Problem::invalid(name, format!("{name} may be given once"))),
        }
    }

    pub(super) fn all(&self, name: &str) -> Vec<String> {
        self.0.get(name).cloned().unwrap_or_default()
    }

    pub(super) fn limit(&self, default: usize, max: usize) -> Result<usize, Problem> {
        match self.one("limit")? {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    Problem::invalid("limit", format!("limit must be an integer from 1 to {max}"))
                }),
        }
    }
}

pub(super) fn check_values(
    name: &str,
    values: &[String],
    allowed: Option<&[&str]>,
) -> Result<(), Problem> {
    for v in values {
        if v.is_empty() || v.chars().count() > 128 || v.chars().any(char::is_control) {
            return Err(Problem::invalid(
                name,
                format!("{name} must be 1 to 128 printable characters"),
            ));
        }
        if let Some(allowed) = allowed
            && !allowed.contains(&v.as_str())
        {
            return Err(Problem::invalid(
                name,
                format!("{name} must be one of {}", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

/// Reads a JSON body of at most [`MAX_BODY_BYTES`] into `T` (which denies unknown fields),
/// naming the offending field on failure.
pub(super) fn json_body<T: for<'de> Deserialize<'de>>(req: &ApiRequest) -> Result<T, Problem> {
    let bytes: &[u8] = &req.body;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Problem::new(
            413,
            "body_too_large",
            format!(
                "the body is {} bytes; the limit is {MAX_BODY_BYTES}",
                bytes.len()
            ),
        ));
    }
    if let Some(ct) = req.headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
        let media = ct.split(';').next().unwrap_or_default().trim();
        if media != "application/json" {
            return Err(Problem::new(
                415,
                "unsupported_media_type",
                "the body must be application/json",
            ));
        }
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::new(400, "invalid_body", "a JSON body is required"));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = inner.to_string();
        if let Some(rest) = msg.strip_prefix("unknown field `") {
            let name = rest.split('`').next().unwrap_or_default();
            // The path already ends with the unknown field's name.
            let field = if path == "." || path.is_empty() {
                name.to_string()
            } else {
                path
            };
            return Problem {
                code: "unknown_field",
                ..Problem::invalid(field, format!("unknown field {name:?}"))
            };
        }
        Problem {
            code: "invalid_body",
            ..Problem::invalid(if path == "." { "body".into() } else { path }, msg)
        }
    })
}

/// An optional body field that, when present, may not be `null`.
pub(super) fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Business metadata changes: fields present replace the stored ones.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataUpdate {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub owner: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub steward: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub sensitivity: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub allowed_groups: Option<Vec<String>>,
}

pub(super) fn is_ident(s: &str, lower: bool) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() && (!lower || !c.is_ascii_uppercase()))
        && chars.all(|c| {
            (c.is_ascii_alphanumeric() && (!lower || !c.is_ascii_uppercase()))
                || "._@:-".contains(c)
        })
}

impl MetadataUpdate {
    /// Checks every present field, naming the first bad one.
    pub fn validate(&self) -> Result<(), Problem> {
        let text = |field: &str, v: &str, min: usize, max: usize| {
            let n = v.chars().count();
            if n < min || n > max || v.chars().any(|c| c.is_control() && c != '\n') {
                Err(Problem::invalid(
                    field,
                    format!("{field} must be {min} to {max} characters without control characters"),
                ))
            } else {
                Ok(())
            }
        };
        let ident = |field: &str, v: &str, lower: bool| {
            if v.is_empty() || v.len() > 128 || !is_ident(v, lower) {
                Err(Problem::invalid(
                    field,
                    format!(
                        "{field} must be 1 to 128 {}letters, digits or . _ @ : - (starting with a letter or digit)",
                        if lower { "lower-case " } else { "" }
                    ),
                ))
            } else {
                Ok(())
            }
        };
        let list = |field: &str, v: &[String], max: usize, lower: bool| {
            if v.len() > max {
                return Err(Problem::invalid(field, format!("at most {max} {field}")));
            }
            let mut seen = BTreeSet::new();
            for (i, x) in v.iter().enumerate() {
                ident(&format!("{field}[{i}]"), x, lower)?;
                if x.len() > 64 && lower {
                    return Err(Problem::invalid(
                        format!("{field}[{i}]"),
                        "tags are at most 64 characters",
                    ));
                }
                if !seen.insert(x) {
                    return Err(Problem::invalid(
                        format!("{field}[{i}]"),
                        format!("{x:?} is listed twice"),
                    ));
                }
            }
            Ok(())
        };
        if let Some(v) = &self.name {
            text("name", v, 1, 200)?;
        }
        if let Some(v) = &self.description {
            text("description", v, 0, 4000)?;
        }
        if let Some(v) = &self.owner {
            ident("owner", v, false)?;
        }
        if let Some(v) = self.steward.as_deref().filter(|v| !v.is_empty()) {
            ident("steward", v, false)?;
        }
        if let Some(v) = &self.tags {
            list("tags", v, 32, true)?;
        }
        if let Some(v) = &self.sensitivity
            && !SENSITIVITIES.contains(&v.as_str())
        {
            return Err(Problem::invalid(
                "sensitivity",
                format!("sensitivity must be one of {}", SENSITIVITIES.join(", ")),
            ));
        }
        if let Some(v) = &self.allowed_groups {
            list("allowed_groups", v, 32, false)?;
        }
        if self.name.is_none()
            && self.description.is_none()
            && self.owner.is_none()
            && self.steward.is_none()
            && self.tags.is_none()
            && self.sensitivity.is_none()
            && self.allowed_groups.is_none()
        {
            return Err(Problem::invalid("body", "no field to update"));
        }
        Ok(())
    }

    pub fn apply(self, b: &mut BusinessMetadata) {
        pub(super) fn set<T>(slot: &mut T, value: Option<T>) {
            if let Some(v) = value {
                *slot = v;
            }
        }
        set(&mut b.name, self.name);
        set(&mut b.description, self.description);
        set(&mut b.owner, self.owner);
        set(&mut b.steward, self.steward);
        set(&mut b.tags, self.tags);
        set(&mut b.sensitivity, self.sensitivity);
        set(&mut b.allowed_groups, self.allowed_groups);
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestRequest {
    pub datasets: Vec<ManifestItem>,
    /// Link lifetime in seconds (at most the configured expiry).
    #[serde(default, deserialize_with = "present")]
    pub expires_in: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestItem {
    pub id: String,
    /// Partition key → values to keep (any of them).
    #[serde(default)]
    pub partitions: BTreeMap<String, Vec<String>>,
}

/// Partition keys a dataset's files carry in its zone: declared Hive columns, or its date
/// layout's keys.
pub fn partition_keys(ds: &Dataset) -> Vec<String> {
    match ds.layout.date_keys() {
        Some(keys) => keys.iter().map(|k| k.to_string()).collect(),
        None => ds.partition_columns.clone(),
    }
}

/// An opaque partition-page cursor (the Glue token).
pub(super) fn encode_token(t: &str) -> String {
    base64_simd::URL_SAFE_NO_PAD.encode_to_string(json!({ "t": t }).to_string())
}
pub(super) fn decode_token(s: &str) -> Option<String> {
    let raw = base64_simd::URL_SAFE_NO_PAD.decode_to_vec(s).ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    v.get("t")?.as_str().map(str::to_string)
}
