//! The real `dunder` binary in a process of its own, for the benchmarks
//! that load it from this one: on port 0 (the port it bound is read back
//! from its `dunder listening on` log line, so none is picked here and
//! released for another process to take), in a temporary directory (its
//! SQLite file), killed and reaped when dropped; and a fresh database
//! for a benchmark, on SQLite or on the PostgreSQL the tests use.

// Each benchmark uses the parts it needs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};

use sea_orm::sqlx::{Connection, Executor, PgConnection};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    /// `127.0.0.1:port`.
    pub address: String,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts the binary with `args` after the port and address, and waits
    /// until it is ready. `DUNDER_BENCH_SERVER` names another build of the
    /// server to measure instead of this one (to compare two versions with
    /// the same load and baselines, one run each).
    // The child is reaped by `Server`'s Drop, which the lint cannot see.
    #[allow(clippy::zombie_processes)]
    pub async fn start(args: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        // Info, for the listening line; nothing is logged per request at
        // that level, so the log costs the benchmark nothing.
        let binary = std::env::var_os("DUNDER_BENCH_SERVER")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_dunder").into());
        let mut child = Command::new(binary)
            .args(["--port", "0", "--listen_address", "127.0.0.1"])
            .args(["--log_level", "info"])
            .args(args)
            .current_dir(dir.path())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dunder");
        let (lines, listening) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        // Read the log on a thread of its own to the end, so that the
        // process never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = lines.send(line);
            }
        });
        let prefix = "dunder listening on http://";
        let deadline = Instant::now() + Duration::from_secs(30);
        let address = loop {
            let line = listening
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("dunder did not say where it listens");
            if let Some((_, rest)) = line.split_once(prefix) {
                break rest
                    .split_whitespace()
                    .next()
                    .expect("an address")
                    .to_owned();
            }
        };
        let server = Server {
            child,
            address,
            _dir: dir,
        };
        let client = reqwest::Client::new();
        while Instant::now() < deadline {
            if let Ok(response) = client.get(format!("{}/readyz", server.http())).send().await {
                if response.status().is_success() {
                    return server;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("dunder did not become ready");
    }

    /// `http://127.0.0.1:port`.
    pub fn http(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The server's resident size in KiB (`VmRSS` of its process).
    pub fn resident_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the server's /proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmRSS line")
    }

    /// The CPU time (user and system) the server's process has used.
    pub fn cpu_time(&self) -> Duration {
        cpu_time_of(&format!("/proc/{}/stat", self.child.id()))
    }

    /// The value of a metric on the server's `/metrics` (without labels).
    pub async fn metric(&self, client: &reqwest::Client, name: &str) -> u64 {
        let text = client
            .get(format!("{}/metrics", self.http()))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("the metrics");
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
    }
}

/// The CPU time (user and system) this process has used.
pub fn own_cpu_time() -> Duration {
    cpu_time_of("/proc/self/stat")
}

/// User plus system time from a `/proc/<pid>/stat` file: its 14th and
/// 15th fields, in clock ticks. The command name (2nd field) may hold
/// spaces, so fields are counted after its closing parenthesis.
fn cpu_time_of(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).expect("a /proc stat file");
    let after_name = &stat[stat.rfind(')').expect("a command name") + 1..];
    // After the name come the state (3rd field) and the rest.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf only reads a system constant.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_nanos(ticks * 1_000_000_000 / per_second)
}

/// Raises this process's soft limit on open files to its hard limit (a
/// child inherits it), and fails unless it allows `needed`: a benchmark
/// with thousands of sockets on each side needs more than the usual 1,024.
pub fn raise_open_files(needed: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write `limit`.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
    assert!(
        limit.rlim_cur >= needed,
        "this benchmark needs {needed} open files per process; the hard limit is {} (raise it with `ulimit -Hn` as root)",
        limit.rlim_cur
    );
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A database URL for a benchmark run: a file in `dir` on SQLite, or a
/// database of its own on the PostgreSQL named by
/// `DUNDER_TEST_POSTGRES_URL` (its name returned, to drop afterwards).
pub async fn fresh_database(
    backend: &str,
    dir: &tempfile::TempDir,
    n: usize,
) -> (String, Option<String>) {
    if backend == "sqlite" {
        return (
            format!("sqlite:{}/bench{n}.db?mode=rwc", dir.path().display()),
            None,
        );
    }
    let admin = admin_url();
    let name = format!(
        "dunder_bench_{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let mut connection = PgConnection::connect(&admin)
        .await
        .expect("PostgreSQL for the benchmark");
    connection
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    (format!("{base}/{name}"), Some(name))
}

/// Drops a database `fresh_database` made on PostgreSQL.
pub async fn drop_database(name: Option<String>) {
    let Some(name) = name else { return };
    if let Ok(mut connection) = PgConnection::connect(&admin_url()).await {
        let _ = connection
            .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
            .await;
    }
}

fn admin_url() -> String {
    std::env::var("DUNDER_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}
