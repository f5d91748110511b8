/** The parts of the Home Assistant source on their own: the rules that keep the host from being banned,
 * the reconnect plan, the status report, backpressure and the state file. */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Failure } from "../src/sources/haConnection";
import {
  DEFAULT_RECONNECT,
  MAX_REJECTIONS_PER_TOKEN,
  type ReconnectOptions,
  Reconnector,
  TokenRejections,
} from "../src/sources/haReconnect";
import { Registries } from "../src/sources/haRegistries";
import { StateFile } from "../src/sources/haStateFile";
import { type SourceView, sourceStatus } from "../src/sources/haStatus";
import { MAX_SUBMITS_IN_FLIGHT, Submitter } from "../src/sources/haSubmitter";
import type { EventSink } from "../src/sources/sink";
import { memoryLogger } from "./helpers/setup";

const REJECTED: Failure = { kind: "auth", message: "Home Assistant rejected the access token: Invalid access token" };
const LOST: Failure = { kind: "connection", message: "connection closed (code 1006)" };

describe("the token rule that keeps Home Assistant from banning the host", () => {
  it("gives up on a token after its second rejection, before a third could reach login_attempts_threshold", () => {
    expect(MAX_REJECTIONS_PER_TOKEN).toBe(2);
    const rejections = new TokenRejections();
    expect(rejections.reject("token-a", 0)).toBe(false);
    expect(rejections.reject("token-a", 1)).toBe(true);
    expect(rejections.count).toBe(2);
    expect(rejections.isNew("token-a")).toBe(false);
  });

  it("counts another token from one, and forgets everything after a successful login", () => {
    const rejections = new TokenRejections();
    rejections.reject("token-a", 0);
    expect(rejections.reject("token-b", 1)).toBe(false);
    expect(rejections.count).toBe(1);
    expect(rejections.isNew("token-a")).toBe(true);
    rejections.accepted();
    expect(rejections.count).toBe(0);
    expect(rejections.reject("token-b", 2)).toBe(false);
  });

  it("never gives up on an empty token file (no login was tried, so Home Assistant counted nothing)", () => {
    const rejections = new TokenRejections();
    expect(rejections.reject(undefined, 0)).toBe(false);
    expect(rejections.reject(undefined, 1)).toBe(false);
    expect(rejections.isNew(undefined)).toBe(false);
  });

  it("lets a new token wait out the rest of the failed-login interval", () => {
    const rejections = new TokenRejections();
    rejections.reject("token-a", 10_000);
    expect(rejections.waitMs(300_000, 10_000)).toBe(300_000);
    expect(rejections.waitMs(300_000, 250_000)).toBe(60_000);
    expect(rejections.waitMs(300_000, 900_000)).toBe(0);
  });
});

describe("the reconnect plan", () => {
  let dir: string | undefined;
  afterEach(async () => {
    vi.useRealTimers();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  function reconnector(overrides: Partial<ReconnectOptions> = {}) {
    const states: string[] = [];
    let connects = 0;
    const plan = new Reconnector({
      reconnect: DEFAULT_RECONNECT,
      authRetryMs: 300_000,
      token: "token-a",
      logger: memoryLogger().logger,
      setState: (state) => states.push(state),
      connect: () => {
        connects += 1;
        plan.connecting(); // as the source does
      },
      ...overrides,
    });
    return { plan, states, connects: () => connects };
  }

  it("tries again at once after a drop, then every second while Home Assistant is away", () => {
    vi.useFakeTimers({ now: 0 });
    const { plan, connects } = reconnector();
    plan.lost(1006, LOST, true, "token-a");
    expect(plan.nextAttemptAt).toBe(250);
    vi.advanceTimersByTime(250);
    expect(connects()).toBe(1);
    plan.lost(1006, LOST, false, "token-a");
    expect(plan.nextAttemptAt).toBe(1250);
    plan.stop();
  });

  it("after a rejection waits authRetryMs, and after the second stops for good when the token is fixed", () => {
    vi.useFakeTimers({ now: 0 });
    const { plan, states, connects } = reconnector();
    plan.lost(4001, REJECTED, false, "token-a");
    expect(states.at(-1)).toBe("backoff");
    vi.advanceTimersByTime(299_999);
    expect(connects()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(connects()).toBe(1);
    plan.lost(4001, REJECTED, false, "token-a");
    expect(states.at(-1)).toBe("unauthorized");
    vi.advanceTimersByTime(24 * 3_600_000);
    expect(connects()).toBe(1);
  });

  it("logs in with a new token from the token file, no sooner than authRetryMs after the last rejection", async () => {
    dir = await mkdtemp(join(tmpdir(), "ha-reconnect-"));
    const tokenFile = join(dir, "token");
    await writeFile(tokenFile, "token-a\n");
    vi.useFakeTimers({ now: 0 });
    const { plan, connects } = reconnector({ token: undefined, tokenFile });
    expect(plan.readToken()).toBe("token-a");
    plan.lost(4001, REJECTED, false, "token-a");
    vi.advanceTimersByTime(300_000);
    expect(connects()).toBe(1);
    plan.lost(4001, REJECTED, false, "token-a"); // the second rejection, at 300 s
    vi.advanceTimersByTime(60_000);
    expect(connects()).toBe(1);
    expect(plan.nextAttemptAt).toBeUndefined(); // the rejected token in the file is not tried again
    await writeFile(tokenFile, "token-b\n");
    vi.advanceTimersByTime(2000); // the file is checked every 2 s: seen at 362 s
    expect(plan.nextAttemptAt).toBe(600_000);
    vi.advanceTimersByTime(600_000 - 362_000 - 1);
    expect(connects()).toBe(1);
    vi.advanceTimersByTime(1);
    expect(connects()).toBe(2);
    expect(plan.readToken()).toBe("token-b");
    plan.stop();
  });
});

describe("the status report", () => {
  const base: SourceView = {
    state: "idle",
    failure: undefined,
    subscribedSince: undefined,
    nextAttemptAt: undefined,
    rejections: 0,
    tokenFile: false,
    authRetryMs: 300_000,
    eventsReceived: 0,
    backfilledEvents: 0,
    reconnects: 0,
    lastError: undefined,
    lastErrorAt: undefined,
    lastEventAt: undefined,
  };

  it.each<[string, Partial<SourceView>, boolean, boolean, RegExp]>([
    [
      "subscribed",
      { state: "subscribed", subscribedSince: "2026-12-02T10:00:00.000Z" },
      true,
      false,
      /^subscribed since 2026-12-02T10:00:00.000Z$/,
    ],
    [
      "synchronizing, after a rejection",
      { state: "synchronizing", subscribedSince: "x", failure: REJECTED },
      true,
      false,
      /writing the changes recorded while disconnected/,
    ],
    [
      "reconnecting",
      { state: "backoff", failure: LOST, nextAttemptAt: 0 },
      false,
      false,
      /^not subscribed \(reconnecting: connection closed \(code 1006\)\)$/,
    ],
    [
      "waiting after a rejection",
      { state: "backoff", failure: REJECTED, nextAttemptAt: 0 },
      false,
      true,
      /next login attempt at 1970-01-01T00:00:00.000Z \(at most one failed login per 300 s\)$/,
    ],
    [
      "trying the next login",
      { state: "authenticating", failure: REJECTED },
      false,
      true,
      /Invalid access token; trying a login again \(authenticating\)$/,
    ],
    [
      "given up, token in the environment",
      { state: "unauthorized", failure: REJECTED, rejections: 2 },
      false,
      true,
      /rejected 2 times and is not tried again .*: restart the writer with a valid token$/,
    ],
    [
      "given up, token file",
      { state: "unauthorized", failure: REJECTED, rejections: 2, tokenFile: true },
      false,
      true,
      /: put a valid token into the token file$/,
    ],
  ])("%s", (_name, view, healthy, authRejected, message) => {
    const status = sourceStatus({ ...base, ...view });
    expect(status.healthy).toBe(healthy);
    expect(status.details?.authRejected).toBe(authRejected);
    expect(status.message).toMatch(message);
    expect("nextAttemptAt" in (status.details ?? {})).toBe(view.nextAttemptAt !== undefined && !healthy);
  });
});

describe("backpressure on Home Assistant", () => {
  it(`pauses the socket while ${MAX_SUBMITS_IN_FLIGHT} submissions await durability, and resumes after one`, async () => {
    const releases: (() => void)[] = [];
    const batches: number[] = [];
    const sink: EventSink = {
      submit(raw) {
        batches.push(raw.length);
        return new Promise((resolve) => releases.push(() => resolve([])));
      },
    };
    const calls: string[] = [];
    const submitter = new Submitter({
      sink,
      source: "websocket",
      registries: new Registries(),
      logger: memoryLogger().logger,
      pause: () => calls.push("pause"),
      resume: () => calls.push("resume"),
    });
    for (let batch = 1; batch < MAX_SUBMITS_IN_FLIGHT; batch += 1) {
      submitter.enqueue({ entity_id: "sensor.a", old_state: null, new_state: null });
      submitter.flush();
    }
    expect(calls).toEqual([]);
    for (let event = 0; event < 1000; event += 1)
      submitter.enqueue({ entity_id: "sensor.a", old_state: null, new_state: null });
    expect(batches).toEqual([1, 1, 1, 1000]);
    expect(calls).toEqual(["pause"]);
    releases[0]!();
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toEqual(["pause", "resume"]);
    for (const release of releases) release();
    await submitter.settled();
  });
});

describe("the state file", () => {
  it("saves what it is given and reads it back; an unreadable file is a warning and no state", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ha-statefile-"));
    const file = join(dir, "sub", "homeassistant.json");
    const { logger, lines } = memoryLogger();
    const lists = { areas: [{ area_id: "a", name: "Attic" }], devices: [], entities: [] };
    const stateFile = new StateFile({
      file,
      logger,
      current: () => ({ lastHeardUs: 42, registries: lists }),
      keepSaving: () => false,
    });
    expect(stateFile.load()).toBeUndefined();
    await stateFile.flush();
    expect(JSON.parse(await readFile(file, "utf8"))).toEqual({ version: 1, lastHeardUs: 42, registries: lists });
    expect(stateFile.load()).toEqual({ version: 1, lastHeardUs: 42, registries: lists });

    await writeFile(file, '{"version":2}');
    expect(stateFile.load()).toBeUndefined();
    expect(lines.join("\n")).toContain("the Home Assistant state file is unreadable");
    await rm(dir, { recursive: true, force: true });
  });
});
