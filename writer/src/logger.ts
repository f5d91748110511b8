/**
 * The writer's logger: pino, JSON by default (`LOG_FORMAT=text` for people at a terminal). Tokens
 * never reach a log line: known secret fields are censored by path, request URLs lose their query
 * values, and the configured token values are scrubbed from every finished line (message, fields,
 * error stacks alike), which is the one place nothing can slip past.
 */
import pino, { type Logger } from "pino";
import type { LogLevel } from "./config";

export type { Logger };

const CENSOR = "[redacted]";

/** Paths pino censors wherever they appear in a logged object. */
const REDACT_PATHS = [
  "token",
  "*.token",
  "*.*.token",
  "authorization",
  "Authorization",
  "*.authorization",
  "*.Authorization",
  "headers.authorization",
  "req.headers.authorization",
  "access_token",
  "*.access_token",
];

/** Options of `createLogger`. */
export interface LoggerOptions {
  /** Lowest level written. */
  level: LogLevel;
  /** `json` (one object per line) or `text` (human-readable). */
  format: "json" | "text";
  /** Secret values to scrub from every line (the configured tokens). */
  secrets?: readonly string[];
  /** Where lines go; standard output when absent. */
  destination?: NodeJS.WritableStream;
}

/** What a request or reply becomes in a log line (Fastify's objects, or anything with these fields). */
interface RequestLike {
  method?: string;
  url?: string;
}
interface ReplyLike {
  statusCode?: number;
}

/** Creates the process logger. */
export function createLogger(options: LoggerOptions): Logger {
  const secrets = (options.secrets ?? []).filter((secret) => secret.length >= 4);
  // In a JSON line a secret may appear escaped (quotes, backslashes, control characters).
  const forms = [...new Set(secrets.flatMap((secret) => [secret, JSON.stringify(secret).slice(1, -1)]))];
  const stream =
    options.format === "text"
      ? // Loaded only when asked for: JSON logging (the default) should not pay its memory.
        (require("pino-pretty") as typeof import("pino-pretty"))({
          colorize: false,
          sync: true,
          destination: options.destination ?? process.stdout,
        })
      : (options.destination ?? pino.destination({ sync: false }));
  return pino(
    {
      level: options.level,
      base: { service: "ha-influx-writer" },
      redact: { paths: REDACT_PATHS, censor: CENSOR },
      hooks: forms.length === 0 ? {} : { streamWrite: (line) => redactSecrets(line, forms) },
      serializers: {
        err: pino.stdSerializers.err,
        req: (request: RequestLike) => ({ method: request.method, url: redactQuery(request.url ?? "") }),
        res: (reply: ReplyLike) => ({ statusCode: reply.statusCode }),
      },
    },
    stream,
  );
}

/** Replaces every occurrence of each secret in `text` with a fixed marker. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4 && out.includes(secret)) out = out.split(secret).join(CENSOR);
  return out;
}

/** A URL path with every query value replaced by the marker: clients put tokens there too. */
export function redactQuery(url: string): string {
  const mark = url.indexOf("?");
  if (mark === -1) return url;
  const query = url
    .slice(mark + 1)
    .split("&")
    .map((pair) => {
      const equals = pair.indexOf("=");
      return equals === -1 ? pair : `${pair.slice(0, equals)}=${CENSOR}`;
    })
    .join("&");
  return `${url.slice(0, mark)}?${query}`;
}
