/** Shared helpers of the spool tests: numbered line protocol, reading everything a spool hands out, faulty files. */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import {
  Spool,
  type SpoolEntry,
  type SpoolFault,
  type SpoolFile,
  type SpoolFs,
  type SpoolOptions,
} from "../../src/spool";
import { nodeFs } from "../../src/spool/fs";
import { memoryLogger } from "./setup";

/** `count` lines `m v=<n> <n>\n`, numbered from `from`. */
export function lines(from: number, count: number): string {
  return Array.from({ length: count }, (_, i) => `m v=${from + i} ${from + i}\n`).join("");
}

/** Every record the spool hands out until none comes for 50 ms. */
export async function readAll(spool: Spool, maxBytes = 1024 * 1024): Promise<SpoolEntry[]> {
  const entries: SpoolEntry[] = [];
  for (;;) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 50);
    const batch = await spool.read(maxBytes, controller.signal);
    clearTimeout(timer);
    if (batch.length === 0) return entries;
    entries.push(...batch);
  }
}

/** The lines of each entry. */
export const delivered = (entries: SpoolEntry[]) => entries.map((entry) => entry.data.toString());

/** An error as Node's file system gives one, with its `code`. */
export const fsError = (message: string, code = "EIO") => Object.assign(new Error(message), { code });

/**
 * The real file system, with each opened file's operations replaced by what `wrap` returns for it
 * (the real file's operations are passed in, for wrappers that add to them).
 */
export function wrapFiles(wrap: (file: SpoolFile, path: string, flags: "a" | "r") => Partial<SpoolFile>): SpoolFs {
  return {
    ...nodeFs,
    open: async (path, flags) => {
      const handle = await nodeFs.open(path, flags);
      const file: SpoolFile = {
        write: (buffer, offset, length) => handle.write(buffer, offset, length),
        read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position),
        datasync: () => handle.datasync(),
        close: () => handle.close(),
      };
      return { ...file, ...wrap(file, path, flags) };
    },
  };
}

/** Opens spools on a test's directory (64 MiB bound unless told) and keeps what they report. */
export class SpoolWatch {
  readonly faults: SpoolFault[] = [];
  /** Each `onDrop` call's events. */
  readonly drops: number[] = [];
  readonly refusals: [number, string][] = [];
  /** Log lines of the spool opened last. */
  logLines: string[] = [];

  constructor(private readonly dir: () => string) {}

  /** Events dropped in all. */
  get dropped(): number {
    return this.drops.reduce((sum, events) => sum + events, 0);
  }

  /**
   * Appends one record (bucket "a") per entry of `counts`, lines numbered on from 0, through a spool
   * that is then closed. Returns the one segment file, its number and the offset after each record.
   */
  async written(counts: number[]): Promise<{ path: string; segment: number; ends: number[] }> {
    const spool = await this.open();
    const ends: number[] = [];
    let from = 0;
    for (const count of counts) {
      await spool.append([{ bucket: "a", lines: lines(from, count), count }]);
      ends.push(spool.stats().diskBytes);
      from += count;
    }
    await spool.close();
    const [name, ...more] = readdirSync(this.dir()).filter((file) => file.startsWith("segment-"));
    if (name === undefined || more.length > 0) throw new Error("expected one segment file");
    return { path: join(this.dir(), name), segment: Number(/(\d+)/.exec(name)![1]), ends };
  }

  open(extra: Partial<SpoolOptions> = {}): Promise<Spool> {
    const memory = memoryLogger();
    this.logLines = memory.lines;
    return Spool.open({
      dir: this.dir(),
      maxBytes: 64 * 1024 * 1024,
      logger: memory.logger,
      onFault: (fault) => this.faults.push(fault),
      onDrop: (events) => this.drops.push(events),
      onRefuse: (events, source) => this.refusals.push([events, source]),
      ...extra,
    });
  }
}
