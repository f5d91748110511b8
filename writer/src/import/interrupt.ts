/**
 * SIGINT and SIGTERM during an import. The first one stops it cleanly: no new batch is read, the
 * batches in flight become durable in the import spool and the checkpoint moves past them, InfluxDB
 * gets a few seconds for what is spooled, and the command exits 130 naming the checkpoint. A second one
 * exits 130 at once: the spool is crash-safe and the checkpoint never runs ahead of it, so a rerun
 * still continues correctly (it may read a batch again, which gives the same points).
 */

import type { StatePosition } from "./recorder";
import { IsoTimes } from "./rowEvents";

/** The signals an import stops on. */
export const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;
/** The exit code of an interrupted import. */
export const INTERRUPTED_EXIT_CODE = 130;

/** Signal handling for one import run. */
export interface Interrupt {
  /** Aborted on the first signal. */
  readonly signal: AbortSignal;
  /** The first signal received, if any. */
  received(): NodeJS.Signals | undefined;
  /** Removes the handlers (the default handling is back). */
  dispose(): void;
}

/** Installs the handlers; `checkpoint` is the checkpoint file the messages name. */
export function interruptOnSignals(output: NodeJS.WritableStream & { isTTY?: boolean }, checkpoint: string): Interrupt {
  const controller = new AbortController();
  let first: NodeJS.Signals | undefined;
  // On a terminal the progress bar holds the line: clear it first.
  const say = (text: string) => output.write(`${output.isTTY ? "\r\x1b[K" : ""}import: ${text}\n`);
  const onSignal = (signal: NodeJS.Signals) => {
    if (first !== undefined) {
      say(`${signal} again: exiting now; rerun the same command to continue after the checkpoint ${checkpoint}`);
      process.exit(INTERRUPTED_EXIT_CODE);
    }
    first = signal;
    say(`${signal} received: stopping after the batches in flight (${signal} again exits at once)`);
    controller.abort();
  };
  for (const name of STOP_SIGNALS) process.on(name, onSignal);
  return {
    signal: controller.signal,
    received: () => first,
    dispose: () => {
      for (const name of STOP_SIGNALS) process.off(name, onSignal);
    },
  };
}

/** Where an interrupted import stopped, for {@link interruptedText}. */
export interface InterruptedAt {
  signal: NodeJS.Signals;
  checkpoint: string;
  /** The phase the signal stopped. */
  phase: "states" | "statistics" | "delivery";
  rowsRead: number;
  rowsToRead: number;
  /** Where the checkpoint stands; absent when no batch was ever checkpointed. */
  position?: StatePosition;
  /** Points still in the import spool. */
  pendingPoints: number;
}

/** The one line saying that the import was interrupted, where its checkpoint is and how to go on. */
export function interruptedText(at: InterruptedAt): string {
  const where =
    at.phase === "states"
      ? `after ${at.rowsRead} of ${at.rowsToRead} rows`
      : at.phase === "statistics"
        ? "during the statistics, every state imported"
        : "while InfluxDB took the last points, every state imported";
  const checkpoint =
    at.phase !== "states"
      ? `checkpoint ${at.checkpoint} complete`
      : at.position === undefined
        ? `no checkpoint yet (${at.checkpoint}): a rerun starts from the beginning`
        : `checkpoint ${at.checkpoint} at state_id ${at.position.stateId} (last_updated ${new IsoTimes().format(at.position.lastUpdatedTs)})`;
  const spool = at.pendingPoints > 0 ? `; ${at.pendingPoints} points wait in the import spool` : "";
  const next =
    at.phase === "statistics"
      ? "rerun the same command to write the statistics (again: the same points)"
      : "rerun the same command to continue";
  return `interrupted by ${at.signal} ${where}; ${checkpoint}${spool}; ${next}\n`;
}
