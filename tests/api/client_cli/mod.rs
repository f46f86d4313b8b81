//! The console client (`dunder post`, `ls`, `trend`, `tail`): the real
//! binary against a real server, its stdout, stderr and exit code, on
//! SQLite and on PostgreSQL.

mod https;
mod ls;
mod post;
mod proxy;
mod tail;
mod trend;

use std::process::{Command, Output, Stdio};

/// Runs `dunder ARGS` with exactly the environment `env` adds to a clean
/// one (no USER, no DUNDER_*, no NO_COLOR, no COLUMNS), off the test's
/// runtime threads.
pub async fn dunder(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = client_command(args, env);
    tokio::task::spawn_blocking(move || command.output().expect("run dunder"))
        .await
        .expect("the client runs")
}

/// The command, not started: a clean environment but PATH and HOME.
pub fn client_command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dunder"));
    command
        .args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for name in ["PATH", "HOME"] {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    command.envs(env.iter().copied());
    command
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Exit code `code`, and for a failure exactly one line on stderr
/// containing `says`.
pub fn assert_exit(output: &Output, code: i32, says: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(code), "stderr: {err}");
    assert!(err.contains(says), "{err:?} should say {says:?}");
    if code != 0 {
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

/// The lines of a `--json` output, parsed.
pub fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect()
}
