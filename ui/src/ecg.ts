// The live ECG: a monitor's sweep at 25 mm/s and 10 mm/mV on a millimetre
// grid, drawn at the screen's device pixel ratio (sharp on HiDPI screens),
// every sample at the source rate (250 Hz: 1,500 samples on a 6 s sweep).
// The newest stored seconds are drawn `DELAY_S` behind real time, so the
// sweep runs smoothly while data arrives in blocks.
import { MM_PER_MV, MM_PER_S, PX_PER_MM, pulseLabel, pulseRange, sweepX } from "./format";
import type { EcgStrip } from "./types";

const DELAY_S = 2.5;
/// Blank space ahead of the cursor (the erase bar), CSS px.
const ERASE_PX = 12;

export class EcgSweep {
  private strip: EcgStrip | null = null;
  private startS = 0;
  private frame: number | null = null;
  private readonly canvas: HTMLCanvasElement;
  /// The pulse wave's strip under the ECG, on the same sweep (hidden when
  /// the patient has none streamed).
  private readonly pulseCanvas: HTMLCanvasElement | null;
  /// The millimetre grid, drawn once per size and theme and copied into
  /// each frame (the grid is most of the strokes).
  private grid: { key: string; canvas: HTMLCanvasElement } | null = null;

  constructor(canvas: HTMLCanvasElement, pulseCanvas: HTMLCanvasElement | null = null) {
    this.canvas = canvas;
    this.pulseCanvas = pulseCanvas;
  }

  update(strip: EcgStrip): void {
    this.strip = strip;
    this.startS = strip.start ? Date.parse(strip.start) / 1000 : 0;
    this.canvas.dataset.samples = String(strip.samples_mv.length);
    this.canvas.dataset.fs = String(strip.fs_hz);
    if (this.pulseCanvas) {
      const p = strip.pulse;
      this.pulseCanvas.hidden = !p;
      this.pulseCanvas.dataset.samples = String(p?.samples.length ?? 0);
      this.pulseCanvas.setAttribute("aria-label", p ? `${pulseLabel(p)}, live sweep` : "no pulse wave");
    }
    if (this.frame === null) this.frame = requestAnimationFrame(() => this.draw());
  }

  stop(): void {
    if (this.frame !== null) cancelAnimationFrame(this.frame);
    this.frame = null;
  }

  private draw(): void {
    this.frame = null;
    if (!this.canvas.isConnected) return;
    const dpr = window.devicePixelRatio || 1;
    const w = this.canvas.clientWidth;
    const h = this.canvas.clientHeight;
    if (this.canvas.width !== Math.round(w * dpr) || this.canvas.height !== Math.round(h * dpr)) {
      this.canvas.width = Math.round(w * dpr);
      this.canvas.height = Math.round(h * dpr);
    }
    const g = this.canvas.getContext("2d");
    if (!g) return;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    const css = getComputedStyle(this.canvas);
    const key = `${w}x${h}@${dpr}:${document.documentElement.dataset.theme ?? ""}`;
    if (this.grid?.key !== key) this.grid = { key, canvas: this.paper(w, h, dpr, css) };
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.drawImage(this.grid.canvas, 0, 0);
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    const strip = this.strip;
    if (!strip || strip.fs_hz <= 0 || strip.samples_mv.length < 2) {
      g.fillStyle = css.getPropertyValue("--ecg-trace") || "#46d37a";
      g.font = "14px sans-serif";
      g.fillText(strip ? "No ECG received in the last seconds" : "Loading ECG…", 12, 22);
    } else {
      const now = Date.now() / 1000 - DELAY_S;
      const span = w / (MM_PER_S * PX_PER_MM);
      const pxPerMv = MM_PER_MV * PX_PER_MM;
      const cursor = sweepX(now, w);
      g.strokeStyle = css.getPropertyValue("--ecg-trace") || "#46d37a";
      g.lineWidth = 1.4;
      g.lineJoin = "round";
      g.beginPath();
      let pen = false;
      let lastX = -1;
      const xs = strip.samples_mv;
      for (let i = 0; i < xs.length; i++) {
        const t = this.startS + i / strip.fs_hz;
        const v = xs[i];
        if (t > now || t <= now - span + ERASE_PX / (MM_PER_S * PX_PER_MM) || v == null || Number.isNaN(v)) {
          pen = false;
          continue;
        }
        const x = sweepX(t, w);
        const y = h / 2 - v * pxPerMv;
        if (pen && x >= lastX) g.lineTo(x, y);
        else g.moveTo(x, y);
        pen = true;
        lastX = x;
      }
      g.stroke();
      g.fillStyle = css.getPropertyValue("--ecg-bg") || "#06140c";
      g.fillRect(cursor, 0, ERASE_PX, h);
    }
    this.drawPulse(css);
    this.frame = requestAnimationFrame(() => this.draw());
  }

  /// The pulse wave on the ECG's sweep (same time axis, same erase bar),
  /// scaled to its visible range: a pleth has no absolute unit.
  private drawPulse(css: CSSStyleDeclaration): void {
    const c = this.pulseCanvas;
    const p = this.strip?.pulse;
    if (!c || !p || c.hidden || !c.isConnected) return;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth;
    const h = c.clientHeight;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const g = c.getContext("2d");
    if (!g) return;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.fillStyle = css.getPropertyValue("--ecg-bg") || "#06140c";
    g.fillRect(0, 0, w, h);
    const colour = css.getPropertyValue("--pulse-trace") || "#5bc8f5";
    g.fillStyle = colour;
    g.font = "12px sans-serif";
    g.fillText(pulseLabel(p), 8, 14);
    if (p.fs_hz <= 0 || p.samples.length < 2) return;
    const now = Date.now() / 1000 - DELAY_S;
    const span = w / (MM_PER_S * PX_PER_MM);
    const start = p.start ? Date.parse(p.start) / 1000 : 0;
    const visible = (t: number) => t <= now && t > now - span + ERASE_PX / (MM_PER_S * PX_PER_MM);
    const range = pulseRange(p.samples, (i) => visible(start + i / p.fs_hz));
    if (!range) return;
    const [lo, hi] = range;
    const y = (v: number) => h - 4 - ((v - lo) / Math.max(hi - lo, 1e-9)) * (h - 22);
    g.strokeStyle = colour;
    g.lineWidth = 1.4;
    g.lineJoin = "round";
    g.beginPath();
    let pen = false;
    let lastX = -1;
    for (let i = 0; i < p.samples.length; i++) {
      const t = start + i / p.fs_hz;
      const v = p.samples[i];
      if (!visible(t) || v == null || Number.isNaN(v)) {
        pen = false;
        continue;
      }
      const x = sweepX(t, w);
      if (pen && x >= lastX) g.lineTo(x, y(v));
      else g.moveTo(x, y(v));
      pen = true;
      lastX = x;
    }
    g.stroke();
    g.fillStyle = css.getPropertyValue("--ecg-bg") || "#06140c";
    g.fillRect(sweepX(now, w), 0, ERASE_PX, h);
  }

  /// Resumes the sweep after `stop` (the history view closed).
  resume(): void {
    if (this.frame === null) this.frame = requestAnimationFrame(() => this.draw());
  }

  private paper(w: number, h: number, dpr: number, css: CSSStyleDeclaration): HTMLCanvasElement {
    const c = document.createElement("canvas");
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
    const g = c.getContext("2d");
    if (!g) return c;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.fillStyle = css.getPropertyValue("--ecg-bg") || "#06140c";
    g.fillRect(0, 0, w, h);
    this.lines(g, w, h, css);
    return c;
  }

  private lines(g: CanvasRenderingContext2D, w: number, h: number, css: CSSStyleDeclaration): void {
    const minor = css.getPropertyValue("--ecg-grid-minor") || "#0f2a1b";
    const major = css.getPropertyValue("--ecg-grid-major") || "#1d4a31";
    for (const [step, colour] of [
      [PX_PER_MM, minor],
      [5 * PX_PER_MM, major],
    ] as const) {
      g.strokeStyle = colour;
      g.lineWidth = 1;
      g.beginPath();
      for (let x = 0; x <= w; x += step) {
        const px = Math.round(x) + 0.5;
        g.moveTo(px, 0);
        g.lineTo(px, h);
      }
      for (let y = h / 2 % step; y <= h; y += step) {
        const py = Math.round(y) + 0.5;
        g.moveTo(0, py);
        g.lineTo(w, py);
      }
      g.stroke();
    }
  }
}
