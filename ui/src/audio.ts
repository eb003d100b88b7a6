// Audible alarms after IEC 60601-1-8 (general requirements for alarm
// systems in medical electrical equipment), Table 3/4: a burst of pulses per
// priority — high: 10 pulses (3 + 2, twice), repeated at most every 15 s;
// medium: 3 pulses, repeated every 2.5–30 s; low: 1–2 pulses, repeated at
// least 15 s apart — pulse durations of 75–250 ms, a fundamental of
// 150–1,000 Hz with at least four harmonics. Technical alarms get a
// pattern of their own so that staff tell "the monitor" from "the patient".
// Audio paused by the user ends after `PAUSE_MS`, or at once when a new
// high-priority alarm arrives; the volume never drops below `MIN_GAIN`.
import type { Priority } from "./types";

export interface Pulse {
  /// Onset within the burst, ms.
  at: number;
  /// Duration, ms.
  ms: number;
  hz: number;
}

export interface Pattern {
  pulses: Pulse[];
  /// From one burst's start to the next's.
  repeatMs: number;
}

const pulse = (at: number, ms: number, hz: number): Pulse => ({ at, ms, hz });

export const PATTERNS: Record<Priority, Pattern> = {
  // td 150 ms, pulse spacing 100 ms, 3 + 2 pulses, 0.9 s between the halves.
  high: {
    pulses: [0, 250, 500, 1000, 1250, 2300, 2550, 2800, 3300, 3550].map((t) => pulse(t, 150, 659)),
    repeatMs: 10000,
  },
  // td 200 ms, spacing 200 ms, 3 pulses.
  medium: { pulses: [0, 400, 800].map((t) => pulse(t, 200, 523)), repeatMs: 7000 },
  // td 200 ms, 2 pulses, falling.
  low: { pulses: [pulse(0, 200, 523), pulse(400, 200, 440)], repeatMs: 30000 },
  // Technical: 2 long low pulses, rising.
  technical: { pulses: [pulse(0, 250, 330), pulse(450, 250, 392)], repeatMs: 20000 },
};

export const PAUSE_MS = 120000;
export const MIN_GAIN = 0.35;

/// The harmonic content of every pulse: fundamental plus 4 harmonics
/// falling off as 1/n (IEC 60601-1-8 asks for at least four in 300–4,000 Hz).
export const HARMONICS = [1, 1 / 2, 1 / 3, 1 / 4, 1 / 5];

/// `blocked`: the webview holds the audio back until someone touches the
/// window (an autoplay policy); said in the header until then.
export type SoundState = "silent" | Priority | "paused" | "unavailable" | "blocked";

export class AlarmSound {
  private ctx: AudioContext | null = null;
  private wave: PeriodicWave | null = null;
  private priority: Priority | null = null;
  private timer: number | null = null;
  private pausedUntil = 0;
  private gain = 0.8;
  /// Pulses scheduled and not yet over: silenced at once by a pause, an
  /// acknowledgement or another priority.
  private playing: OscillatorNode[] = [];
  private readonly onChange: (state: SoundState, pausedLeftMs: number) => void;

  constructor(onChange: (state: SoundState, pausedLeftMs: number) => void) {
    this.onChange = onChange;
  }

  /// Starts the audio context (after a user gesture where the webview asks
  /// for one); a webview without audio says so, loudly, in the header.
  start(): boolean {
    if (this.ctx) {
      if (this.ctx.state === "suspended") void this.ctx.resume();
      return true;
    }
    try {
      this.ctx = new AudioContext();
      const real = new Float32Array([0, ...HARMONICS]);
      const imag = new Float32Array(real.length);
      this.wave = this.ctx.createPeriodicWave(real, imag);
      // Keep the output running between bursts: a sound server idles (and
      // drops the first pulses on waking) when nothing has played for a
      // while. A source far below hearing keeps the stream running (WebKit
      // stops rendering a context whose output is exactly silent).
      const keepAlive = this.ctx.createConstantSource();
      keepAlive.offset.value = 1e-4; // −80 dBFS: inaudible, but not digital silence
      keepAlive.connect(this.ctx.destination);
      keepAlive.start();
      if (this.ctx.state === "suspended") void this.ctx.resume();
      return true;
    } catch {
      this.ctx = null;
      this.report();
      return false;
    }
  }

  setVolume(v: number): void {
    this.gain = Math.min(1, Math.max(MIN_GAIN, v));
  }

  volume(): number {
    return this.gain;
  }

  /// What should sound now: the worst unacknowledged active alarm.
  set(priority: Priority | null): void {
    const was = this.priority;
    this.priority = priority;
    if (priority === "high" && was !== "high" && this.paused()) {
      this.pausedUntil = 0; // a new high-priority alarm ends the pause
    }
    if (priority !== was) this.restart();
    else this.report();
  }

  pause(): void {
    this.pausedUntil = Date.now() + PAUSE_MS;
    this.restart();
    window.setTimeout(() => this.restart(), PAUSE_MS + 50);
  }

  resume(): void {
    this.pausedUntil = 0;
    this.restart();
  }

  pausedLeftMs(): number {
    return Math.max(0, this.pausedUntil - Date.now());
  }

  paused(): boolean {
    return Date.now() < this.pausedUntil;
  }

  state(): SoundState {
    if (!this.ctx || this.ctx.state === "closed") return "unavailable";
    if (this.priority === null) return "silent";
    if (this.paused()) return "paused";
    if (this.ctx.state !== "running") return "blocked";
    return this.priority;
  }

  private report(): void {
    this.onChange(this.state(), this.pausedLeftMs());
  }

  private restart(): void {
    if (this.timer !== null) window.clearTimeout(this.timer);
    this.timer = null;
    for (const osc of this.playing) {
      try {
        osc.stop();
        osc.disconnect();
      } catch {
        // already ended
      }
    }
    this.playing = [];
    this.report();
    if (this.priority === null || this.paused() || !this.ctx) return;
    const burst = () => {
      if (this.priority === null || this.paused()) return;
      const pattern = PATTERNS[this.priority];
      this.play(pattern);
      this.timer = window.setTimeout(burst, pattern.repeatMs);
    };
    burst();
  }

  private play(pattern: Pattern): void {
    const ctx = this.ctx;
    if (!ctx || !this.wave) return;
    // A little ahead of now, so the first pulse is never cut short.
    const t0 = ctx.currentTime + 0.1;
    for (const p of pattern.pulses) {
      const osc = ctx.createOscillator();
      osc.setPeriodicWave(this.wave);
      osc.frequency.value = p.hz;
      const env = ctx.createGain();
      const on = t0 + p.at / 1000;
      const off = on + p.ms / 1000;
      // 10 ms ramps: no clicks, the pulse keeps its IEC duration.
      env.gain.setValueAtTime(0, on);
      env.gain.linearRampToValueAtTime(this.gain, on + 0.01);
      env.gain.setValueAtTime(this.gain, off - 0.01);
      env.gain.linearRampToValueAtTime(0, off);
      osc.connect(env).connect(ctx.destination);
      osc.start(on);
      osc.stop(off + 0.02);
      this.playing.push(osc);
      osc.onended = () => {
        this.playing = this.playing.filter((o) => o !== osc);
      };
    }
  }
}
