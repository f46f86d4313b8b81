//! The real `dunder` binary in a process of its own, for the benchmarks
//! that load it from this one: on a free port, in a temporary directory
//! (its SQLite file), killed and reaped when dropped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Server {
    child: Child,
    /// `127.0.0.1:port`.
    pub address: String,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts the binary with `args` after the port and address, and waits
    /// until it is ready.
    // The child is reaped by `Server`'s Drop, which the lint cannot see.
    #[allow(clippy::zombie_processes)]
    pub async fn start(args: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_dunder"))
            .args(["--port", &port.to_string(), "--listen_address", "127.0.0.1"])
            .args(["--log_level", "error"])
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .spawn()
            .expect("start dunder");
        let server = Server {
            child,
            address: format!("127.0.0.1:{port}"),
            _dir: dir,
        };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client
                .get(format!("{}/readyz", server.http()))
                .send()
                .await
                .is_ok()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("dunder did not start");
    }

    /// `http://127.0.0.1:port`.
    pub fn http(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
