// A patient's history: any window of the past years, from a year down to
// seconds. The backend decimates to the chart's width (min/max/mean per
// pixel column: minute rollups when zoomed out, full-rate samples when
// zoomed in), so a year opens as fast as an hour. Charts are uPlot, one
// panel per vital with its min–max band, cursors and zoom in sync.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { api, asUiError } from "./api";
import { el } from "./dom";
import { dateTimeText, numberText, spanText } from "./format";
import type { History, HistorySeries, UiError, VitalKey } from "./types";

const DAY = 86400000;
export const RANGES: [string, number][] = [
  ["1 y", 365 * DAY],
  ["3 mo", 91 * DAY],
  ["1 mo", 30 * DAY],
  ["1 w", 7 * DAY],
  ["1 d", DAY],
  ["6 h", DAY / 4],
  ["1 h", DAY / 24],
  ["10 min", 600000],
];

interface Panel {
  title: string;
  vitals: VitalKey[];
  colours: string[];
  unit: string;
}

const PANELS: Panel[] = [
  { title: "Heart rate", vitals: ["heart_rate"], colours: ["--c-hr"], unit: "/min" },
  { title: "SpO2", vitals: ["spo2"], colours: ["--c-spo2"], unit: "%" },
  { title: "Respiration", vitals: ["resp_rate"], colours: ["--c-rr"], unit: "/min" },
  { title: "Blood pressure", vitals: ["systolic_bp", "diastolic_bp"], colours: ["--c-bp", "--c-bp2"], unit: "mmHg" },
  { title: "Temperature", vitals: ["temperature_c"], colours: ["--c-temp"], unit: "°C" },
];

const RESOLUTION_TEXT: Record<History["resolution"], string> = {
  samples: "full-rate samples",
  minutes: "minute summaries",
  lake: "full-rate samples from the lake",
};

/// Timings of the history opens (request to first painted chart, ms), for
/// the benchmark the end-to-end suite runs.
export const timings: number[] = [];

export class HistoryView {
  readonly root: HTMLElement;
  private readonly mrn: string;
  private readonly onError: (e: UiError) => void;
  private charts: uPlot[] = [];
  private from = 0;
  private to = 0;
  private seq = 0;
  private last: History | null = null;
  private readonly body: HTMLElement;
  private readonly status: HTMLElement;
  private readonly table: HTMLElement;
  private readonly lake: HTMLButtonElement;
  private readonly sync = uPlot.sync("history");
  private zoomTimer: number | null = null;
  /// The panels the charts show now (see `draw`).
  private layout = "";

  constructor(mrn: string, onError: (e: UiError) => void) {
    this.mrn = mrn;
    this.onError = onError;
    this.status = el("span", { class: "history-status", id: "history-status", "aria-live": "polite" });
    this.body = el("div", { class: "history-charts", id: "history-charts" });
    this.table = el("div", { class: "history-table", id: "history-table", hidden: "" });
    // Shown when a window of 3 h or less has only minute summaries: its
    // samples have left the store (kept 24 h by default); the lake has them.
    this.lake = el("button", { type: "button", id: "history-lake", hidden: "", onclick: () => void this.show(this.from, this.to, "lake") }, "Full rate from the lake");
    const buttons = RANGES.map(([label, span]) =>
      el("button", { type: "button", "data-range": label, onclick: () => void this.show(Date.now() - span, Date.now()) }, label),
    );
    this.root = el(
      "section",
      { class: "history", id: "history", "aria-label": "History" },
      el(
        "div",
        { class: "history-bar" },
        el("div", { class: "ranges", role: "group", "aria-label": "Window" }, buttons),
        el("button", { type: "button", title: "Earlier", "aria-label": "Earlier", onclick: () => void this.pan(-0.5) }, "◀"),
        el("button", { type: "button", title: "Later", "aria-label": "Later", onclick: () => void this.pan(0.5) }, "▶"),
        el("button", { type: "button", id: "history-zoom-out", onclick: () => void this.zoomOut() }, "Zoom out"),
        el("button", { type: "button", id: "history-table-toggle", onclick: () => this.toggleTable() }, "Table"),
        el("button", { type: "button", id: "history-export", onclick: () => void this.export() }, "Export CSV"),
        this.lake,
        this.status,
      ),
      this.body,
      this.table,
    );
  }

  /// Loads and draws `[from, to)`.
  async show(from: number, to: number, source: "store" | "lake" = "store"): Promise<void> {
    const seq = ++this.seq;
    const t0 = performance.now();
    this.status.textContent = source === "lake" ? "reading the lake…" : "loading…";
    let h: History;
    try {
      const args = [this.mrn, Math.round(from), Math.round(to), this.columns()] as const;
      h = source === "lake" ? await api.lakeHistory(...args) : await api.history(...args);
    } catch (e) {
      this.status.textContent = "";
      this.onError(asUiError(e));
      return;
    }
    if (seq !== this.seq) return; // a newer request replaced this one
    this.from = from;
    this.to = to;
    this.last = h;
    this.draw(h);
    requestAnimationFrame(() => {
      const ms = performance.now() - t0;
      timings.push(ms);
      document.body.dataset.historyMs = ms.toFixed(1);
      document.body.dataset.historyOpens = String(timings.length);
      this.root.dataset.resolution = h.resolution;
      this.root.dataset.bins = String(h.t_ms.length);
      this.root.dataset.from = String(Math.round(from));
      this.root.dataset.to = String(Math.round(to));
      const readings = h.series.reduce((n, s) => n + s.readings, 0);
      this.status.textContent = `${spanText(to - from)} · ${RESOLUTION_TEXT[h.resolution]} · ${numberText(readings)} readings`;
      this.lake.hidden = !(h.resolution === "minutes" && to - from <= 3 * 3600000);
    });
    if (!this.table.hidden) this.renderTable();
  }

  destroy(): void {
    for (const c of this.charts) c.destroy();
    this.charts = [];
    this.layout = "";
  }

  private columns(): number {
    const w = this.body.clientWidth || 900;
    return Math.min(4096, Math.max(16, Math.round(w - 60)));
  }

  private async pan(fraction: number): Promise<void> {
    const span = this.to - this.from;
    const shift = span * fraction;
    const to = Math.min(Date.now(), this.to + shift);
    await this.show(to - span, to);
  }

  private async zoomOut(): Promise<void> {
    const span = Math.min(5 * 365 * DAY, (this.to - this.from) * 4);
    const mid = (this.from + this.to) / 2;
    const to = Math.min(Date.now(), mid + span / 2);
    await this.show(to - span, to);
  }

  private async export(): Promise<void> {
    try {
      const path = await api.exportHistory(this.mrn, Math.round(this.from), Math.round(this.to), this.columns());
      this.status.textContent = `saved ${path}`;
      this.status.dataset.exported = path;
    } catch (e) {
      this.onError(asUiError(e));
    }
  }

  private toggleTable(): void {
    this.table.hidden = !this.table.hidden;
    if (!this.table.hidden) this.renderTable();
  }

  private renderTable(): void {
    const h = this.last;
    if (!h) return;
    const cols: [string, HistorySeries | undefined][] = PANELS.flatMap((p) =>
      p.vitals.map((v): [string, HistorySeries | undefined] => [v, h.series.find((s) => s.vital === v)]),
    );
    const fmt = (s: HistorySeries | undefined, i: number) => {
      const m = s?.mean[i];
      if (m == null || !s) return "";
      const lo = s.min[i];
      const hi = s.max[i];
      return lo != null && hi != null && lo !== hi ? `${m} (${lo}–${hi})` : String(m);
    };
    const rows: HTMLElement[] = [];
    for (let i = h.t_ms.length - 1; i >= 0 && rows.length < 2000; i--) {
      if (!cols.some(([, s]) => s?.mean[i] != null)) continue;
      rows.push(
        el(
          "tr",
          {},
          el("td", {}, dateTimeText(h.t_ms[i] ?? 0)),
          cols.map(([, s]) => el("td", { class: "num" }, fmt(s, i))),
          el("td", { class: "num" }, h.news2[i] == null ? "" : String(h.news2[i])),
          el("td", { class: "num" }, h.cardiac_risk[i] == null ? "" : String(Math.round(h.cardiac_risk[i] ?? 0))),
        ),
      );
    }
    this.table.replaceChildren(
      el(
        "table",
        {},
        el("thead", {}, el("tr", {}, el("th", {}, "Time"), cols.map(([v, s]) => el("th", {}, s ? `${s.label} ${s.unit}` : v)), el("th", {}, "NEWS2"), el("th", {}, "Risk"))),
        el("tbody", {}, rows),
      ),
    );
  }

  private draw(h: History): void {
    const css = getComputedStyle(document.documentElement);
    const colour = (name: string) => css.getPropertyValue(name).trim() || "#888";
    const width = Math.max(300, this.body.clientWidth);
    const x = h.t_ms.map((t) => (t + h.bin_ms / 2) / 1000);
    const panels: { panel: Panel; data: (number | null)[][]; series: uPlot.Series[]; bands: uPlot.Band[] }[] = [];
    for (const panel of PANELS) {
      const data: (number | null)[][] = [];
      const series: uPlot.Series[] = [{}];
      const bands: uPlot.Band[] = [];
      panel.vitals.forEach((v, k) => {
        const s = h.series.find((s) => s.vital === v);
        if (!s) return;
        const c = colour(panel.colours[k] ?? "--c-hr");
        const base = data.length + 1;
        data.push(s.mean, s.max, s.min);
        series.push(
          { label: `${s.label}`, stroke: c, width: 1.5, spanGaps: false, value: (_u, v) => (v == null ? "–" : `${v} ${s.unit}`) },
          { label: `${s.label} max`, stroke: c + "55", width: 0.5, spanGaps: false, show: true },
          { label: `${s.label} min`, stroke: c + "55", width: 0.5, spanGaps: false, show: true },
        );
        bands.push({ series: [base + 1, base + 2], fill: c + "33" });
      });
      panels.push({ panel, data, series, bands });
    }
    const stepped = uPlot.paths.stepped?.({ align: 1 });
    const news: uPlot.Series[] = [{}, { label: "NEWS2", stroke: colour("--c-news"), width: 1.5, ...(stepped ? { paths: stepped } : {}) }];
    const shown = panels.filter((p) => p.data.length > 0);
    // The same panels as shown (a zoom, a pan, another open of the same
    // window): new data into the existing charts, no DOM rebuilt.
    const layout = [
      ...shown.map((p) => `${p.panel.vitals.join("+")}:${p.series.length}`),
      h.news2.some((v) => v != null) ? "news2" : "",
      h.cardiac_risk.some((v) => v != null) ? "risk" : "",
    ].join("|");
    if (layout === this.layout && this.charts.length > 0) {
      const datasets = [
        ...shown.map((p) => [x, ...p.data]),
        ...(h.news2.some((v) => v != null) ? [[x, h.news2]] : []),
        ...(h.cardiac_risk.some((v) => v != null) ? [[x, h.cardiac_risk]] : []),
      ];
      this.charts.forEach((c, i) => c.setData((datasets[i] ?? [x]) as uPlot.AlignedData));
      return;
    }
    this.layout = layout;
    this.destroy();
    this.body.replaceChildren();
    if (shown.length === 0 && h.news2.every((v) => v == null) && h.cardiac_risk.every((v) => v == null)) {
      this.body.append(el("div", { class: "muted empty-history" }, `No data for ${this.mrn} in this window.`));
      return;
    }
    const axisColour = colour("--fg-muted");
    const gridColour = colour("--grid");
    const common = (title: string, height: number): uPlot.Options => ({
      title,
      width,
      height,
      cursor: { sync: { key: this.sync.key }, drag: { x: true, y: false, setScale: false } },
      scales: { x: { time: true } },
      axes: [
        { stroke: axisColour, grid: { stroke: gridColour, width: 1 }, ticks: { stroke: gridColour } },
        { stroke: axisColour, grid: { stroke: gridColour, width: 1 }, ticks: { stroke: gridColour }, size: 50 },
      ],
      legend: { show: true, live: true },
      hooks: {
        setSelect: [(u) => this.zoomTo(u)],
      },
      series: [],
    });
    for (const p of shown) {
      const opts = { ...common(`${p.panel.title} (${p.panel.unit})`, 130), series: p.series, bands: p.bands };
      const chart = new uPlot(opts, [x, ...p.data] as uPlot.AlignedData, this.body);
      chart.root.dataset.panel = p.panel.vitals[0] ?? "";
      this.sync.sub(chart);
      this.charts.push(chart);
    }
    if (h.news2.some((v) => v != null)) {
      const chart = new uPlot({ ...common("NEWS2 (highest)", 100), series: news }, [x, h.news2] as uPlot.AlignedData, this.body);
      chart.root.dataset.panel = "news2";
      this.sync.sub(chart);
      this.charts.push(chart);
    }
    if (h.cardiac_risk.some((v) => v != null)) {
      const risk: uPlot.Series[] = [{}, { label: "Cardiac risk", stroke: colour("--c-bp"), width: 1.5, ...(stepped ? { paths: stepped } : {}) }];
      const chart = new uPlot({ ...common("Cardiac risk (0–100, highest)", 100), series: risk }, [x, h.cardiac_risk] as uPlot.AlignedData, this.body);
      chart.root.dataset.panel = "cardiac_risk";
      this.sync.sub(chart);
      this.charts.push(chart);
    }
  }

  /// A drag over a chart zooms every chart to that span, with data of the
  /// finer resolution the backend then chooses.
  private zoomTo(u: uPlot): void {
    if (u.select.width < 4) return;
    const min = u.posToVal(u.select.left, "x") * 1000;
    const max = u.posToVal(u.select.left + u.select.width, "x") * 1000;
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    if (this.zoomTimer !== null) window.clearTimeout(this.zoomTimer);
    // Seconds are the finest the store holds.
    const to = Math.max(max, min + 10000);
    this.zoomTimer = window.setTimeout(() => void this.show(min, to), 0);
  }
}
