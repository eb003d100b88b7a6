//! The process exits cleanly while another thread is still inside
//! SQLCipher (a helper past its drain, the notifier recording a delivery):
//! libcrypto must not be torn down under it at exit
//! (`setup::crypto_without_exit_cleanup`).

use std::process::Command;

const CHILD: &str = "WARDWATCH_TEST_EXIT_CHILD";

/// In the child: threads write and read an encrypted database without
/// pause while the main thread exits the process.
fn exit_while_threads_use_sqlcipher(dir: &std::path::Path) -> ! {
    wardwatch_runtime::setup::crypto_without_exit_cleanup();
    let path = dir.join("busy.db");
    let open = || {
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch(
            "PRAGMA key = \"x'2DD29CA851E7B56E4697B0E1F08507293D761A05CE4D1B628663F411A8086D99'\";
             PRAGMA cache_size = 2;
             PRAGMA busy_timeout = 10000;
             CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB);",
        )
        .expect("key");
        conn
    };
    drop(open());
    for _ in 0..2 {
        let conn = open();
        std::thread::spawn(move || {
            loop {
                let _ = conn.execute("INSERT INTO t (v) VALUES (randomblob(3000))", []);
                let _: rusqlite::Result<i64> =
                    conn.query_row("SELECT count(length(v)) FROM t", [], |r| r.get(0));
            }
        });
    }
    std::thread::sleep(std::time::Duration::from_millis(150));
    std::process::exit(0)
}

#[test]
fn the_process_exits_cleanly_while_a_thread_is_inside_sqlcipher() {
    if let Some(dir) = std::env::var_os(CHILD) {
        exit_while_threads_use_sqlcipher(std::path::Path::new(&dir));
    }
    let exe = std::env::current_exe().expect("the test binary");
    for run in 0..20 {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new(&exe)
            .args([
                "--exact",
                "exit::the_process_exits_cleanly_while_a_thread_is_inside_sqlcipher",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD, dir.path())
            .output()
            .expect("run the child");
        assert!(
            out.status.success(),
            "run {run}: the process did not exit cleanly ({:?}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
