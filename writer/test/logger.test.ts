/** Tokens never reach a log line, whatever way they are logged. */
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, redactSecrets } from "../src/logger";

function capture(secrets: string[]) {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString());
      callback();
    },
  });
  return { logger: createLogger({ level: "info", format: "json", secrets, destination }), lines };
}

describe("logger", () => {
  const secret = "influx-token-7f3a9c";

  it("censors token fields and authorization headers by name", () => {
    const { logger, lines } = capture([]);
    logger.info(
      { token: secret, influxdb: { token: secret }, headers: { authorization: `Token ${secret}` } },
      "config",
    );
    expect(lines.join("")).not.toContain(secret);
    expect(lines.join("")).toContain("[redacted]");
  });

  it("scrubs configured secrets from messages, errors and nested values", () => {
    const { logger, lines } = capture([secret]);
    logger.error(
      {
        err: new Error(`request to http://x/?token=${secret} failed`),
        url: `http://x/?token=${secret}`,
        nested: { list: [secret] },
      },
      `bad token ${secret}`,
    );
    const text = lines.join("");
    expect(text).not.toContain(secret);
    expect(text).toContain("bad token [redacted]");
    expect(JSON.parse(text).err.message).toBe("request to http://x/?token=[redacted] failed");
  });

  it("redacts every occurrence in free text", () => {
    expect(redactSecrets(`a ${secret} b ${secret}`, [secret])).toBe("a [redacted] b [redacted]");
  });
});
