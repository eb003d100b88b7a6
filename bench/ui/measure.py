"""Drives the release app over WebDriver and prints the window's figures
(bench/ui/run.sh sets up the ward). Standard library only."""
import gzip
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

APP, DATA, PW_FILE, WATCH_S, DIST = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


port = free_port()
env = dict(os.environ, TAURI_WEBVIEW_AUTOMATION="true")
driver = subprocess.Popen(["WebKitWebDriver", f"--port={port}", "--host=local"], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
base = f"http://127.0.0.1:{port}"


def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)["value"]


for _ in range(100):
    try:
        call("GET", "/status")
        break
    except OSError:
        time.sleep(0.1)
sid = call("POST", "/session", {"capabilities": {"alwaysMatch": {"webkitgtk:browserOptions": {
    "binary": APP, "args": ["--data-dir", DATA, "--user", "bench"]}}}})["sessionId"]
base += f"/session/{sid}"


def js(script):
    return call("POST", "/execute/sync", {"script": script, "args": []})


def wait(script, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        v = js(script)
        if v:
            return v
        time.sleep(0.2)
    raise SystemExit(f"bench: timed out waiting for {script}")


def click(css):
    e = call("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]
    call("POST", f"/element/{e}/click", {})


try:
    wait("return document.querySelector('.locked-note') !== null")
    password = open(PW_FILE).read().strip()
    e = call("POST", "/element", {"using": "css selector", "value": "#login-password"})[ELEMENT]
    call("POST", f"/element/{e}/value", {"text": password})
    click("#login-submit")
    wait("return document.querySelectorAll('#beds .bed').length === 48")
    wait("return document.querySelectorAll('#beds .bed .v[data-vital=HR]').length >= 40", 180)
    time.sleep(5)

    # Frame times over 30 s while the ward updates every second.
    js("""window.__frames = []; let last = performance.now();
          const tick = (t) => { window.__frames.push(t - last); last = t; if (window.__frames.length < 100000) requestAnimationFrame(tick); };
          requestAnimationFrame(tick); window.__pushed0 = Number(document.body.dataset.pushed || 0); return 1""")
    time.sleep(30)
    frames = js("return window.__frames")
    pushes = js("return Number(document.body.dataset.pushed || 0) - window.__pushed0")
    frames = frames[1:]
    q = statistics.quantiles(frames, n=100)
    print(f"overview, 48 beds, 30 s: {len(frames)} frames ({len(frames)/30:.1f}/s), "
          f"frame time p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, p99 {q[98]:.1f} ms, max {max(frames):.1f} ms, "
          f"{sum(1 for f in frames if f > 50)} frames over 50 ms; {pushes} pushed updates")

    # A year of history, 20 opens.
    click("#beds .bed")
    wait("return document.getElementById('open-history') !== null")
    click("#open-history")
    wait("return Number(document.body.dataset.historyOpens || 0) >= 1")
    times = []
    for n in range(2, 22):
        click("[data-range='1 y']")
        wait(f"return Number(document.body.dataset.historyOpens || 0) >= {n}")
        times.append(float(js("return document.body.dataset.historyMs")))
    q = statistics.quantiles(times, n=100)
    print(f"history, one year of minutes, 20 opens: p50 {statistics.median(times):.1f} ms, p99 {q[98]:.1f} ms, "
          f"resolution {js('return document.getElementById(\"history\").dataset.resolution')}, "
          f"{js('return document.getElementById(\"history\").dataset.bins')} columns")
    click("#history-close")

    # Bundle.
    total = gz = 0
    for root, _, files in os.walk(DIST):
        for f in files:
            b = open(os.path.join(root, f), "rb").read()
            total += len(b)
            gz += len(gzip.compress(b))
    print(f"bundle (ui/dist): {total/1000:.0f} kB, {gz/1000:.0f} kB gzipped")

    # Memory of the app and its web processes.
    def rss():
        app = subprocess.run(["pgrep", "-f", f"^{APP} --data-dir {DATA}"], capture_output=True, text=True).stdout.split()
        pids = set(app)
        for p in app:
            pids |= set(subprocess.run(["pgrep", "-P", p], capture_output=True, text=True).stdout.split())
        kb = 0
        for p in pids:
            try:
                for line in open(f"/proc/{p}/status"):
                    if line.startswith("VmRSS:"):
                        kb += int(line.split()[1])
            except OSError:
                pass
        return kb / 1024

    samples = []
    start = time.time()
    while time.time() - start < WATCH_S:
        samples.append(rss())
        time.sleep(min(10, WATCH_S))
    samples.append(rss())
    print(f"memory (app + web processes, RSS) over {WATCH_S} s of the live ward: start {samples[0]:.0f} MB, "
          f"max {max(samples):.0f} MB, end {samples[-1]:.0f} MB")
finally:
    try:
        call("DELETE", "")
    except Exception:  # noqa: BLE001 - best effort
        pass
    driver.terminate()
