//! The OpenAPI document (`api/openapi.yaml`) checked against the running function: the real
//! `search-api` binary served by `cargo lambda watch`, behind `scripts/api_bridge.py` (a local
//! HTTP API stand-in: payload 2.0 events, verified HS256 JWT claims), fuzzed by schemathesis
//! (from the venv) with every check, against this binary's own moto server. Also curls the
//! bridge once per kind of answer, the way the README shows.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tributary_integration::watch::{Watch, free_port, http};
use tributary_integration::{env, repo_root, venv_python};

struct Bridge(Child);

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn token(groups: &str) -> String {
    let out = Command::new(venv_python())
        .arg(repo_root().join("scripts/api_bridge.py"))
        .args(["token", "--sub", "tester", "--groups", groups])
        .output()
        .expect("api_bridge.py token");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn get(port: u16, path: &str, token: Option<&str>) -> (u16, Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let (status, _, body) =
        http("GET", port, path, &headers, b"", Duration::from_secs(600)).expect("GET");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_holds_against_the_running_function() {
    let env = env();
    for id in ["hr.employees", "sales.orders", "web.clicks", "web.events"] {
        env.declare_sample(id).await;
    }
    let watch = Watch::start(env, "search-watch", &[]);
    let port = free_port();
    let log = std::fs::File::create(env.state_dir.join("bridge.log")).unwrap();
    let _bridge = Bridge(
        Command::new(venv_python())
            .arg(repo_root().join("scripts/api_bridge.py"))
            .args(["serve", "--port", &port.to_string(), "--invoke-port"])
            .arg(watch.port.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start api_bridge.py"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "api_bridge.py did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The first request builds and starts the binary.
    let (status, body) = tokio::task::spawn_blocking(move || get(port, "/health", None))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}\n{}", watch.log_tail());

    let analyst = token("analysts");
    let (status, body) = get(port, "/datasets?q=click", Some(&analyst));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"][0]["id"], "web.clicks");
    let (status, body) = get(port, "/datasets/hr.employees", Some(&analyst));
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("dataset_not_found"))
    );
    let (status, _) = get(port, "/datasets/hr.employees", Some(&token("hr")));
    assert_eq!(status, 200);
    let (status, body) = get(port, "/datasets", None);
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    let (status, _) = get(port, "/datasets", Some(&format!("{analyst}x")));
    assert_eq!(
        status, 401,
        "a token with a bad signature carries no claims"
    );

    let root = repo_root();
    let report = env.state_dir.join("schemathesis.txt");
    let out = Command::new(root.join(".venv/bin/schemathesis"))
        .arg("--config-file")
        .arg(root.join("api/schemathesis.toml"))
        .arg("run")
        .arg(root.join("api/openapi.yaml"))
        .args(["--url", &format!("http://127.0.0.1:{port}")])
        .args([
            "--header",
            &format!("Authorization: Bearer {}", token("analysts,sales")),
        ])
        .args([
            "--checks",
            "all",
            "--max-examples",
            "25",
            "--workers",
            "1",
            "--seed",
            "20240115",
        ])
        .args(["--request-timeout", "60", "--no-color"])
        .output()
        .expect("run schemathesis");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    std::fs::write(&report, &text).unwrap();
    let summary: Vec<&str> = text
        .lines()
        .rev()
        .take(25)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    eprintln!("{}", summary.join("\n"));
    assert!(
        out.status.success(),
        "schemathesis found failures (full report: {}):\n{text}\n{}",
        report.display(),
        watch.log_tail()
    );
    assert!(text.contains(" passed"), "{text}");
}
