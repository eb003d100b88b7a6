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
import functools
print = functools.partial(print, flush=True)  # noqa: A001 - progress lines as they come

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
    wait("return !document.getElementById('locked').hidden")
    password = open(PW_FILE).read().strip()
    e = call("POST", "/element", {"using": "css selector", "value": "#login-password"})[ELEMENT]
    call("POST", f"/element/{e}/value", {"text": password})
    click("#login-submit")
    wait("return document.querySelectorAll('#beds .bed').length === 48")
    wait("return document.querySelectorAll('#beds .bed .v[data-vital=HR]').length >= 40", 180)
    time.sleep(5)

    # Frame times over 30 s while the ward updates every second.
    js("""window.__renders = []; new MutationObserver(() => window.__renders.push(Number(document.body.dataset.renderMs)))
          .observe(document.body, { attributes: true, attributeFilter: ['data-render-ms'] }); return 1""")
    js("""window.__frames = []; let last = performance.now();
          const tick = (t) => { window.__frames.push(t - last); last = t; if (window.__frames.length < 100000) requestAnimationFrame(tick); };
          requestAnimationFrame(tick); window.__pushed0 = Number(document.body.dataset.pushed || 0); return 1""")
    time.sleep(30)
    frames = js("return window.__frames")
    pushes = js("return Number(document.body.dataset.pushed || 0) - window.__pushed0")
    frames = frames[1:]
    q = statistics.quantiles(frames, n=100)
    print(flush=True)
    print(f"overview, 48 beds, 30 s: {len(frames)} frames ({len(frames)/30:.1f}/s), "
          f"frame time p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, p99 {q[98]:.1f} ms, max {max(frames):.1f} ms, "
          f"{sum(1 for f in frames if f > 50)} frames over 50 ms; {pushes} pushed updates")
    renders = js("return window.__renders")
    if renders:
        print(f"an update's script time (fetch excluded): p50 {statistics.median(renders):.1f} ms, max {max(renders):.1f} ms")

    # The same 10 s with the stream paused (no data, no updates): the
    # window's own baseline.
    sim = subprocess.run(["pgrep", "-f", "wardwatchctl sim --patients 48"], capture_output=True, text=True).stdout.split()
    for p in sim:
        os.kill(int(p), 19)  # SIGSTOP
    time.sleep(3)
    js("""window.__frames = []; let last = performance.now();
          const tick = (t) => { window.__frames.push(t - last); last = t; if (window.__frames.length < 100000) requestAnimationFrame(tick); };
          requestAnimationFrame(tick); return 1""")
    time.sleep(10)
    idle = js("return window.__frames")[1:]
    for p in sim:
        os.kill(int(p), 18)  # SIGCONT
    qi = statistics.quantiles(idle, n=100)
    print(f"baseline, stream paused, 10 s: frame time p50 {qi[49]:.1f} ms, p99 {qi[98]:.1f} ms, max {max(idle):.1f} ms, "
          f"{sum(1 for f in idle if f > 50)} frames over 50 ms")

    # The stream running but the window not updating (its ward and alarm
    # reads answered at once with what they answered last, so nothing
    # changes on screen): what the runtime's and the simulator's own work
    # costs the window's frames on this machine, apart from the UI's.
    js("""const I = window.__TAURI_INTERNALS__; window.__invoke = I.invoke; window.__held = null;
          Promise.all([I.invoke('ward_live'), I.invoke('list_alarms', { openOnly: true })]).then(r => { window.__held = r; }); return 1""")
    wait("return window.__held !== null")
    js("""const I = window.__TAURI_INTERNALS__;
          I.invoke = (cmd, ...a) => cmd === 'ward_live' ? Promise.resolve(window.__held[0])
            : cmd === 'list_alarms' ? Promise.resolve(window.__held[1]) : window.__invoke(cmd, ...a);
          window.__frames = []; let last = performance.now();
          const tick = (t) => { window.__frames.push(t - last); last = t; if (window.__frames.length < 100000) requestAnimationFrame(tick); };
          requestAnimationFrame(tick); return 1""")
    time.sleep(10)
    held = js("return window.__frames")[1:]
    js("window.__TAURI_INTERNALS__.invoke = window.__invoke; return 1")
    qh = statistics.quantiles(held, n=100)
    print(f"stream running, window not updating, 10 s: frame time p50 {qh[49]:.1f} ms, p99 {qh[98]:.1f} ms, "
          f"max {max(held):.1f} ms, {sum(1 for f in held if f > 50)} frames over 50 ms")

    # What one update costs: the ward's JSON, its round trip, and the
    # main thread's time to parse it and patch the tiles.
    js("""window.__rt = null; (async () => { const I = window.__TAURI_INTERNALS__; const out = [];
          for (let i = 0; i < 10; i++) { const t0 = performance.now(); const r = await I.invoke('ward_live');
            const t1 = performance.now(); const n = JSON.stringify(r).length; const t2 = performance.now();
            JSON.parse(JSON.stringify(r)); out.push([t1 - t0, n, performance.now() - t2]); }
          window.__rt = out; })(); return 1""")
    rt = wait("return window.__rt")
    print(f"ward_live: {rt[0][1]/1000:.0f} kB JSON, round trip p50 {statistics.median(r[0] for r in rt):.1f} ms, "
          f"JSON parse+stringify p50 {statistics.median(r[2] for r in rt):.1f} ms")

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
    resolution = js("return document.getElementById('history').dataset.resolution")
    bins = js("return document.getElementById('history').dataset.bins")
    print(f"history, one year of minutes, 20 opens: p50 {statistics.median(times):.1f} ms, p99 {q[98]:.1f} ms, "
          f"resolution {resolution}, {bins} columns")
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
        if len(samples) % 30 == 0:
            print(f"  after {time.time() - start:.0f} s: {samples[-1]:.0f} MB", flush=True)
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
