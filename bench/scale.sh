#!/usr/bin/env bash
# Issue 16: a whole hospital on one workstation, end to end. The simulator
# sends PATIENTS patients' streams (ECG 250 Hz and numerics 1 Hz, the
# default scenario plus a desaturation on up to 120 beds, spread over the
# span) over TRANSPORT, once as fast as they are taken (throughput) and once
# live (alarm latency): sse serves them as Server-Sent Events; kinesis puts
# them on a Kinesis stream of 4 shards in a real Kinesis-API server
# (kinesalite, scripts/peers.sh) beside it. The real `wardwatchctl serve` reads them,
# decodes, stores (encrypted), scores and alarms, with a real notification
# daemon on D-Bus (scripts/notifyd.sh). Prints × real time, CPU seconds per
# 1,000 patient-minutes, alarm latency p50/p99 (from the batch's arrival:
# the SSE read, or Kinesis's ApproximateArrivalTimestamp of its oldest
# record; to the daemon's answer), bytes serve wrote, store growth per
# patient-day and peak RSS; and the in-process pipeline benchmark on the same load, as the
# baseline, in the same run.
#
#   bash bench/scale.sh [PATIENTS] [SECONDS] [sse|kinesis]   (defaults: 1000 60 sse)
#   WARDWATCH_SCALE_BIN=/tmp/wardwatchctl-before bash bench/scale.sh …   (another build)
#   WARDWATCH_SCALE_NO_BASELINE=1 …   (the end-to-end runs only)
#   WARDWATCH_SCALE_RAW_HOURS=H …   (each run's store starts with the last H
#       hours of every patient's raw readings and their minutes, as a ward's
#       store holds them all day, back-filled by `demo backfill --raw-hours`)
#   WARDWATCH_SCALE_ACK_AFTER=A …   (a nurse acknowledges each alarm A seconds
#       after its notification is seen, `alarms ack` from beside serve, as a
#       ward does; else none is, and every notification stays on the
#       daemon's screen to the end)
#   WARDWATCH_SCALE_LOSE=T …   (sse, live: T seconds into the run serve is
#       stopped, SIGSTOP, for 30 s while the simulator's log keeps only 20 s
#       of records, so every patient's stream loses about 10 s, as when a
#       workstation stalls; the run then says which alarms that made)
#
# SECONDS over 240 is a soak: the live run alone (the simulated data starts
# now, and the store takes data at most 5 min ahead of its clock, so the
# fast run and the baseline cannot cover it), with serve's resident memory
# every minute, to see it flat. Asserts nothing about time.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
S=${2:-60}
TRANSPORT=${3:-sse}
SHARDS=4
if ! [[ $N =~ ^[0-9]+$ && $S =~ ^[0-9]+$ && $TRANSPORT =~ ^(sse|kinesis)$ ]] || ((N < 1 || S < 60)); then
    echo "usage: bash bench/scale.sh [PATIENTS ≥ 1] [SECONDS ≥ 60; over 240 live only] [sse|kinesis]" >&2
    exit 2
fi
# The simulator's SSE log holds 4,000,000 records (5.5 a patient-second),
# the oldest evicted first: a run as fast as it is taken needs the whole
# span in it, a soak over SSE (live, read as it comes) a minute of it, for
# a reader that falls behind. kinesalite keeps a stream in its memory: the
# whole span either way.
HELD=$S
if ((S > 240)) && [[ $TRANSPORT == sse ]]; then
    HELD=60
fi
LOSE=${WARDWATCH_SCALE_LOSE:-}
if [[ -n $LOSE ]]; then
    if ! [[ $LOSE =~ ^[0-9]+$ && $TRANSPORT == sse ]] || ((S <= 240)); then
        echo "bench/scale.sh: WARDWATCH_SCALE_LOSE=SECONDS needs sse and a live run (SECONDS over 240)" >&2
        exit 2
    fi
    HELD=20
fi
if ((N * HELD * 11 / 2 > 3900000)); then
    echo "bench/scale.sh: $N patients × $HELD s is more than the simulator's log holds; shorten SECONDS" >&2
    exit 2
fi
if [[ -z ${WARDWATCH_SCALE_INNER:-} ]]; then
    export WARDWATCH_SCALE_INNER=1
    exec bash scripts/notifyd.sh run -- bash bench/scale.sh "$@"
fi

# WARDWATCH_SCALE_BIN runs another build of wardwatchctl (a copy of an
# earlier one, say) against the same load, so that two builds can be
# compared in one sitting on a machine whose speed drifts.
# The simulator is always this tree's: the same load for every build.
cargo build --release -q -p wardwatchctl
SIM_BIN=$PWD/target/release/wardwatchctl
BIN=$SIM_BIN
if [[ -n ${WARDWATCH_SCALE_BIN:-} ]]; then
    BIN=$(realpath "$WARDWATCH_SCALE_BIN")
fi
WORK=$(mktemp -d)
chmod 700 "$WORK"
DATA=
PORT=$((20000 + RANDOM % 20000))
cleanup() {
    [[ -n ${SERVE:-} ]] && kill "$SERVE" 2>/dev/null || true
    [[ -n ${SIM:-} ]] && kill "$SIM" 2>/dev/null || true
    [[ -f $WORK/peers.env ]] && bash scripts/peers.sh stop "$WORK/peers.env" || true
    rm -rf "$WORK"
}
trap cleanup EXIT
export WARDWATCH_KEY_DIR=$WORK/keys
printf 'whole hospital pass phrase\n' >"$WORK/pw"
chmod 600 "$WORK/pw"
export WARDWATCH_PASSWORD_FILE=$WORK/pw
ctl() { "$BIN" --data-dir "$DATA" --user bench "$@"; }

if [[ $TRANSPORT == kinesis ]]; then
    bash scripts/peers.sh kinesalite "$WORK/peers.env" 2>/dev/null
    # shellcheck disable=SC1091
    source "$WORK/peers.env"
    # kinesalite takes any keys.
    export WARDWATCH_AWS_ACCESS_KEY_ID=bench WARDWATCH_AWS_SECRET_ACCESS_KEY=bench
fi
# Creates a Kinesis stream of SHARDS shards and waits until it is ACTIVE
# (kinesalite checks that a request is signed, not the signature).
kinesis_create() {
    python3 - "$WARDWATCH_KINESALITE_URL" "$1" "$SHARDS" <<'EOF'
import json, sys, time, urllib.request
url, stream, shards = sys.argv[1], sys.argv[2], int(sys.argv[3])
def call(op, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={
        "X-Amz-Target": f"Kinesis_20131202.{op}",
        "Content-Type": "application/x-amz-json-1.1",
        "Authorization": "AWS4-HMAC-SHA256 Credential=bench/20260101/eu-west-2/kinesis/aws4_request, SignedHeaders=host, Signature=0",
        "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"{}")
call("CreateStream", {"StreamName": stream, "ShardCount": shards})
for _ in range(600):
    if call("DescribeStreamSummary", {"StreamName": stream})["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
        sys.exit(0)
    time.sleep(0.05)
sys.exit(f"stream {stream} not ACTIVE after 30 s")
EOF
}

# Records the runtime has taken (or been told the source lost before it
# read them: WARDWATCH_SCALE_LOSE), polled twice a second while it runs: no
# python here (its start-up and json import were ~110 ms of CPU a poll,
# over a tenth of this 2-core machine taken from serve at 10,000 patients).
taken() {
    ctl ingest status --json |
        { grep -oE '"(stored|duplicates|quarantined|conflicts|lost)": *[0-9]+' || true; } |
        awk -F: '{s += $2} END {print s + 0}'
}
cpu_s() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat"; }
hwm_mb() { awk '/^VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
db_bytes() {
    local f total=0
    for f in "$DATA/wardwatch.db" "$DATA/wardwatch.db-wal"; do
        if [[ -f $f ]]; then total=$((total + $(stat -c %s "$f"))); fi
    done
    echo "$total"
}
lake_bytes() { if [[ -d $DATA/lake ]]; then du -sb "$DATA/lake" | cut -f1; else echo 0; fi; }
# The ids of the active alarms whose notification the bench first saw at
# least WARDWATCH_SCALE_ACK_AFTER seconds ago (first sightings kept in $1).
ack_due() {
    ctl alarms list --active --json | python3 -c '
import json, sys, time
seen_file, after = sys.argv[1], float(sys.argv[2])
try:
    seen = json.load(open(seen_file))
except FileNotFoundError:
    seen = {}
now = time.time()
for a in json.load(sys.stdin):
    if a["state"] != "active" or a["notify_count"] == 0:
        continue
    first = seen.setdefault(str(a["id"]), now)
    if now - first >= after:
        print(a["id"])
json.dump(seen, open(seen_file, "w"))' "$1" "$WARDWATCH_SCALE_ACK_AFTER"
}

# One end-to-end run on a fresh store at PACE. fast: the simulator serves
# the span as fast as it is taken, so the wall time is the runtime's.
# realtime: live, where the alarm latency means what it says (fast, it is
# mostly the backlog's queue). Prints its figures.
e2e() {
    local pace=$1
    DATA=$WORK/data-$pace
    export WARDWATCH_KEY_DIR=$WORK/keys-$pace
    ctl demo load >/dev/null
    [[ -f $WORK/registry.csv ]] || ctl demo export --count "$N" -o "$WORK/registry.csv"
    ctl import patients "$WORK/registry.csv" >/dev/null
    local filled=""
    if [[ -n ${WARDWATCH_SCALE_RAW_HOURS:-} ]]; then
        local t0
        t0=$(date +%s.%N)
        ctl demo backfill --days 0 --long-days 0 --raw-hours "$WARDWATCH_SCALE_RAW_HOURS" >/dev/null
        filled="$WARDWATCH_SCALE_RAW_HOURS h back-filled in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.0f", b - a}') s"
    fi
    local before_db before_lake before_space
    before_db=$(db_bytes)
    before_lake=$(lake_bytes)
    before_space=$(ctl store space --json)
    local peer_cpu0=0
    if [[ $TRANSPORT == kinesis ]]; then
        # The simulator puts the span and exits: its CPU comes from its
        # rusage (python's wrapper), its valid records from its report.
        kinesis_create "ward-$pace"
        peer_cpu0=$(cpu_s "$WARDWATCH_KINESALITE_PID")
        python3 -c 'import resource, subprocess, sys
with open(sys.argv[1], "w") as out:
    rc = subprocess.run(sys.argv[2:], stdout=out).returncode
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"sim: CPU {r.ru_utime + r.ru_stime:.2f}", file=sys.stderr)
sys.exit(rc)' "$WORK/sim-$pace.json" "$SIM_BIN" sim --patients "$N" --duration "$S" --pace "$pace" \
            --scenario "$WORK/scenario.json" --kinesis-endpoint "$WARDWATCH_KINESALITE_URL" \
            --stream "ward-$pace" --json 2>"$WORK/sim-$pace.err" &
        SIM=$!
        ctl sources add kinesis sim --endpoint "$WARDWATCH_KINESALITE_URL" --stream "ward-$pace" >/dev/null
    else
        "$SIM_BIN" sim --patients "$N" --duration "$S" --pace "$pace" --scenario "$WORK/scenario.json" \
            --serve-sse "127.0.0.1:$PORT" --linger 86400 --log-records $((N * 11 / 2 * HELD)) \
            >/dev/null 2>"$WORK/sim-$pace.err" &
        SIM=$!
        for _ in $(seq 100); do grep -q 'sim: serving' "$WORK/sim-$pace.err" && break; sleep 0.1; done
        local url
        url=$(sed -n 's/^sim: serving //p' "$WORK/sim-$pace.err" | head -1)
        [[ -n $url ]] || { echo "the simulator did not start:"; cat "$WORK/sim-$pace.err"; exit 1; }
        ctl sources add sse sim "$url" >/dev/null
    fi
    local start end last=-1 still=0 valid="" got serve_cpu sim_cpu serve_hwm serve_written peer_cpu=0
    local rss_trace="" next_minute=0 now next_ack=0 acked=0 id lost_at=""
    # The desktop's own cost: the notification daemon and the X server.
    local dunst xvfb dunst_cpu0=0 xvfb_cpu0=0
    dunst=$(pgrep -n -x dunst || true)
    xvfb=$(pgrep -n -x Xvfb || true)
    [[ -n $dunst ]] && dunst_cpu0=$(cpu_s "$dunst")
    [[ -n $xvfb ]] && xvfb_cpu0=$(cpu_s "$xvfb")
    start=$(date +%s.%N)
    # Warnings, and the writer's rollup journal merges (a line for each part).
    WARDWATCH_LOG=warn,wardwatch_runtime::pipeline=debug "$BIN" --data-dir "$DATA" --user bench serve \
        >"$WORK/serve.out" 2>"$WORK/serve.err" &
    SERVE=$!
    # Until every valid record the simulator emitted is accounted for.
    while :; do
        kill -0 "$SERVE" 2>/dev/null || { echo "serve stopped:"; tail -20 "$WORK/serve.err"; exit 1; }
        if [[ $TRANSPORT == sse ]]; then
            valid=$(sed -n 's/^sim: emitted [0-9]* records (\([0-9]*\) valid).*/\1/p' "$WORK/sim-$pace.err")
        elif [[ -z $valid ]] && ! kill -0 "$SIM" 2>/dev/null; then
            wait "$SIM" || { echo "the simulator failed:"; tail -20 "$WORK/sim-$pace.err"; exit 1; }
            valid=$(python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print(r["numeric"] + r["ecg"] + r["pulse"])' "$WORK/sim-$pace.json")
            sim_cpu=$(sed -n 's/^sim: CPU //p' "$WORK/sim-$pace.err")
            SIM=
        fi
        got=$(taken)
        [[ -n $valid ]] && ((got >= valid)) && break
        if ((got == last)); then
            still=$((still + 1))
            ((still < 240)) || {
                echo "no progress for 2 min at $got records taken (serve's RSS MB by minute: $rss_trace); serve's log:"
                grep -v 'rollup journal merged' "$WORK/serve.err" | tail -20
                echo "the simulator's:"
                tail -5 "$WORK/sim-$pace.err"
                exit 1
            }
        else
            still=0
        fi
        last=$got
        # Serve's resident memory once a minute (VmRSS, MB).
        now=$(date +%s)
        if ((now >= ${start%.*} + next_minute * 60)); then
            rss_trace+="$(awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$SERVE/status") "
            next_minute=$((next_minute + 1))
        fi
        if [[ -n $LOSE && -z $lost_at ]] && ((now >= ${start%.*} + LOSE)); then
            lost_at=$((now - ${start%.*}))
            kill -STOP "$SERVE"
            sleep 30
            kill -CONT "$SERVE"
        fi
        if [[ -n ${WARDWATCH_SCALE_ACK_AFTER:-} ]] && ((now >= next_ack)); then
            for id in $(ack_due "$WORK/seen-$pace.json"); do
                ctl alarms ack "$id" --note "bench: acknowledged" >/dev/null && acked=$((acked + 1))
            done
            next_ack=$((now + 2))
        fi
        sleep 0.5
    done
    end=$(date +%s.%N)
    serve_cpu=$(cpu_s "$SERVE")
    [[ $TRANSPORT == sse ]] && sim_cpu=$(cpu_s "$SIM")
    [[ $TRANSPORT == kinesis ]] && peer_cpu=$(awk -v a="$peer_cpu0" -v b="$(cpu_s "$WARDWATCH_KINESALITE_PID")" 'BEGIN {printf "%.2f", b - a}')
    serve_hwm=$(hwm_mb "$SERVE")
    # Bytes serve wrote so far: the WAL, the checkpoints into the database,
    # the lake folder (wchar: what it asked to write, cached or not).
    serve_written=$(awk '/^wchar:/ {print $2}' "/proc/$SERVE/io")
    # Every alarm's notification delivered (up to 2 min), then the runtime
    # stops and prints its delivery counts and latencies.
    local alarms notified
    for _ in $(seq 240); do
        read -r alarms notified < <(ctl alarms list --json --limit 100000 2>/dev/null |
            python3 -c 'import json,sys; a = json.load(sys.stdin); print(len(a), sum(x["notify_count"] > 0 for x in a))')
        ((notified >= alarms)) && break
        sleep 0.5
    done
    local desktop_cpu=""
    [[ -n $dunst ]] && desktop_cpu="dunst $(awk -v a="$dunst_cpu0" -v b="$(cpu_s "$dunst")" 'BEGIN {printf "%.1f", b - a}')"
    [[ -n $xvfb ]] && desktop_cpu+=", Xvfb $(awk -v a="$xvfb_cpu0" -v b="$(cpu_s "$xvfb")" 'BEGIN {printf "%.1f", b - a}')"
    kill -INT "$SERVE"
    wait "$SERVE" || true
    SERVE=
    ctl alarms list --json --limit 100000 >"$WORK/alarms-$pace.json" 2>/dev/null || echo "[]" >"$WORK/alarms-$pace.json"
    if [[ -n $SIM ]]; then
        kill -INT "$SIM" 2>/dev/null || true
        wait "$SIM" 2>/dev/null || true
        SIM=
    fi
    python3 - "$pace" "$N" "$S" "$start" "$end" "$serve_cpu" "$sim_cpu" "$serve_hwm" "$before_db" \
        "$(db_bytes)" "$before_lake" "$(lake_bytes)" "$valid" "$alarms" "$notified" \
        "$(grep '^stopped:' "$WORK/serve.out" || true)" \
        "$(grep '^latency parts' "$WORK/serve.out" || true)" "$TRANSPORT" "$peer_cpu" "$rss_trace" \
        "$serve_written" "$WORK/serve.err" "$filled" "$acked" \
        "$(stat -c %s "$DATA/wardwatch.db-wal" 2>/dev/null || echo 0)" \
        "$before_space" "$(ctl store space --json)" "$desktop_cpu" "$WORK/alarms-$pace.json" \
        "$lost_at" "$(ctl ingest status --json 2>/dev/null || echo '{}')" <<'EOF'
import json, re, sys
pace, n, s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
transport, peer_cpu = sys.argv[18], float(sys.argv[19])
rss_trace = sys.argv[20].split()
written = int(sys.argv[21] or 0)
start, end, serve_cpu, sim_cpu = map(float, sys.argv[4:8])
hwm = sys.argv[8]
db0, db1, lake0, lake1 = map(int, sys.argv[9:13])
valid, alarms, notified, stopped = sys.argv[13:17]
wall = end - start
patient_days = n * s / 86400
row = lambda k, v: print(f"{k:<44} {v:>14}")
row("transport", transport if transport == "sse" else "kinesis (kinesalite, 4 shards)")
row("pace of the simulator", pace)
row("patients × simulated seconds", f"{n} × {s}")
if sys.argv[23]:
    row("store at the start, GB (raw readings)", f"{db0 / 1e9:.2f} ({sys.argv[23]})")
row("records taken (valid, every one accounted)", valid)
row("wall seconds (serve start to the last record)", f"{wall:.1f}")
row("× real time (live = 1; > 1 is headroom)", f"{s / wall:.2f}")
row("serve CPU seconds", f"{serve_cpu:.1f}")
row("serve CPU s per 1,000 patient-minutes", f"{serve_cpu / (n * s / 60 / 1000):.1f}")
row("simulator CPU seconds (beside it)", f"{sim_cpu:.1f}")
if transport == "kinesis":
    row("kinesalite CPU seconds (beside it)", f"{peer_cpu:.1f}")
row("serve peak RSS, MB (VmHWM)", hwm)
row("serve bytes written, GB (WAL, db, lake)", f"{written / 1e9:.2f}")
row("  per 1,000 patient-minutes, MB", f"{written / 1e6 / (n * s / 60 / 1000):.0f}")
merges = [tuple(map(int, m)) for m in re.findall(
    r"rollup journal merged\S* part=\d+ rows=(\d+) hours=(\d+) ms=(\d+)",
    re.sub(r"\x1b\[[0-9;]*m", "", open(sys.argv[22], errors="replace").read()))]
merges = [m for m in merges if m[0] > 0]
if merges:
    ms = sorted(m[2] for m in merges)
    row("rollup journal part merges (hours each, max)", f"{len(merges)} ({max(m[1] for m in merges)})")
    row("  merge ms, p50/max (the write lock held)", f"{ms[len(ms) // 2]}/{ms[-1]}")
if len(rss_trace) > 2:
    print("serve RSS MB, minute by minute from its start:", " ".join(rss_trace))
row("store growth MB per patient-day (db + WAL)", f"{(db1 - db0) / 1e6 / patient_days:.1f}")
# Where the database file grew (`store space`, dbstat): each table's pages
# with its indexes, and the free pages (the sealed spool's, reused).
space0, space1 = (json.loads(a) for a in sys.argv[26:28])
grown = {t["table"]: t["bytes"] for t in space1["tables"]}
for t in space0["tables"]:
    grown[t["table"]] = grown.get(t["table"], 0) - t["bytes"]
grown["(free pages)"] = space1["free_bytes"] - space0["free_bytes"]
total = space1["file_bytes"] - space0["file_bytes"]
# The lake's outbox as serve left it: lines spooled and objects sealed,
# not yet synced (their tables' pages).
outbox = grown.get("lake_spool", 0) + grown.get("lake_objects", 0)
row("  of which the lake outbox (not yet synced)", f"{outbox / 1e6 / patient_days:.1f}")
# The WAL as serve left it: a size the checkpoints reuse, not growth.
wal = int(sys.argv[25])
row("  of which the WAL (left at exit, MB)", f"{wal / 1e6 / patient_days:.1f} ({wal / 1e6:.0f})")
row("  the database file's growth, by table", f"{total / 1e6 / patient_days:.1f}")
for table, b in sorted(grown.items(), key=lambda kv: -kv[1]):
    if abs(b) >= 0.01 * max(total, 1):
        row(f"    {table}", f"{b / 1e6 / patient_days:.2f}")
row("lake folder MB per patient-day", f"{(lake1 - lake0) / 1e6 / patient_days:.1f}")
row("alarms in the store", alarms)
# The alarms by kind (a technical one's key without its source), most first.
kinds = {}
for a in json.load(open(sys.argv[29])):
    k = a["key"].split(":")
    k = ":".join(k[:2]) if k[0] == "tech" else k[0]
    kinds[k] = kinds.get(k, 0) + 1
print("alarms by kind:", ", ".join(f"{k} {c}" for k, c in sorted(kinds.items(), key=lambda kv: -kv[1])[:10]))
if sys.argv[30]:
    st = json.loads(sys.argv[31])
    lost = sum(s.get("lost", 0) for s in (st if isinstance(st, list) else []))
    row("serve stopped 30 s at (s into the run)", sys.argv[30])
    row("  records the source lost meanwhile", lost)
if sys.argv[28]:
    row("desktop CPU s (notification daemon, X)", sys.argv[28])
row("of them notified on the desktop (the rest: in the app's list only)", notified)
if "WARDWATCH_SCALE_ACK_AFTER" in __import__("os").environ:
    row("  acknowledged by the bench while it ran", sys.argv[24])
m = re.search(r"(\d+) notifications \((\d+) failed\), latency from sample arrival p50 (\S+)(?: ms)? p99 (\S+)", stopped)
if m:
    row("notifications delivered on D-Bus (failed)", f"{m.group(1)} ({m.group(2)})")
    out = open(sys.argv[22].replace("serve.err", "serve.out"), errors="replace").read()
    r = re.search(r"did not take: (\d+) tried again, (\d+) given up.*?, (\d+) not tried again", out)
    if r:
        row("  failed notices tried again (given up; closed meanwhile)", f"{r.group(1)} ({r.group(2)}; {r.group(3)})")
    r = re.search(r"notifications taken down as their alarms were acknowledged or resolved: (\d+)", out)
    if r:
        row("  taken down (alarm acknowledged or resolved)", r.group(1))
    r = re.search(r"shown in the summary notification.*: (\d+)(?:, in (\d+) updates)?", out)
    if r:
        row("  shown in the summary (8 on screen already; its updates)", f"{r.group(1)} ({r.group(2) or '?'})")
    row("alarm latency p50, ms", m.group(3))
    row("alarm latency p99, ms", m.group(4))
    parts = re.findall(r"(to the writer|store|stage queue|scoring|alarm engine|notifier queue|desktop call) (\d+)/(\d+)", sys.argv[17])
    for name, p50, p99 in parts:
        row(f"  of which {name}, p50/p99 ms", f"{p50}/{p99}")
else:
    print("serve printed no delivery figures:", stopped or "(nothing)")
EOF
    # A notification that failed or an alarm never notified: serve's own
    # words on it (its log goes with $WORK), so a run says why.
    grep -m 5 -E 'notification not delivered|tech:notifications' "$WORK/serve.err" | sed 's/^/  serve: /' || true
}

# A desaturation on up to 120 beds, 45 s each (SpO2 follows with a 15-s lag,
# so each crosses the limit and outlasts its delay), spread over the span.
python3 - "$N" "$S" >"$WORK/scenario.json" <<'EOF'
import json, sys
n, s = int(sys.argv[1]), int(sys.argv[2])
beds = min(n, 120)
span = max(s - 55, 1)
episodes = [
    {"bed": (k * n) // beds, "kind": "desaturation", "start_s": 5 + (k * span) // beds, "duration_s": 45}
    for k in range(beds)
]
json.dump({"episodes": episodes}, sys.stdout)
EOF

if ((S > 240)); then
    echo "== soak: end to end, live, $N patients for $S s"
    e2e realtime
    exit 0
fi

# WARDWATCH_SCALE_NO_BASELINE=1 leaves the baseline out: for comparing two
# builds (WARDWATCH_SCALE_BIN) run after run, where it is the same each time.
if [[ -z ${WARDWATCH_SCALE_NO_BASELINE:-} ]]; then
    echo "== baseline: the in-process pipeline on the same load (encrypted store)"
    cargo bench -q -p wardwatch-runtime --bench pipeline -- throughput "$N" "$S" encrypted 2>/dev/null |
        grep -E '^(records|wall seconds|CPU seconds|× real time|cores busy|peak added|store MB|  |dedup|lake outbox)' || true
    echo
fi
echo "== end to end, as fast as it is taken: simulator → $TRANSPORT → serve → store, scoring, alarms → D-Bus"
e2e fast
echo
echo "== end to end, live (the simulator at real time): the alarm latency"
e2e realtime
