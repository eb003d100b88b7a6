// Warnings before the window locks on its own, so nobody loses a half-typed
// chart entry or is surprised mid-round: the session's hard end (12 hours
// after login, `auth::SESSION_MAX`), announced from 10 minutes before, and
// the idle lock, announced from 30 seconds before (any key or click keeps
// the session). Pure: the caller passes the clock.

/// The hard end is announced this long before.
export const EXPIRY_WARNING_MS = 10 * 60 * 1000;
/// The idle lock is announced this long before.
export const IDLE_WARNING_MS = 30 * 1000;

export interface SessionNotice {
  kind: "expiry" | "idle";
  text: string;
}

const minutes = (ms: number) => Math.max(1, Math.ceil(ms / 60000));

/// What to say at `nowMs`, if anything: the idle lock when it comes first
/// and is near, else the hard end when it is near.
export function sessionNotice(nowMs: number, expiresMs: number | null, idleLockMs: number | null): SessionNotice | null {
  const idleLeft = idleLockMs === null ? Infinity : idleLockMs - nowMs;
  const hardLeft = expiresMs === null ? Infinity : expiresMs - nowMs;
  if (idleLeft <= IDLE_WARNING_MS && idleLeft <= hardLeft) {
    const s = Math.max(0, Math.ceil(idleLeft / 1000));
    return { kind: "idle", text: `Locking in ${s} s for inactivity: press a key or click to stay logged in.` };
  }
  if (hardLeft <= EXPIRY_WARNING_MS) {
    const m = minutes(hardLeft);
    return { kind: "expiry", text: `Your session ends in ${m} min (12 hours after login): finish what you are entering, then log in again.` };
  }
  return null;
}
