/**
 * The writer's logger: pino, JSON by default (`LOG_FORMAT=text` for people at a terminal). Tokens
 * never reach a log line: known secret fields are censored by path, and `redactSecrets` scrubs the
 * configured token values out of free text such as error messages and URLs.
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
  /** Secret values to scrub from every message and string field (the configured tokens). */
  secrets?: readonly string[];
  /** Where lines go; standard output when absent. */
  destination?: NodeJS.WritableStream;
}

/** Creates the process logger. */
export function createLogger(options: LoggerOptions): Logger {
  const secrets = (options.secrets ?? []).filter((secret) => secret.length >= 4);
  const stream =
    options.format === "text"
      ? // Loaded only when asked for: JSON logging (the default) should not pay its memory.
        (require("pino-pretty") as typeof import("pino-pretty"))({ colorize: false, sync: true, destination: options.destination ?? process.stdout })
      : (options.destination ?? pino.destination({ sync: false }));
  return pino(
    {
      level: options.level,
      base: { service: "ha-influx-writer" },
      redact: { paths: REDACT_PATHS, censor: CENSOR },
      hooks: {
        logMethod(args, method) {
          if (secrets.length === 0) return method.apply(this, args);
          return method.apply(this, args.map((arg) => scrub(arg, secrets)) as Parameters<typeof method>);
        },
      },
      serializers: { err: (error: unknown) => scrub(pino.stdSerializers.err(error as Error), secrets) },
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

function scrub<T>(value: T, secrets: readonly string[], depth = 0): T {
  if (secrets.length === 0) return value;
  if (typeof value === "string") return redactSecrets(value, secrets) as T;
  if (depth > 4 || value === null || typeof value !== "object") return value;
  // An Error's message and stack are not enumerable: serialise it first, then scrub the copy.
  if (value instanceof Error) return scrub(pino.stdSerializers.err(value), secrets, depth + 1) as T;
  if (Array.isArray(value)) return value.map((item) => scrub(item, secrets, depth + 1)) as T;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) out[key] = scrub(item, secrets, depth + 1);
  return out as T;
}
