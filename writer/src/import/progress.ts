/**
 * Progress of a long import: on a terminal a bar rewritten in place with the rate and the time left;
 * otherwise (a CI log, a file) a plain line every few seconds.
 */

/** Something that receives progress. */
export interface ProgressReporter {
  update(done: number): void;
  /** A line of its own (an error about one row) that does not break the bar. */
  note(text: string): void;
  finish(done: number): void;
}

const BAR_WIDTH = 30;

/** `1:02:03` / `2:03`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--:--";
  const s = Math.round(seconds);
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

/** The progress text for `done` of `total` rows after `seconds`. */
export function progressText(done: number, total: number, seconds: number, bar: boolean): string {
  const fraction = total > 0 ? Math.min(1, done / total) : 1;
  const rate = done / Math.max(seconds, 1e-3);
  const eta = rate > 0 ? (total - done) / rate : Number.NaN;
  const filled = Math.round(fraction * BAR_WIDTH);
  const head = bar ? `[${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}] ` : "import ";
  return `${head}${(100 * fraction).toFixed(1)}% ${done}/${total} rows, ${Math.round(rate)} rows/s, ETA ${formatDuration(eta)}`;
}

/** A reporter writing to `output` (a bar when it is a terminal); `intervalMs` defaults to 0.2 s / 5 s. */
export function createProgress(
  output: NodeJS.WritableStream & { isTTY?: boolean },
  total: number,
  intervalMs?: number,
): ProgressReporter {
  const tty = output.isTTY === true;
  const every = intervalMs ?? (tty ? 200 : 5_000);
  const started = Date.now();
  let last = 0;
  const line = (done: number) => progressText(done, total, (Date.now() - started) / 1000, tty);
  return {
    update(done) {
      const now = Date.now();
      if (now - last < every) return;
      last = now;
      output.write(tty ? `\r\x1b[K${line(done)}` : `${line(done)}\n`);
    },
    note(text) {
      output.write(tty ? `\r\x1b[K${text}\n` : `${text}\n`);
    },
    finish(done) {
      output.write(tty ? `\r\x1b[K${line(done)}\n` : `${line(done)}\n`);
    },
  };
}
