// A throwaway Home Assistant core for tests: a generated configuration in a temporary directory, a
// free port on 127.0.0.1, the owner and a long-lived token created without a browser (onboarding API
// → /auth/token → WebSocket auth/long_lived_access_token), registry and REST helpers, and stop /
// kill / restart on the same port and directory. `hass` comes from scripts/install-homeassistant.sh.
// Framework-free, like the influxd harness.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findOnPath, foundOrSkip, freePort, randomSecret } from "./influxd";

/** The Home Assistant release the harness and the install script use. */
export const HOMEASSISTANT_VERSION = "2024.3.3";

/** Entities the generated configuration defines, besides the demo integration's. */
export const TEST_ENTITIES = {
  power: "input_number.power",
  energyMeter: "input_number.energy_meter",
  light: "input_boolean.kitchen_light",
  temperature: "sensor.living_room_temperature",
  energy: "sensor.energy_total",
} as const;

/** A running Home Assistant with an owner and a long-lived token. */
export interface HomeAssistantInstance {
  /** Base URL, `http://127.0.0.1:<port>`. */
  url: string;
  /** A long-lived access token of the owner. Never log it. */
  token: string;
  /** The configuration directory (the recorder database, `.storage`, `ip_bans.yaml`, the log). */
  configDir: string;
  /** The log Home Assistant wrote so far (this start and earlier ones). */
  log(): string;
  /** Sends a WebSocket command with the token and resolves with its result. */
  command<T = unknown>(message: Record<string, unknown>): Promise<T>;
  /** A REST call with the token; throws naming the request on a non-2xx answer. */
  rest<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  /** Calls a service (`input_number.set_value`, …). */
  callService(domain: string, service: string, data: Record<string, unknown>): Promise<void>;
  /** Stops the process with `signal` (SIGTERM waits for Home Assistant's own shutdown). */
  stop(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
  /** Starts it again on the same port and directory and waits until it runs. */
  start(): Promise<void>;
  /** Stops it and removes its directory; safe to call more than once. */
  destroy(): Promise<void>;
}

/** The path of `hass` on PATH, or undefined. */
export function findHass(): string | undefined {
  return findOnPath("hass");
}

/** The `hass` to test with (see {@link foundOrSkip}). */
export function locateHomeAssistant(): string | undefined {
  return foundOrSkip(
    findHass(),
    `Home Assistant (hass ${HOMEASSISTANT_VERSION}) is not on PATH: the tests against a real Home Assistant cannot run. ` +
      '`eval "$(scripts/install-homeassistant.sh)"` installs it and puts it on PATH.',
  );
}

/**
 * The generated configuration: no discovery, no cloud, nothing reaching beyond loopback; the recorder
 * on `recorderDbUrl` when given (a `postgresql://` URL needs psycopg2, which the install script adds).
 */
export function configurationYaml(port: number, recorderDbUrl?: string): string {
  return `homeassistant:
  name: ha-influx test home
  latitude: 52.52
  longitude: 13.405
  elevation: 34
  unit_system: metric
  currency: EUR
  country: DE
  time_zone: Europe/Berlin
  internal_url: http://127.0.0.1:${port}
http:
  server_host: 127.0.0.1
  server_port: ${port}
  ip_ban_enabled: true
  login_attempts_threshold: 3
logger:
  default: warning
  logs:
    homeassistant.bootstrap: info
    homeassistant.components.http.ban: warning
api:
websocket_api:
config:
onboarding:
history:
recorder:
  commit_interval: 1${recorderDbUrl === undefined ? "" : `\n  db_url: ${JSON.stringify(recorderDbUrl)}`}
input_number:
  power:
    name: Power
    min: 0
    max: 100000
    step: 0.1
    mode: box
    unit_of_measurement: W
  energy_meter:
    name: Energy meter
    min: 0
    max: 1000000
    step: 0.001
    mode: box
input_boolean:
  kitchen_light:
    name: Kitchen light
template:
  - sensor:
      - name: Living room temperature
        unique_id: ha_influx_living_room_temperature
        device_class: temperature
        state_class: measurement
        unit_of_measurement: "°C"
        state: "{{ (states('input_number.power') | float(0) / 100) | round(2) }}"
      - name: Energy total
        unique_id: ha_influx_energy_total
        device_class: energy
        state_class: total_increasing
        unit_of_measurement: kWh
        state: "{{ states('input_number.energy_meter') | float(0) }}"
demo:
`;
}

let exitHookInstalled = false;
const live = new Set<{ child(): ChildProcess | undefined; dir: string }>();
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const entry of live) {
      entry.child()?.kill("SIGKILL");
      rmSync(entry.dir, { recursive: true, force: true });
    }
  });
}

/** Options of {@link startHomeAssistant}. */
export interface StartHomeAssistantOptions {
  /** How long to wait for Home Assistant to run, in ms; default 180 s (a first start installs requirements). */
  startTimeoutMs?: number;
  /** The recorder's `db_url` (default: Home Assistant's SQLite file in the configuration directory). */
  recorderDbUrl?: string;
}

/** Starts a fresh Home Assistant, creates the owner and a long-lived token, and waits until it runs. */
export async function startHomeAssistant(options: StartHomeAssistantOptions = {}): Promise<HomeAssistantInstance> {
  const binary = findHass();
  if (!binary)
    throw new Error(
      `hass (Home Assistant ${HOMEASSISTANT_VERSION}) is not on PATH; \`eval "$(scripts/install-homeassistant.sh)"\` provides it`,
    );
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), "ha-influx-hass-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  writeFileSync(join(dir, "configuration.yaml"), configurationYaml(port, options.recorderDbUrl));
  const logFile = join(dir, "home-assistant.log");
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const entry = { child: () => child, dir };
  live.add(entry);
  let token = "";
  const timeoutMs = options.startTimeoutMs ?? 180_000;

  const log = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");

  const launch = async () => {
    const env = { ...process.env, PYTHONUNBUFFERED: "1" };
    child = spawn(binary, ["--config", dir, "--log-file", logFile], {
      cwd: dir,
      env,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString("utf8")).slice(-8000)));
    const current = child;
    exited = new Promise<void>((resolve) => current.once("exit", () => resolve()));
    const deadline = Date.now() + timeoutMs;
    let problem = "no answer yet";
    // The onboarding view answers without auth once the HTTP server is up.
    while (Date.now() < deadline) {
      if (current.exitCode !== null || current.signalCode !== null)
        throw new Error(
          `hass exited (${current.exitCode ?? current.signalCode}) before it served:\n${stderr}\n${log().slice(-4000)}`,
        );
      try {
        const response = await fetch(`${url}/api/onboarding`, { signal: AbortSignal.timeout(2000) });
        if (response.ok) break;
        problem = `HTTP ${response.status}`;
      } catch (error) {
        problem = (error as Error).message;
      }
      await sleep(200);
    }
    if (Date.now() >= deadline)
      throw new Error(`Home Assistant at ${url} did not serve in time (${problem}):\n${log().slice(-4000)}`);
  };

  const rest = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${text.slice(0, 300)}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };

  const waitUntilRunning = async () => {
    const deadline = Date.now() + timeoutMs;
    let problem = "";
    while (Date.now() < deadline) {
      try {
        const config = await rest<{ state?: string }>("GET", "/api/config");
        if (config.state === "RUNNING") return;
        problem = `state ${config.state}`;
      } catch (error) {
        problem = (error as Error).message;
      }
      await sleep(250);
    }
    throw new Error(`Home Assistant did not reach RUNNING in time (${problem}):\n${log().slice(-4000)}`);
  };

  const instance: HomeAssistantInstance = {
    url,
    get token() {
      return token;
    },
    configDir: dir,
    log,
    command: <T>(message: Record<string, unknown>) => wsCommand<T>(url, token, message),
    rest,
    async callService(domain, service, data) {
      await rest("POST", `/api/services/${domain}/${service}`, data);
    },
    async stop(signal = "SIGTERM") {
      const current = child;
      if (!current || current.exitCode !== null || current.signalCode !== null) return;
      current.kill(signal);
      const gaveUp = setTimeout(() => current.kill("SIGKILL"), 60_000);
      await exited;
      clearTimeout(gaveUp);
    },
    async start() {
      await launch();
      await waitUntilRunning();
    },
    async destroy() {
      await instance.stop("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
      live.delete(entry);
    },
  };

  try {
    await launch();
    token = await createOwnerAndToken(url);
    await waitUntilRunning();
    return instance;
  } catch (error) {
    await instance.destroy();
    throw error;
  }
}

/** Onboarding users API → /auth/token → a long-lived token over the WebSocket API. */
async function createOwnerAndToken(url: string): Promise<string> {
  const clientId = `${url}/`;
  const created = await fetch(`${url}/api/onboarding/users`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      client_id: clientId,
      name: "Test Owner",
      username: "owner",
      password: randomSecret(),
      language: "en",
    }),
  });
  if (!created.ok) throw new Error(`onboarding the owner failed: HTTP ${created.status} ${await created.text()}`);
  const { auth_code: code } = (await created.json()) as { auth_code: string };
  const tokens = await fetch(`${url}/auth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", code, client_id: clientId }),
  });
  if (!tokens.ok)
    throw new Error(`exchanging the onboarding code failed: HTTP ${tokens.status} ${await tokens.text()}`);
  const { access_token: access } = (await tokens.json()) as { access_token: string };
  return wsCommand<string>(url, access, {
    type: "auth/long_lived_access_token",
    client_name: "ha-influx tests",
    lifespan: 365,
  });
}

/** One WebSocket command on its own connection (Node's built-in WebSocket client). */
export async function wsCommand<T>(url: string, token: string, message: Record<string, unknown>): Promise<T> {
  const socket = new WebSocket(`${url.replace(/^http/, "ws")}/api/websocket`);
  try {
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${String(message.type)} in 30 s`)), 30_000);
      socket.addEventListener("error", () => reject(new Error(`WebSocket to ${url} failed`)));
      socket.addEventListener("message", (event) => {
        const data = JSON.parse(String(event.data)) as Record<string, any>;
        if (data.type === "auth_required") socket.send(JSON.stringify({ type: "auth", access_token: token }));
        else if (data.type === "auth_invalid") reject(new Error(`auth_invalid: ${data.message}`));
        else if (data.type === "auth_ok") socket.send(JSON.stringify({ ...message, id: 1 }));
        else if (data.type === "result" && data.id === 1) {
          clearTimeout(timer);
          if (data.success) resolve(data.result as T);
          else reject(new Error(`${String(message.type)} failed: ${JSON.stringify(data.error)}`));
        }
      });
    });
  } finally {
    socket.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
