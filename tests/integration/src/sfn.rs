//! The state machines of statemachines/ executed locally with the real handlers: the runner
//! (scripts/sfn/run.mjs, the npm interpreter aws-local-stepfunctions) sends every Lambda Task to
//! a `cargo lambda watch` ([`crate::watch::Watch`]) and every SQS/S3 step to this binary's moto
//! server. See run.mjs for what it emulates (the Distributed Map) and how.

use std::process::Command;

use serde_json::Value;

use crate::{TestEnv, repo_root};

/// One execution's result, as the runner prints it.
#[derive(Debug, Clone)]
pub struct Execution {
    /// The runner's JSON: `status`, `output` or `error`/`cause`, `retries`, `caught`, `steps`,
    /// `output_bytes`, `execution`.
    pub result: Value,
    /// The runner's step log (stderr).
    pub log: String,
}

impl Execution {
    pub fn status(&self) -> &str {
        self.result["status"].as_str().unwrap_or("?")
    }

    pub fn output(&self) -> &Value {
        &self.result["output"]
    }

    /// States that ran, in order (top level and inside Map items).
    pub fn states(&self) -> Vec<String> {
        self.result["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["state"].as_str().map(str::to_string))
            .collect()
    }

    /// Retries seen: (state, error).
    pub fn retries(&self) -> Vec<(String, String)> {
        self.result["retries"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                (
                    r["state"].as_str().unwrap_or("").to_string(),
                    r["error"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }
}

/// Runs `machine` (statemachines/<machine>.asl.json) with `input`; Lambda Tasks go to the
/// `cargo lambda watch` on `lambda_port`; `subs` are extra `Name=value` substitutions (the
/// template's, resolved by scripts/local_aws.py, come from the environment).
pub fn run_machine(
    env: &TestEnv,
    lambda_port: u16,
    machine: &str,
    input: &Value,
    subs: &[&str],
) -> Execution {
    let mut cmd = Command::new("node");
    cmd.arg(repo_root().join("scripts/sfn/run.mjs"))
        .args(["--machine", machine, "--input", &input.to_string()])
        .args(["--lambda", &format!("http://127.0.0.1:{lambda_port}")])
        .envs(&env.vars);
    for s in subs {
        cmd.args(["--sub", s]);
    }
    let out = cmd.output().expect("run node scripts/sfn/run.mjs");
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    let result: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("runner printed no result ({e}):\n{stdout}\n{log}"));
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "runner failed: {:?}\n{log}",
        out.status
    );
    Execution { result, log }
}

/// Runs `scripts/redrive.py --local` over the failure queue (`subs` as for [`run_machine`]);
/// returns (exit code, its output).
pub fn redrive(env: &TestEnv, lambda_port: u16, queue_url: &str, subs: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(crate::venv_python());
    cmd.arg(repo_root().join("scripts/redrive.py"))
        .args(["--queue-url", queue_url, "--local"])
        .args(["--lambda", &format!("http://127.0.0.1:{lambda_port}")])
        .envs(&env.vars);
    for s in subs {
        cmd.args(["--sub", s]);
    }
    let out = cmd.output().expect("run scripts/redrive.py");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
