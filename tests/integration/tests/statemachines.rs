//! The Step Functions definitions in statemachines/: accepted by the emulator's Step Functions,
//! their Retry/Catch clauses name exactly the error types the handlers report, and every Lambda
//! Task retries the retryable names with jitter and catches everything else. (They are executed
//! with the real handlers in pipeline.rs.)

use serde_json::Value;
use tributary::error::ErrorKind;
use tributary_integration::{env, repo_root};

fn error_names(v: &Value, key: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == key {
                    for clause in x.as_array().into_iter().flatten() {
                        out.extend(
                            clause["ErrorEquals"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(|e| e.as_str().map(str::to_string)),
                        );
                    }
                }
                error_names(x, key, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| error_names(x, key, out)),
        _ => {}
    }
}

/// Replaces every `${Name}` placeholder as SAM's DefinitionSubstitutions do: the values
/// scripts/local_aws.py resolved from template.yaml (queue URLs, buckets, thresholds), else a
/// state machine's or a Lambda function's ARN.
fn substitute(text: &str, resolved: &std::collections::HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}').expect("closed placeholder") + start;
        out.push_str(&rest[..start]);
        let name = &rest[start + 2..end];
        let value = if let Some(v) = resolved.get(name) {
            v.clone()
        } else if let Some(m) = name.strip_suffix("StateMachineArn") {
            format!(
                "arn:aws:states:us-east-1:123456789012:stateMachine:tributary-{}",
                m.to_ascii_lowercase()
            )
        } else {
            let f = name
                .strip_suffix("FunctionArn")
                .unwrap_or_else(|| panic!("no value for ${{{name}}}"));
            format!(
                "arn:aws:lambda:us-east-1:123456789012:function:tributary-{}",
                f.to_ascii_lowercase()
            )
        };
        out.push_str(&value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_machines_are_valid_and_match_error_types() {
    let mut names: Vec<_> = std::fs::read_dir(repo_root().join("statemachines"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".asl.json"))
        .collect();
    names.sort();
    assert!(names.len() >= 2, "{names:?}");
    for path in names {
        check_definition(&path).await;
    }
}

/// Every Task state that invokes a Lambda function (Resource `${...FunctionArn}`), at any depth.
fn lambda_tasks<'a>(v: &'a Value, out: &mut Vec<(&'a str, &'a Value)>) {
    if let Some(states) = v.get("States").and_then(Value::as_object) {
        for (name, s) in states {
            if s["Type"] == "Task"
                && s["Resource"]
                    .as_str()
                    .is_some_and(|r| r.ends_with("FunctionArn}"))
            {
                out.push((name, s));
            }
            for inner in ["ItemProcessor", "Iterator"] {
                if let Some(p) = s.get(inner) {
                    lambda_tasks(p, out);
                }
            }
        }
    }
}

/// Lambda's transient errors, retried by every Lambda Task (the handlers are idempotent).
const LAMBDA_TRANSIENT: [&str; 5] = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Sandbox.Timedout",
];

async fn check_definition(path: &std::path::Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let def: Value = serde_json::from_str(&text).unwrap();
    let (mut retry, mut catch) = (vec![], vec![]);
    error_names(&def, "Retry", &mut retry);
    error_names(&def, "Catch", &mut catch);
    assert!(
        !retry.contains(&ErrorKind::BadInput.error_type().to_string()),
        "bad input must not be retried"
    );
    assert!(
        !retry.contains(&ErrorKind::Fatal.error_type().to_string()),
        "fatal errors must not be retried"
    );
    let tributary_names: Vec<&str> = [ErrorKind::Retryable, ErrorKind::BadInput, ErrorKind::Fatal]
        .map(|k| k.error_type())
        .to_vec();
    for n in retry
        .iter()
        .chain(&catch)
        .filter(|n| n.starts_with("Tributary."))
    {
        assert!(
            tributary_names.contains(&n.as_str()),
            "unknown error type {n}"
        );
    }
    // Each Lambda Task: retries Tributary.Retryable and Lambda's transient errors with jitter,
    // catches bad input and then everything else, and has a timeout.
    let mut tasks = Vec::new();
    lambda_tasks(&def, &mut tasks);
    for (name, task) in tasks {
        let (mut r, mut c) = (vec![], vec![]);
        error_names(
            &serde_json::json!({ "Retry": task["Retry"] }),
            "Retry",
            &mut r,
        );
        error_names(
            &serde_json::json!({ "Catch": task["Catch"] }),
            "Catch",
            &mut c,
        );
        let at = format!("{}: {name}", path.display());
        assert!(
            r.contains(&ErrorKind::Retryable.error_type().to_string()),
            "{at}: {r:?}"
        );
        for t in LAMBDA_TRANSIENT {
            assert!(r.iter().any(|x| x == t), "{at} does not retry {t}");
        }
        assert!(
            task["Retry"]
                .as_array()
                .unwrap()
                .iter()
                .all(|x| x["JitterStrategy"] == "FULL"),
            "{at}: retries without jitter"
        );
        assert_eq!(
            c.first().map(String::as_str),
            Some(ErrorKind::BadInput.error_type()),
            "{at}: {c:?}"
        );
        assert_eq!(
            c.last().map(String::as_str),
            Some("States.ALL"),
            "{at}: {c:?}"
        );
        assert!(
            task["TimeoutSeconds"].as_u64().is_some(),
            "{at}: no TimeoutSeconds"
        );
    }

    // The emulator's Step Functions accepts the definition (substituted as SAM would).
    let env = env();
    let sdk = aws_sdk_sfn::Config::builder()
        .behavior_version_latest()
        .endpoint_url(&env.vars["AWS_ENDPOINT_URL"])
        .region(aws_sdk_sfn::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sfn::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .build();
    let sfn = aws_sdk_sfn::Client::from_conf(sdk);
    let resolved: std::collections::HashMap<String, String> = serde_json::from_str(
        &std::fs::read_to_string(&env.vars["TRIBUTARY_SFN_SUBSTITUTIONS"]).unwrap(),
    )
    .unwrap();
    let body = substitute(&text, &resolved);
    let name = path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .trim_end_matches(".asl.json")
        .to_string();
    let created = sfn
        .create_state_machine()
        .name(format!("tributary-{name}"))
        .definition(body)
        .role_arn("arn:aws:iam::123456789012:role/tributary-landing")
        .send()
        .await
        .expect("definition accepted");
    assert!(
        created
            .state_machine_arn()
            .contains(&format!("tributary-{name}"))
    );
}
