/**
 * The order of things after a login, so that nothing older is written after something newer:
 * 1. subscribe to `state_changed` and to the three `*_registry_updated` events (live events are held
 *    back until step 4);
 * 2. read `get_config` (the time zone, unless one is configured), the area, device and entity
 *    registries (see `haRegistries.ts`) and `get_states`;
 * 3. when it was subscribed before (in this process or, through the state file, an earlier one), ask
 *    the recorder for every change since the source last heard from Home Assistant (`haHistory.ts`) and
 *    submit them in time order. It asks only after the recorder's commit interval has passed: a change
 *    made just before the subscription is neither a live event nor, until the recorder commits it, in
 *    the history (Home Assistant's own `history/stream` waits for the recorder in the same way);
 * 4. submit the snapshot of current states (weather entities first) and then the held-back live
 *    events, and from then on every event as it comes.
 * The pipeline treats a state it has already written as a repeat, so the overlap of the history, the
 * snapshot and live events writes each change once.
 */
import { z } from "zod";
import type { Logger } from "../logger";
import type { HaConnection } from "./haConnection";
import { type HaStateObject, historyEvents, historyRequest, weatherFirst } from "./haHistory";
import { REGISTRY_COMMANDS, type Registries, type RegistryKind } from "./haRegistries";
import type { Submitter } from "./haSubmitter";

/** The backfill starts this much before the source last heard from Home Assistant (clock skew, batching). */
const BACKFILL_OVERLAP_US = 2_000_000;
/** The backfill asks for the history in windows of this length. */
const BACKFILL_WINDOW_US = 3600 * 1_000_000;
/** Added to the recorder's commit interval before the history is read (the commit itself takes time). */
const RECORDER_COMMIT_MARGIN_MS = 1000;

const ConfigSchema = z.looseObject({ time_zone: z.string().optional() });
const StatesSchema = z.array(z.looseObject({ entity_id: z.string(), state: z.string() }));

export interface SessionOptions {
  /** Submit every current state after every (re)connect. */
  snapshot: boolean;
  /** Submitted on connect even without a snapshot. */
  weatherEntity?: string | undefined;
  /** Home Assistant's `recorder: commit_interval` in ms (default 5 s). */
  recorderCommitMs?: number | undefined;
  onTimeZone?: ((timeZone: string) => void) | undefined;
  logger: Logger;
  registries: Registries;
  submitter: Submitter;
  /** A registry list was reloaded after its update event (the state file keeps the lists). */
  registriesChanged: () => void;
}

/** What the source knows of Home Assistant across connections, and the steps of one connection. */
export class Session {
  /** When the source last heard from Home Assistant while subscribed (µs): the backfill starts there. */
  lastHeardUs: number | undefined;
  /** ISO time of the subscription on the current connection, once its subscriptions are confirmed. */
  subscribedSince: string | undefined;
  backfilledEvents = 0;
  /** Live events held back while the history and the snapshot are submitted. */
  private heldBack: object[] | undefined;

  constructor(private readonly options: SessionOptions) {}

  /**
   * Steps 1–4 on a connection that has just logged in. Resolves true when every step is done, false
   * when the connection ended meanwhile; rejects when a command failed.
   */
  async synchronize(connection: HaConnection): Promise<boolean> {
    const { options } = this;
    this.heldBack = [];
    const subscribed = connection.subscribe("state_changed", "state");
    const registryEvents = (Object.keys(REGISTRY_COMMANDS) as RegistryKind[]).map((kind) =>
      connection.subscribe(REGISTRY_COMMANDS[kind].updated, kind),
    );
    const config = connection.request({ type: "get_config" });
    const lists = (Object.keys(REGISTRY_COMMANDS) as RegistryKind[]).map(
      async (kind) => [kind, await connection.request({ type: REGISTRY_COMMANDS[kind].list })] as const,
    );
    const states = connection.request({ type: "get_states" });
    await subscribed;
    await Promise.all(registryEvents);
    const backfillFromUs = this.lastHeardUs;
    const subscribedAtUs = Date.now() * 1000;
    this.subscribedSince = new Date().toISOString();
    connection.startHeartbeat();

    const zone = ConfigSchema.parse(await config).time_zone;
    if (zone) options.onTimeZone?.(zone);
    for (const [kind, list] of await Promise.all(lists)) options.registries.replace(kind, list);
    const current = StatesSchema.parse(await states) as unknown as HaStateObject[];

    if (backfillFromUs !== undefined && current.length > 0) {
      await new Promise((resolve) =>
        setTimeout(resolve, (options.recorderCommitMs ?? 5000) + RECORDER_COMMIT_MARGIN_MS),
      );
      if (!connection.isLive) return false;
      if (!(await this.backfill(connection, backfillFromUs, current))) return false;
    }
    const wanted = options.snapshot ? current : current.filter((state) => state.entity_id === options.weatherEntity);
    const ordered = [...wanted].sort((a, b) => weatherFirst(a.entity_id, b.entity_id));
    for (const state of ordered)
      options.submitter.enqueue({ entity_id: state.entity_id, old_state: null, new_state: state });
    if (options.snapshot)
      options.logger.info({ states: current.length }, "submitted a snapshot of current Home Assistant states");

    if (!connection.isLive) return false;
    const held = this.heldBack ?? [];
    this.heldBack = undefined;
    for (const data of held) options.submitter.enqueue(data);
    this.lastHeardUs = subscribedAtUs;
    return true;
  }

  /** Step 3, in windows of an hour, so a writer that was away for days neither asks Home Assistant for
   * one huge answer nor holds it all at once. False when the connection ended meanwhile. */
  private async backfill(connection: HaConnection, fromUs: number, current: HaStateObject[]): Promise<boolean> {
    const { submitter } = this.options;
    const ids = current.map((state) => state.entity_id);
    const endUs = Date.now() * 1000;
    let count = 0;
    for (let startUs = fromUs - BACKFILL_OVERLAP_US; startUs < endUs; startUs += BACKFILL_WINDOW_US) {
      const history = await connection.request(
        historyRequest(ids, startUs, Math.min(endUs, startUs + BACKFILL_WINDOW_US)),
      );
      const events = historyEvents(history);
      count += events.length;
      for (const event of events) submitter.enqueue(event);
      submitter.flush();
      await submitter.settled();
      if (!connection.isLive) return false;
    }
    this.backfilledEvents += count;
    this.options.logger.info(
      { events: count, since: new Date(fromUs / 1000).toISOString() },
      "submitted the changes Home Assistant recorded while the writer was not subscribed",
    );
    return true;
  }

  /** A live `state_changed` event: submitted, or held back until the synchronization is done. */
  onStateChanged(data: object): void {
    if (this.heldBack) this.heldBack.push(data);
    else this.options.submitter.enqueue(data);
  }

  /** Home Assistant said a registry changed: reload that list. */
  async onRegistryUpdated(connection: HaConnection, kind: RegistryKind): Promise<void> {
    try {
      this.options.registries.replace(kind, await connection.request({ type: REGISTRY_COMMANDS[kind].list }));
      this.options.registriesChanged();
    } catch (error) {
      this.options.logger.warn(
        { err: error, registry: kind },
        "could not reload a Home Assistant registry; the previous one stays in use",
      );
    }
  }

  /**
   * The connection ended (or the source stops). Live events held back for a backfill that never finished
   * are dropped: `lastHeardUs` has not moved, so the next backfill brings them back, in order behind the
   * changes before them. True when the connection had been subscribed.
   */
  ended(): boolean {
    this.heldBack = undefined;
    const wasSubscribed = this.subscribedSince !== undefined;
    this.subscribedSince = undefined;
    return wasSubscribed;
  }
}
