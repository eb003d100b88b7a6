//! A minimal W3C WebDriver client over `WebKitWebDriver`, enough for the
//! desktop tests: start a session on the app binary, find, type, click, read
//! text, take a screenshot. The driver process ends when `Driver` drops.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Driver {
    child: Child,
    http: reqwest::blocking::Client,
    base: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Driver {
    pub fn start(app: &str, args: &[&str]) -> Driver {
        assert!(
            std::env::var_os("DISPLAY").is_some(),
            "DISPLAY is not set: run the desktop tests through scripts/test.sh, which starts Xvfb"
        );
        let port = free_port();
        let child = Command::new("WebKitWebDriver")
            .arg(format!("--port={port}"))
            .arg("--host=local")
            .env("TAURI_WEBVIEW_AUTOMATION", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("WebKitWebDriver (Debian package webkit2gtk-driver) must be installed: run scripts/setup.sh");
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        let mut driver = Driver {
            child,
            http,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while driver
            .http
            .get(format!("{}/status", driver.base))
            .send()
            .is_err()
        {
            assert!(Instant::now() < deadline, "WebKitWebDriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "webkitgtk:browserOptions": {"binary": app, "args": args}
        }}});
        let session = driver.post("/session", &caps);
        let id = session["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        driver.base = format!("{}/session/{id}", driver.base);
        driver
    }

    fn post(&self, path: &str, body: &Value) -> Value {
        self.post_if_fresh(path, body)
            .unwrap_or_else(|| panic!("POST {path}: stale element reference"))
    }

    /// Like `post`, but `None` when the element was re-rendered (stale): the
    /// request did nothing, so the caller finds the element again.
    fn post_if_fresh(&self, path: &str, body: &Value) -> Option<Value> {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let v: Value = resp.json().unwrap_or_else(|e| panic!("POST {path}: {e}"));
        if v["value"]["error"] == "stale element reference" {
            return None;
        }
        assert!(v["value"]["error"].is_null(), "POST {path}: {}", v["value"]);
        Some(v["value"].clone())
    }

    fn get(&self, path: &str) -> Value {
        let v: Value = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .and_then(|r| r.json())
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert!(v["value"]["error"].is_null(), "GET {path}: {}", v["value"]);
        v["value"].clone()
    }

    /// GET on an element found a moment before: `None` when the UI has
    /// re-rendered it meanwhile (a stale element reference), so that the
    /// caller finds it again; any other error fails the test.
    fn get_if_fresh(&self, path: &str) -> Option<Value> {
        let v: Value = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .and_then(|r| r.json())
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        if v["value"]["error"] == "stale element reference" {
            return None;
        }
        assert!(v["value"]["error"].is_null(), "GET {path}: {}", v["value"]);
        Some(v["value"].clone())
    }

    fn find_all(&self, css: &str) -> Vec<String> {
        // WebKitWebDriver answers a search with "stale element reference"
        // when the UI re-renders a match while it collects them (seen on
        // the alarm log's refresh): search again, in the DOM as it now is.
        let body = json!({"using": "css selector", "value": css});
        let found = (0..20)
            .find_map(|_| {
                let found = self.post_if_fresh("/elements", &body);
                if found.is_none() {
                    std::thread::sleep(Duration::from_millis(50));
                }
                found
            })
            .unwrap_or_else(|| panic!("POST /elements `{css}`: stale 20 times in a row"));
        found
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT_KEY].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn find(&self, css: &str) -> String {
        self.find_all(css)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no element matches `{css}`"))
    }

    /// Waits until exactly `n` elements match (the UI renders asynchronously).
    pub fn wait_for_count(&self, css: &str, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.find_all(css);
            if found.len() == n || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits for an element with non-empty text and returns the text.
    pub fn wait_for_text(&self, css: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.find_all(css).first()
                && let Some(t) = self.get_if_fresh(&format!("/element/{e}/text"))
                && let Some(t) = t.as_str().filter(|t| !t.is_empty())
            {
                return t.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no text in `{css}` after {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits for an attribute with a non-empty value.
    pub fn wait_for_attribute(&self, css: &str, name: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.find_all(css).first()
                && let Some(v) = self.get_if_fresh(&format!("/element/{e}/attribute/{name}"))
                && let Some(v) = v.as_str().filter(|v| !v.is_empty() && *v != "0")
            {
                return v.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no `{name}` on `{css}` after {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Finds `css` and does `act` on it; found again when the UI re-rendered
    /// it in between (`act` answers `None` for a stale element).
    fn on_fresh<T>(&self, css: &str, act: impl Fn(&str) -> Option<T>) -> T {
        for _ in 0..10 {
            if let Some(v) = act(&self.find(css)) {
                return v;
            }
        }
        panic!("`{css}` kept being re-rendered while used");
    }

    /// Runs `script` (a function body: `return …`) in the page.
    pub fn execute(&self, script: &str) -> Value {
        self.post("/execute/sync", &json!({"script": script, "args": []}))
    }

    /// Waits until `script` returns something other than `null`, `false`
    /// or an empty string, and returns it.
    pub fn wait_for_script(&self, script: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.execute(script);
            let empty = v.is_null() || v == Value::Bool(false) || v.as_str() == Some("");
            if !empty {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "`{script}` stayed empty for {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn text(&self, css: &str) -> String {
        self.on_fresh(css, |e| self.get_if_fresh(&format!("/element/{e}/text")))
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Brings `css` to the middle of its scrolling box: WebKit's driver
    /// scrolls the page, not a view's own scrolling section, and refuses a
    /// click on what lies under that section's edge.
    fn scroll_to(&self, css: &str) {
        let css = serde_json::to_string(css).expect("a selector");
        self.execute(&format!(
            "const e = document.querySelector({css}); if (e) e.scrollIntoView({{block: 'center'}}); return 1"
        ));
    }

    pub fn click(&self, css: &str) {
        self.scroll_to(css);
        self.on_fresh(css, |e| {
            self.post_if_fresh(&format!("/element/{e}/click"), &json!({}))
        });
    }

    pub fn type_into(&self, css: &str, text: &str) {
        self.scroll_to(css);
        self.on_fresh(css, |e| {
            self.post_if_fresh(&format!("/element/{e}/value"), &json!({"text": text}))
        });
    }

    /// Empties an input.
    pub fn clear(&self, css: &str) {
        self.scroll_to(css);
        self.on_fresh(css, |e| {
            self.post_if_fresh(&format!("/element/{e}/clear"), &json!({}))
        });
    }

    pub fn screenshot(&self, path: &Path) {
        use base64_decode as b64;
        let data = self.get("/screenshot");
        let bytes = b64(data.as_str().unwrap_or_default());
        std::fs::write(path, bytes).expect("write the screenshot");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.http.delete(&self.base).send();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Standard base64 (RFC 4648) decoding, for the screenshot PNG.
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for v in s.bytes().filter_map(val) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
