//! The Step Functions definitions in statemachines/: accepted by the emulator's Step Functions,
//! and their Retry/Catch clauses name exactly the error types the handlers report.

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

/// Replaces every `${Name}` placeholder with a Lambda ARN, as SAM's DefinitionSubstitutions do.
fn substitute(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}').expect("closed placeholder") + start;
        out.push_str(&rest[..start]);
        let name = &rest[start + 2..end];
        out.push_str(&format!(
            "arn:aws:lambda:us-east-1:123456789012:function:tributary-{}",
            name.trim_end_matches("FunctionArn").to_ascii_lowercase()
        ));
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

async fn check_definition(path: &std::path::Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let def: Value = serde_json::from_str(&text).unwrap();
    let (mut retry, mut catch) = (vec![], vec![]);
    error_names(&def, "Retry", &mut retry);
    error_names(&def, "Catch", &mut catch);
    assert!(
        retry.contains(&ErrorKind::Retryable.error_type().to_string()),
        "{retry:?}"
    );
    assert!(
        catch.contains(&ErrorKind::BadInput.error_type().to_string()),
        "{catch:?}"
    );
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
    let body = substitute(&text);
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
