/** What `/status` and `/readyz` say about the Home Assistant source: a pure function of its state. */
import type { ComponentStatus } from "../componentStatus";
import type { Failure } from "./haConnection";

/** Connection state of the client, as `/status` reports it. */
export type ConnectionState =
  | "idle"
  | "connecting"
  | "authenticating"
  | "synchronizing"
  | "subscribed"
  | "backoff"
  | "unauthorized"
  | "stopped";

/** Everything the report is made of. */
export interface SourceView {
  state: ConnectionState;
  /** Why the last connection ended, until a subscription succeeds. */
  failure: Failure | undefined;
  /** ISO time of the subscription, while there is one. */
  subscribedSince: string | undefined;
  /** When the next connection attempt is due (ms since the epoch), while one is planned. */
  nextAttemptAt: number | undefined;
  /** How often the last rejected token was rejected in a row. */
  rejections: number;
  /** Whether the token comes from a file (a new token needs no restart). */
  tokenFile: boolean;
  authRetryMs: number;
  eventsReceived: number;
  backfilledEvents: number;
  reconnects: number;
  lastError: string | undefined;
  lastErrorAt: string | undefined;
  /** ISO time of the last `state_changed` event. */
  lastEventAt: string | undefined;
}

/** Health as `/status` reports it: healthy while subscribed to `state_changed`. */
export function sourceStatus(view: SourceView): ComponentStatus {
  const subscribed = view.state === "subscribed" || view.state === "synchronizing";
  return {
    name: "websocket_client",
    healthy: subscribed,
    message: statusMessage(view),
    lastError: view.lastError,
    lastErrorAt: view.lastErrorAt,
    lastSuccessAt: view.lastEventAt,
    details: {
      state: view.state,
      eventsReceived: view.eventsReceived,
      backfilledEvents: view.backfilledEvents,
      reconnects: view.reconnects,
      authRejected: view.failure?.kind === "auth" && !subscribed,
      ...(view.nextAttemptAt !== undefined && !subscribed
        ? { nextAttemptAt: new Date(view.nextAttemptAt).toISOString() }
        : {}),
    },
  };
}

function statusMessage(view: SourceView): string {
  const { failure } = view;
  switch (view.state) {
    case "subscribed":
      return `subscribed since ${view.subscribedSince}`;
    case "synchronizing":
      return `subscribed since ${view.subscribedSince}; writing the changes recorded while disconnected`;
    case "unauthorized":
      return view.tokenFile
        ? `${failure?.message}; the token was rejected ${view.rejections} times and is not tried again (so Home Assistant does not ban this host): put a valid token into the token file`
        : `${failure?.message}; the token was rejected ${view.rejections} times and is not tried again (so Home Assistant does not ban this host): restart the writer with a valid token`;
    case "backoff":
      if (failure?.kind === "auth") {
        return `${failure.message}; next login attempt at ${new Date(view.nextAttemptAt ?? Date.now()).toISOString()} (at most one failed login per ${Math.round(view.authRetryMs / 1000)} s)`;
      }
      return `not subscribed (reconnecting: ${failure?.message ?? "connection lost"})`;
    default:
      // Until a login succeeds, the last answer Home Assistant gave is still the reason for being down.
      if (failure?.kind === "auth") return `${failure.message}; trying a login again (${view.state})`;
      return `not subscribed (${view.state})`;
  }
}
