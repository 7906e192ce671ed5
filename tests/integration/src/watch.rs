//! `cargo lambda watch` (from the project's venv) serving the workspace's function binaries
//! against a test binary's moto server, and plain HTTP/1.1 over loopback to talk to it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{TestEnv, repo_root};

/// A running `cargo lambda watch` in its own process group, killed on drop.
pub struct Watch {
    child: Child,
    pub log: PathBuf,
    pub port: u16,
}

impl Drop for Watch {
    fn drop(&mut self) {
        // SAFETY: signalling the process group we created for the child.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Watch {
    /// Starts `cargo lambda watch` on a free loopback port with the emulator's variables and
    /// `extra` env-file lines, logging to `<state dir>/<name>.log`; waits until it listens.
    pub fn start(env: &TestEnv, name: &str, extra: &[&str]) -> Watch {
        let root = repo_root();
        let port = free_port();
        let env_file = env.state_dir.join(format!("{name}.env"));
        let mut lines: Vec<String> = env.vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
        lines.extend(extra.iter().map(|l| l.to_string()));
        std::fs::write(&env_file, lines.join("\n")).unwrap();
        let log = env.state_dir.join(format!("{name}.log"));
        let path = format!(
            "{}:{}",
            root.join(".venv/bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new(root.join(".venv/bin/cargo-lambda"));
        cmd.args([
            "lambda",
            "watch",
            "--ignore-changes",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
            "--env-file",
        ])
        .arg(&env_file)
        .current_dir(&root)
        .env("PATH", path)
        .envs(&env.vars)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(&log).unwrap().try_clone().unwrap());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let watch = Watch {
            child: cmd.spawn().expect("start cargo lambda watch"),
            log,
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch did not listen:\n{}",
                watch.log_tail()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        watch
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// (status, lower-case headers, body) of an HTTP answer.
pub type HttpAnswer = (u16, Vec<(String, String)>, Vec<u8>);

/// One HTTP/1.1 request to 127.0.0.1:`port`; returns (status, lower-case headers, body).
pub fn http(
    method: &str,
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> std::io::Result<HttpAnswer> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(timeout))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let rest = raw.get(split + 4..).unwrap_or_default().to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked { dechunk(&rest) } else { rest };
    Ok((status, headers, body))
}

/// GET of an `http://127.0.0.1:PORT/...` URL (a presigned link to the emulator).
pub fn get_url(url: &str) -> (u16, Vec<u8>) {
    let rest = url
        .strip_prefix("http://127.0.0.1:")
        .unwrap_or_else(|| panic!("not a loopback URL: {url}"));
    let (port, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (status, _, body) = http(
        "GET",
        port.parse().expect("port"),
        path,
        &[],
        b"",
        Duration::from_secs(30),
    )
    .expect("GET");
    (status, body)
}

/// POSTs JSON and returns (status, parsed JSON body).
pub fn post(
    port: u16,
    path: &str,
    body: &Value,
    timeout: Duration,
) -> std::io::Result<(u16, Value)> {
    let (status, _, body) = http(
        "POST",
        port,
        path,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
        timeout,
    )?;
    let text = String::from_utf8_lossy(&body).to_string();
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

fn dechunk(mut s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = s.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&s[..i]).trim(), 16).unwrap_or(0);
        let rest = &s[i + 2..];
        if n == 0 || rest.len() < n {
            break;
        }
        out.extend_from_slice(&rest[..n]);
        s = rest[n..].strip_prefix(b"\r\n").unwrap_or(&rest[n..]);
    }
    out
}
