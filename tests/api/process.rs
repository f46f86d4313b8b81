//! The real `dunder` binary in a process of its own, for the tests that
//! need one (signals, a second server on the same database, the embedded
//! default). It binds port 0 and the test reads the port it got from its
//! `dunder listening on` log line: no port is picked by binding and
//! releasing, which another process could take in between. Everything the
//! process writes is kept, for the tests of what it logs.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the process may take to start and become ready.
pub const START: Duration = Duration::from_secs(30);
/// How long the process may take to exit once told to, and to log a line
/// after what causes it has been answered.
const SETTLE: Duration = Duration::from_secs(20);

/// How to start the process, beyond its arguments.
pub struct Launch<'a> {
    /// The `--log_level` flag every process gets.
    pub log_level: &'a str,
    /// Environment variables to set (`RUST_LOG` is removed unless set
    /// here, so that a developer's shell cannot change what is logged).
    pub env: &'a [(&'a str, &'a str)],
}

impl Default for Launch<'_> {
    fn default() -> Self {
        Launch {
            log_level: "info",
            env: &[],
        }
    }
}

/// A `dunder` process, killed when dropped if it still runs; its log is
/// printed if the test is failing.
pub struct DunderProcess {
    child: Child,
    pub port: u16,
    scheme: &'static str,
    log: Arc<Mutex<String>>,
    /// The threads reading stdout and stderr; they end when the process
    /// has exited and they have read everything it wrote.
    readers: Vec<JoinHandle<()>>,
}

impl DunderProcess {
    /// Starts the binary in `dir` on 127.0.0.1, port 0, logging at info,
    /// with `args` added, and returns once it has bound its port. `tls`
    /// says whether `args` turn TLS on (the log line names the scheme).
    pub fn start<I, S>(dir: &Path, args: I, tls: bool) -> DunderProcess
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        DunderProcess::start_with(dir, args, tls, Launch::default())
    }

    /// The same, with the log level and environment of `launch`. The
    /// `dunder listening on` line is logged at info: a launch that hides it
    /// fails here.
    pub fn start_with<I, S>(dir: &Path, args: I, tls: bool, launch: Launch<'_>) -> DunderProcess
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dunder"));
        command
            .args([
                "--port",
                "0",
                "--listen_address",
                "127.0.0.1",
                "--log_level",
                launch.log_level,
            ])
            .args(args.into_iter().map(Into::into))
            .current_dir(dir)
            .env_remove("RUST_LOG")
            .envs(launch.env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start dunder");
        let log = Arc::new(Mutex::new(String::new()));
        let (lines, listening) = mpsc::channel();
        let readers = vec![
            drain(child.stdout.take().unwrap(), log.clone(), None),
            // tracing writes to stderr.
            drain(child.stderr.take().unwrap(), log.clone(), Some(lines)),
        ];
        let scheme = if tls { "https" } else { "http" };
        let mut process = DunderProcess {
            child,
            port: 0,
            scheme,
            log,
            readers,
        };
        let prefix = format!("dunder listening on {scheme}://127.0.0.1:");
        let deadline = Instant::now() + START;
        loop {
            let line: String = listening
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("no `{prefix}PORT` line from dunder"));
            if let Some((_, rest)) = line.split_once(&prefix) {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                process.port = digits.parse().expect("a port");
                return process;
            }
        }
    }

    /// `http://127.0.0.1:PORT` (or https).
    pub fn base_url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    /// The process id (for what `/proc` says of it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `/readyz` answers 200 (plain HTTP only), or fails.
    pub async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        let url = format!("{}/readyz", self.base_url());
        let deadline = Instant::now() + START;
        loop {
            let status = client.get(&url).send().await.map(|r| r.status());
            if matches!(status, Ok(s) if s == reqwest::StatusCode::OK) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "dunder on port {} never became ready: {status:?}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends the signal `name` (TERM, INT…) to the process.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args([&format!("-{name}"), pid.as_str()])
            .status()
            .expect("run kill")
            .success());
    }

    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("child status")
    }

    /// Everything the process has written so far, stdout and stderr.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The first line of the log that contains `needle`, waiting for it
    /// (a line can reach the log a little after the answer that follows
    /// it); fails if none comes in time.
    pub async fn wait_for_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + SETTLE;
        loop {
            if let Some(line) = self.log().lines().find(|line| line.contains(needle)) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "dunder never logged {needle:?}; it logged:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGTERM and returns the exit status and the whole log, once
    /// the process has exited and its output has been read to the end:
    /// only then can a test say that a line was never logged.
    pub async fn stop(&mut self) -> (ExitStatus, String) {
        self.signal("TERM");
        let deadline = Instant::now() + SETTLE;
        let status = self
            .wait_exit(deadline)
            .await
            .expect("dunder did not exit on SIGTERM");
        while !self.readers.iter().all(JoinHandle::is_finished) {
            assert!(
                Instant::now() < deadline,
                "dunder's output never closed after it exited"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (status, self.log())
    }

    /// The exit status, or `None` if the process still runs at `deadline`.
    pub async fn wait_exit(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for DunderProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- dunder (port {}) logged:\n{}---", self.port, self.log());
        }
    }
}

/// Reads `output` line by line on a thread of its own until it closes, so
/// that the process never blocks on a full pipe; keeps every line in `log`
/// and sends it to `lines` while someone listens.
fn drain(
    output: impl Read + Send + 'static,
    log: Arc<Mutex<String>>,
    lines: Option<mpsc::Sender<String>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines() {
            let Ok(line) = line else { break };
            if let Ok(mut log) = log.lock() {
                log.push_str(&line);
                log.push('\n');
            }
            if let Some(lines) = &lines {
                let _ = lines.send(line);
            }
        }
    })
}
