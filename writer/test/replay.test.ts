import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { replayFile } from "../src/sources/replay";
import type { EventSink } from "../src/sources/sink";
import { tempDir } from "./helpers/setup";

/** Rejects events without a state, filters `sensor.ignored`, accepts the rest. */
function judgingSink(): EventSink & { accepted: unknown[]; calls: number } {
  const sink = {
    accepted: [] as unknown[],
    calls: 0,
    async submit(raw: unknown[]) {
      sink.calls += 1;
      return raw.map((event, index) => {
        const e = event as { entity_id?: string; state?: string };
        if (e.state === undefined)
          return { index, status: "rejected" as const, reason: "missing_state" as const, message: "state is missing" };
        if (e.entity_id === "sensor.ignored")
          return { index, status: "filtered" as const, reason: "excluded" as const };
        sink.accepted.push(event);
        return { index, status: "accepted" as const };
      });
    },
  };
  return sink;
}

function capture(isTTY: boolean): PassThrough & { isTTY: boolean; text: () => string } {
  const stream = new PassThrough() as PassThrough & { isTTY: boolean; text: () => string };
  const chunks: Buffer[] = [];
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  stream.isTTY = isTTY;
  stream.text = () => Buffer.concat(chunks).toString();
  return stream;
}

describe("NDJSON replay", () => {
  let dir: string;
  let remove: () => void;
  beforeEach(() => {
    ({ dir, remove } = tempDir("replay-test-"));
  });
  afterEach(() => remove());

  it("submits every good line, reports bad lines by number and carries on", async () => {
    const file = join(dir, "backfill.ndjson");
    const good = Array.from({ length: 2500 }, (_, i) =>
      JSON.stringify({ entity_id: `sensor.s${i % 7}`, state: String(i), timestamp: new Date(i * 1000).toISOString() }),
    );
    const lines = [
      ...good.slice(0, 10),
      "{broken",
      good[10]!,
      JSON.stringify({ entity_id: "light.no_state" }),
      "",
      JSON.stringify({ entity_id: "sensor.ignored", state: "1" }),
      ...good.slice(11),
    ];
    writeFileSync(file, `${lines.join("\r\n")}\n`);
    const sink = judgingSink();
    const output = capture(false);

    const summary = await replayFile(file, { sink, output });

    expect(summary).toMatchObject({ lines: 2503, accepted: 2500, filtered: 1, rejected: 2 });
    expect(sink.accepted).toHaveLength(2500);
    expect(sink.calls).toBe(3);
    const text = output.text();
    expect(text).toMatch(/^line 11: invalid_json: /m);
    expect(text).toContain("line 13: missing_state: state is missing\n");
    expect(text.trimEnd().split("\n").at(-1)).toMatch(
      /^replay 100\.0% 2503 lines, \d+ lines\/s: 2500 accepted, 1 filtered, 2 rejected$/,
    );
  });

  it("stops reading when aborted and still submits what it read", async () => {
    const file = join(dir, "long.ndjson");
    writeFileSync(
      file,
      Array.from({ length: 2500 }, (_, i) => JSON.stringify({ entity_id: "sensor.s", state: String(i) })).join("\n"),
    );
    const interrupt = new AbortController();
    const sink = judgingSink();
    const submit = sink.submit;
    sink.submit = async (raw, source) => {
      interrupt.abort();
      return submit(raw, source);
    };
    const output = capture(false);

    const summary = await replayFile(file, { sink, output, signal: interrupt.signal });

    expect(summary).toMatchObject({ lines: 1000, accepted: 1000, interrupted: true });
    expect(output.text()).toContain("interrupted after line 1000\n");
  });

  it("rewrites the progress line in place on a terminal and keeps bad lines on their own lines", async () => {
    const file = join(dir, "small.ndjson");
    writeFileSync(
      file,
      ['{"entity_id":"light.a","state":"on"}', "nope", '{"entity_id":"light.a","state":"off"}'].join("\n"),
    );
    const output = capture(true);

    const summary = await replayFile(file, { sink: judgingSink(), output });

    expect(summary).toMatchObject({ lines: 3, accepted: 2, rejected: 1 });
    expect(output.text()).toMatch(
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the progress line is redrawn with the terminal's ESC [K (erase line) on purpose
      /^\r\x1b\[Kline 2: invalid_json: [^\n]+\n\r\x1b\[Kreplay 100\.0% 3 lines, \d+ lines\/s: 2 accepted, 0 filtered, 1 rejected\n$/,
    );
  });
});
