//! Fault injection through an SDK interceptor: throttling and server errors from S3, DynamoDB and
//! Glue, and a stale ETag from `HeadObject`, without editing any code path. Used by the fault
//! suite (tests/integration/tests/faults.rs) and, through [`FAULTS`], by a function under
//! `cargo lambda watch` against the emulator.
//!
//! `TRIBUTARY_FAULTS` = `rule[,rule...]`, `rule` = `<Service>:<Operation>=<answer>[*<count>]`:
//! - `<Service>` is `s3`, `dynamodb` or `glue` (any case); `<Operation>` the API name
//!   (`PutObject`, `TransactWriteItems`, `BatchCreatePartition`, ...) or `*` for all;
//! - `<answer>` is `throttle` (the service's own throttling answer: S3 `503 SlowDown`, DynamoDB
//!   `ThrottlingException`, Glue `ThrottlingException`), a status `500`..`599` (a server error), or
//!   `stale-etag` (`HeadObject` answers another ETag, as if the object were overwritten between
//!   `HeadObject` and `GetObject`);
//! - `*<count>`: only the first `count` matching attempts are answered so (default: every one).
//!
//! Invariants:
//! - A throttled or failed attempt has no effect, as with the real service: before it is signed,
//!   its request is turned into a `HEAD` of a bucket path that does not exist (no body), so the
//!   emulator changes nothing; the answer is then replaced before the SDK reads it. A
//!   `stale-etag` attempt is sent unchanged and only its `ETag` is rewritten.
//! - The SDK's own retry (standard mode: at most 3 attempts, exponential backoff with jitter) and
//!   the adapters' error mapping are what is exercised; nothing else changes.
//! - Unset, the interceptor is not installed at all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// The fault switch: rules as described in the module docs. Unset in every deployment.
pub const FAULTS: &str = "TRIBUTARY_FAULTS";

/// What a matching attempt is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Throttle,
    ServerError(u16),
    StaleEtag,
}

/// This attempt's answer, decided before signing and applied after the response arrives.
#[derive(Debug, Clone, Copy)]
struct Decision(Option<Answer>);

impl Storable for Decision {
    type Storer = StoreReplace<Self>;
}

/// Where a faulted attempt is sent instead: a bucket path no deployment has.
const NOWHERE: &str = "/tributary-fault-injected-nowhere";

#[derive(Debug, Clone)]
struct Rule {
    service: String,
    operation: String,
    answer: Answer,
    remaining: Option<u64>,
}

/// The interceptor. Clones share their rules and counters, so a test keeps one to heal the
/// faults and to read how many attempts were answered.
#[derive(Debug, Clone, Default)]
pub struct FaultInjector {
    rules: Arc<Mutex<Vec<Rule>>>,
    /// `service:Operation` → attempts answered with a fault.
    injected: Arc<Mutex<HashMap<String, u64>>>,
    /// `service:Operation` → attempts seen (faulted or not).
    seen: Arc<Mutex<HashMap<String, u64>>>,
}

impl FaultInjector {
    /// Parses rules (see the module docs).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut rules = Vec::new();
        for raw in spec.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            let bad = |why: &str| format!("fault rule {raw:?}: {why}");
            let (target, answer) = raw.split_once('=').ok_or_else(|| bad("expected ="))?;
            let (service, operation) = target
                .split_once(':')
                .ok_or_else(|| bad("expected <service>:<Operation>"))?;
            let service = service.trim().to_ascii_lowercase();
            if !["s3", "dynamodb", "glue"].contains(&service.as_str()) {
                return Err(bad("the service is s3, dynamodb or glue"));
            }
            let (answer, count) = match answer.split_once('*') {
                Some((a, n)) => (
                    a,
                    Some(n.trim().parse::<u64>().map_err(|_| bad("bad count"))?),
                ),
                None => (answer, None),
            };
            let answer = match answer.trim() {
                "throttle" => Answer::Throttle,
                "stale-etag" => Answer::StaleEtag,
                n => match n.parse::<u16>() {
                    Ok(s @ 500..=599) => Answer::ServerError(s),
                    _ => return Err(bad("the answer is throttle, stale-etag or 500..599")),
                },
            };
            rules.push(Rule {
                service,
                operation: operation.trim().to_string(),
                answer,
                remaining: count,
            });
        }
        Ok(Self {
            rules: Arc::new(Mutex::new(rules)),
            ..Self::default()
        })
    }

    /// The injector [`FAULTS`] asks for, if it is set.
    pub fn from_env() -> Result<Option<Self>, String> {
        match std::env::var(FAULTS) {
            Ok(v) if !v.trim().is_empty() => Self::parse(&v)
                .map(Some)
                .map_err(|e| format!("{FAULTS}: {e}")),
            _ => Ok(None),
        }
    }

    /// Adds a rule (`count`: the first that many matching attempts; `None`: every one).
    pub fn inject(&self, service: &str, operation: &str, answer: Answer, count: Option<u64>) {
        self.rules.lock().expect("rules").push(Rule {
            service: service.to_ascii_lowercase(),
            operation: operation.into(),
            answer,
            remaining: count,
        });
    }

    /// Removes every rule.
    pub fn heal(&self) {
        self.rules.lock().expect("rules").clear();
    }

    /// Attempts of `service:Operation` answered with a fault so far.
    pub fn injected(&self, service: &str, operation: &str) -> u64 {
        let key = format!("{}:{operation}", service.to_ascii_lowercase());
        *self
            .injected
            .lock()
            .expect("counts")
            .get(&key)
            .unwrap_or(&0)
    }

    /// Attempts of `service:Operation` seen so far (faulted or not).
    pub fn seen(&self, service: &str, operation: &str) -> u64 {
        let key = format!("{}:{operation}", service.to_ascii_lowercase());
        *self.seen.lock().expect("counts").get(&key).unwrap_or(&0)
    }

    /// The answer for this attempt, consuming a count.
    fn answer_for(&self, service: &str, operation: &str) -> Option<Answer> {
        let key = format!("{service}:{operation}");
        *self
            .seen
            .lock()
            .expect("counts")
            .entry(key.clone())
            .or_default() += 1;
        let mut rules = self.rules.lock().expect("rules");
        let rule = rules.iter_mut().find(|r| {
            r.service == service
                && (r.operation == "*" || r.operation == operation)
                && r.remaining != Some(0)
        })?;
        if let Some(n) = rule.remaining.as_mut() {
            *n -= 1;
        }
        *self
            .injected
            .lock()
            .expect("counts")
            .entry(key)
            .or_default() += 1;
        Some(rule.answer)
    }
}

/// The service's own answer, as the SDK would receive it.
fn fault_response(service: &str, answer: Answer) -> (u16, Vec<(&'static str, String)>, String) {
    let json = |code: &str, message: &str| {
        format!(r#"{{"__type":"{code}","message":"{message} (injected)"}}"#)
    };
    let xml = |code: &str, message: &str| {
        format!("<Error><Code>{code}</Code><Message>{message} (injected)</Message></Error>")
    };
    let amz_json = if service == "dynamodb" {
        "application/x-amz-json-1.0"
    } else {
        "application/x-amz-json-1.1"
    };
    match (service, answer) {
        ("s3", Answer::Throttle) => (
            503,
            vec![("content-type", "application/xml".into())],
            xml("SlowDown", "Please reduce your request rate."),
        ),
        ("s3", Answer::ServerError(s)) => (
            s,
            vec![("content-type", "application/xml".into())],
            xml(
                "InternalError",
                "We encountered an internal error. Please try again.",
            ),
        ),
        (_, Answer::Throttle) => (
            400,
            vec![
                ("content-type", amz_json.into()),
                ("x-amzn-errortype", "ThrottlingException".into()),
            ],
            json("ThrottlingException", "Rate exceeded"),
        ),
        (_, _) => (
            500,
            vec![
                ("content-type", amz_json.into()),
                ("x-amzn-errortype", "InternalServerError".into()),
            ],
            json("InternalServerError", "Internal server error"),
        ),
    }
}

impl Intercept for FaultInjector {
    fn name(&self) -> &'static str {
        "TributaryFaultInjector"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let answer = match cfg.load::<Metadata>() {
            Some(meta) => self.answer_for(&meta.service().to_ascii_lowercase(), meta.name()),
            None => None,
        };
        cfg.interceptor_state().store_put(Decision(answer));
        if answer.is_none() || answer == Some(Answer::StaleEtag) {
            return Ok(());
        }
        // The attempt must change nothing: send it nowhere, without a body.
        let request = context.request_mut();
        let uri = request.uri().to_string();
        let base = match uri.find("://") {
            Some(i) => match uri[i + 3..].find('/') {
                Some(j) => uri[..i + 3 + j].to_string(),
                None => uri.clone(),
            },
            None => String::new(),
        };
        request.set_uri(format!("{base}{NOWHERE}"))?;
        request.set_method("HEAD")?;
        *request.body_mut() = SdkBody::empty();
        let h = request.headers_mut();
        for name in [
            "content-length",
            "content-encoding",
            "transfer-encoding",
            "x-amz-decoded-content-length",
            "content-md5",
            "x-amz-content-sha256",
            "x-amz-target",
            "x-amz-trailer",
        ] {
            h.remove(name);
        }
        h.insert("content-length", "0");
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Decision(Some(answer))) = cfg.load::<Decision>().copied() else {
            return Ok(());
        };
        let service = cfg
            .load::<Metadata>()
            .map(|m| m.service().to_ascii_lowercase())
            .unwrap_or_default();
        let response = context.response_mut();
        if answer == Answer::StaleEtag {
            if response.status().is_success() {
                response
                    .headers_mut()
                    .insert("etag", "\"0000000000000000000000000000000f\"");
            }
            return Ok(());
        }
        let (status, headers, body) = fault_response(&service, answer);
        *response.status_mut() = StatusCode::try_from(status)?;
        let h = response.headers_mut();
        for name in ["content-length", "content-type", "x-amzn-errortype", "etag"] {
            h.remove(name);
        }
        for (name, value) in headers {
            h.insert(name, value);
        }
        h.insert("content-length", body.len().to_string());
        *response.body_mut() = SdkBody::from(body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_count_down() {
        let f = FaultInjector::parse(
            "s3:PutObject=throttle*2, dynamodb:*=503,glue:GetTable=stale-etag",
        )
        .unwrap();
        assert_eq!(f.answer_for("s3", "PutObject"), Some(Answer::Throttle));
        assert_eq!(f.answer_for("s3", "PutObject"), Some(Answer::Throttle));
        assert_eq!(f.answer_for("s3", "PutObject"), None, "count used up");
        assert_eq!(
            f.answer_for("dynamodb", "Query"),
            Some(Answer::ServerError(503))
        );
        assert_eq!(f.injected("S3", "PutObject"), 2);
        assert_eq!(f.seen("s3", "PutObject"), 3);
        f.heal();
        assert_eq!(f.answer_for("dynamodb", "Query"), None);
        for bad in [
            "s3:PutObject",
            "ec2:Run=throttle",
            "s3:PutObject=404",
            "s3:X=throttle*x",
        ] {
            assert!(FaultInjector::parse(bad).is_err(), "{bad}");
        }
    }
}
