/**
 * When the Home Assistant source tries its next connection.
 *
 * While Home Assistant is away: every second (it is usually back within a minute, and the writer should
 * be subscribed within about a second of it), then slower after two minutes, up to 30 s.
 *
 * A rejected token is different: Home Assistant counts every failed login of a host and bans the host
 * (every client on it, the user's browser too) at `login_attempts_threshold`, and the count only resets
 * on a successful login or a restart. So after a rejection the source waits `authRetryMs` (5 min by
 * default) before trying again, and after two rejections of the same token it does not try that token
 * again: it waits for the token file to hold another one.
 */
import { readFileSync } from "node:fs";
import type { Logger } from "../logger";
import type { Failure } from "./haConnection";
import type { ConnectionState } from "./haStatus";

/** Reconnect timing while Home Assistant is away (not after a rejected token). */
export interface ReconnectPolicy {
  /** Delay between attempts during the first `fastForMs` of an outage. */
  fastMs: number;
  /** How long attempts stay fast. */
  fastForMs: number;
  /** Longest delay after that (the delay doubles from `fastMs`). */
  maxMs: number;
}

/** Every second for two minutes, then doubling to 30 s. */
export const DEFAULT_RECONNECT: ReconnectPolicy = { fastMs: 1000, fastForMs: 120_000, maxMs: 30_000 };

/** The default pause after a rejected token: at most one failed login per five minutes. */
export const DEFAULT_AUTH_RETRY_MS = 5 * 60_000;

/**
 * Rejections of one token after which it is not tried again. Home Assistant's usual
 * `login_attempts_threshold` is 3 and its count never expires while it runs, so a third try could ban
 * the host; two leaves room for one mistake of another client on the host.
 */
export const MAX_REJECTIONS_PER_TOKEN = 2;

/** How often a rejected token file is checked for a new token. */
const TOKEN_FILE_POLL_MS = 2000;

/** The delay before reconnect attempt `attempt` (1-based) of an outage that began `outageMs` ago. */
export function reconnectDelayMs(attempt: number, outageMs: number, policy: ReconnectPolicy): number {
  if (attempt <= 1) return Math.min(policy.fastMs, 250);
  if (outageMs < policy.fastForMs) return policy.fastMs;
  const slowAttempts = Math.max(1, Math.round((outageMs - policy.fastForMs) / policy.fastMs));
  return Math.min(policy.maxMs, policy.fastMs * 2 ** Math.min(slowAttempts, 20));
}

/** The rejections of the last rejected token: the rule that keeps the writer from getting its host banned. */
export class TokenRejections {
  private token: string | undefined;
  private lastAt: number | undefined;
  /** How often `token` was rejected in a row. */
  count = 0;

  /** Records that Home Assistant rejected `token` at `now`; true when that token must not be tried again. */
  reject(token: string | undefined, now: number): boolean {
    if (token !== undefined && token === this.token) this.count += 1;
    else {
      this.token = token;
      this.count = 1;
    }
    this.lastAt = now;
    return this.count >= MAX_REJECTIONS_PER_TOKEN;
  }

  /** A login succeeded: Home Assistant has reset its count, and so does the writer. */
  accepted(): void {
    this.token = undefined;
    this.count = 0;
  }

  /** Whether `token` (read from the token file) is another one than the rejected token. */
  isNew(token: string | undefined): boolean {
    return token !== undefined && token !== this.token;
  }

  /** How long a login with a new token waits, so that there is at most one failed login per `retryMs`. */
  waitMs(retryMs: number, now: number): number {
    return Math.max(0, (this.lastAt ?? 0) + retryMs - now);
  }
}

/** What the scheduler needs from the source. */
export interface ReconnectOptions {
  reconnect: ReconnectPolicy;
  authRetryMs: number;
  token?: string;
  tokenFile?: string;
  logger: Logger;
  setState: (state: ConnectionState) => void;
  /** Opens the next connection. */
  connect: () => void;
}

/** Plans the next connection after one ended: the reconnect schedule, the auth-retry pause, the token file. */
export class Reconnector {
  readonly rejections = new TokenRejections();
  /** When the next attempt is due (ms since the epoch), while one is planned. */
  nextAttemptAt: number | undefined;
  private attempt = 0;
  private outageSince: number | undefined;
  private loggedFailure: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private tokenPollTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ReconnectOptions) {}

  /** The token to present on the next login: from the token file when there is one, read every time. */
  readToken(): string | undefined {
    if (this.options.tokenFile === undefined) return this.options.token;
    try {
      const token = readFileSync(this.options.tokenFile, "utf8").trim();
      return token === "" ? undefined : token;
    } catch {
      return undefined;
    }
  }

  /** An attempt begins. */
  connecting(): void {
    this.nextAttemptAt = undefined;
  }

  /** The source is subscribed: the outage is over. */
  subscribed(): void {
    this.attempt = 0;
    this.outageSince = undefined;
    this.loggedFailure = undefined;
  }

  /** A connection ended for `failure`; `presentedToken` is the token its login used. */
  lost(code: number, failure: Failure, wasSubscribed: boolean, presentedToken: string | undefined): void {
    if (wasSubscribed) {
      this.attempt = 0;
      this.outageSince = Date.now();
    }
    this.outageSince ??= Date.now();
    if (failure.kind === "auth") this.onRejected(failure, presentedToken);
    else this.scheduleReconnect(code, failure);
  }

  stop(): void {
    clearTimeout(this.timer);
    clearInterval(this.tokenPollTimer);
  }

  private scheduleReconnect(code: number, failure: Failure): void {
    this.attempt += 1;
    const delay = reconnectDelayMs(this.attempt, Date.now() - (this.outageSince ?? Date.now()), this.options.reconnect);
    // One warning per outage and per change of reason, not one per attempt.
    const fields = { code, reason: failure.message, retryInMs: Math.round(delay), attempt: this.attempt };
    if (this.loggedFailure !== failure.message) {
      this.options.logger.warn(fields, "Home Assistant connection lost; reconnecting");
      this.loggedFailure = failure.message;
    } else {
      this.options.logger.debug(fields, "Home Assistant still unreachable; reconnecting");
    }
    this.retryIn(delay);
  }

  private onRejected(failure: Failure, token: string | undefined): void {
    const { authRetryMs, logger } = this.options;
    const exhausted = this.rejections.reject(token, Date.now());
    this.options.setState(exhausted ? "unauthorized" : "backoff");
    if (this.loggedFailure !== failure.message || exhausted) {
      logger.error(
        { reason: failure.message, rejections: this.rejections.count, retryInMs: exhausted ? undefined : authRetryMs },
        exhausted
          ? "Home Assistant rejected the access token again; not trying it again, so that Home Assistant does not ban this host"
          : "Home Assistant rejected the access token; trying again later, at most one failed login per authRetry interval",
      );
      this.loggedFailure = failure.message;
    }
    if (!exhausted) {
      this.nextAttemptAt = Date.now() + authRetryMs;
      this.timer = setTimeout(() => this.options.connect(), authRetryMs);
      return;
    }
    // Wait for another token in the file; it is tried once the failed-login interval has passed.
    if (this.options.tokenFile === undefined) return;
    this.tokenPollTimer = setInterval(() => {
      if (!this.rejections.isNew(this.readToken())) return;
      clearInterval(this.tokenPollTimer);
      const wait = this.rejections.waitMs(authRetryMs, Date.now());
      logger.info({ retryInMs: wait }, "the Home Assistant token file holds a new token; logging in with it");
      this.retryIn(wait);
    }, TOKEN_FILE_POLL_MS);
  }

  private retryIn(delay: number): void {
    this.options.setState("backoff");
    this.nextAttemptAt = Date.now() + delay;
    this.timer = setTimeout(() => this.options.connect(), delay);
  }
}
