/**
 * The Home Assistant source's state file (`homeassistant.json` beside the spool): what it needs across
 * restarts of the writer, that is the registries and when it last heard from Home Assistant (where the
 * history backfill starts). Written to a temporary file and renamed, at most every two seconds.
 */
import { readFileSync } from "node:fs";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { z } from "zod";
import type { Logger } from "../logger";
import { type RegistryLists, RegistryListsSchema } from "./haRegistries";

/** The state file is rewritten at most this often. */
const STATE_SAVE_INTERVAL_MS = 2000;

const StateFileSchema = z.object({
  version: z.literal(1),
  lastHeardUs: z.number().optional(),
  registries: RegistryListsSchema.optional(),
});
type StateFileContent = z.infer<typeof StateFileSchema>;

/** What is kept. */
export interface SavedState {
  /** When the source last heard from Home Assistant while subscribed (µs). */
  lastHeardUs?: number | undefined;
  /** The registry lists, once they were read. */
  registries?: RegistryLists | undefined;
}

export interface StateFileOptions {
  /** The file; none: nothing is kept, and every method does nothing. */
  file: string | undefined;
  logger: Logger;
  /** What to save, read at the time of saving. */
  current: () => SavedState;
  /** Whether to save again soon after a save (while subscribed, the time last heard keeps moving). */
  keepSaving: () => boolean;
}

export class StateFile {
  private timer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly options: StateFileOptions) {}

  /** Reads the file; nothing when there is none or it is unreadable (with a warning). */
  load(): SavedState | undefined {
    const { file, logger } = this.options;
    if (file === undefined) return undefined;
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      return undefined;
    }
    const parsed = StateFileSchema.safeParse(safeJson(text));
    if (!parsed.success) {
      logger.warn(
        { file },
        "the Home Assistant state file is unreadable; starting without it (no backfill of the time before this start)",
      );
      return undefined;
    }
    return parsed.data;
  }

  /** Saves within the save interval, unless a save is already planned. */
  schedule(): void {
    if (this.options.file === undefined || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.save();
    }, STATE_SAVE_INTERVAL_MS);
    this.timer.unref();
  }

  /** Saves now, instead of the planned save (on stop). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    return this.save();
  }

  /** Saves one after the other, so two writes never race for the temporary file. */
  private save(): Promise<void> {
    this.saving = this.saving.then(() => this.write());
    return this.saving;
  }

  private async write(): Promise<void> {
    const { file, logger } = this.options;
    if (file === undefined) return;
    const current = this.options.current();
    const content: StateFileContent = { version: 1 };
    if (current.lastHeardUs !== undefined) content.lastHeardUs = current.lastHeardUs;
    if (current.registries !== undefined) content.registries = current.registries;
    try {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(`${file}.tmp`, JSON.stringify(content));
      await rename(`${file}.tmp`, file);
    } catch (error) {
      logger.warn({ err: error, file }, "could not save the Home Assistant state file");
    }
    if (this.options.keepSaving()) this.schedule();
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
