/**
 * `import --db-url` without a server: the URL's shown name and secret, the password kept out of every
 * message, the parameter placeholders of the PostgreSQL queries, and the one-line errors of a URL
 * that is not one and of a server that is not there. The import from a real PostgreSQL recorder is in
 * test/homeassistant/import-postgres.test.ts.
 */
import { createServer } from "node:net";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { main } from "../src/cli";
import { selectionWhere } from "../src/import/recorder";
import { isPostgresUrl, messageOf, PostgresRecorder, postgresTarget, redact } from "../src/import/recorder-postgres";
import { tempDir } from "./helpers/setup";

const SECRET = "t0p/secret";
const ENCODED = encodeURIComponent(SECRET);

/** A port of 127.0.0.1 that nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

describe("a PostgreSQL recorder URL", () => {
  it("is named without user, password or query, and its password is known for redaction", () => {
    expect(postgresTarget(`postgresql://ha:${ENCODED}@db.example:5433/homeassistant?sslmode=require`)).toEqual({
      name: "postgresql://db.example:5433/homeassistant",
      password: SECRET,
    });
    expect(postgresTarget("postgres://ha@db.example/home")).toEqual({
      name: "postgresql://db.example:5432/home",
      password: "",
    });
    expect(isPostgresUrl("postgresql://h/d")).toBe(true);
    expect(isPostgresUrl("postgres://h/d")).toBe(true);
    expect(isPostgresUrl("mysql://h/d")).toBe(false);
  });

  it("refuses what is not one in a line that does not repeat the URL", () => {
    const cases: [string, RegExp][] = [
      [`not a url ${SECRET}`, /^--db-url is not a valid URL \(expected postgresql:/],
      [`mysql://ha:${ENCODED}@db/home`, /^--db-url: mysql:\/\/ is not supported; only PostgreSQL/],
      [`postgresql://ha:${ENCODED}@db.example`, /^--db-url needs a host and a database/],
    ];
    for (const [url, message] of cases) {
      let thrown: Error | undefined;
      try {
        postgresTarget(url);
      } catch (error) {
        thrown = error as Error;
      }
      expect(thrown?.message).toMatch(message);
      expect(thrown?.message).not.toContain(SECRET);
      expect(thrown?.message).not.toContain(ENCODED);
    }
  });

  it("makes one line of a driver error, also of the AggregateError of a host with several addresses", () => {
    const refused = (address: string) =>
      Object.assign(new Error(`connect ECONNREFUSED ${address}`), { code: "ECONNREFUSED" });
    expect(messageOf(new AggregateError([refused("::1:5432"), refused("127.0.0.1:5432")], ""))).toBe(
      "connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432",
    );
    expect(messageOf(new Error("first line\n  second line"))).toBe("first line second line");
    expect(messageOf(Object.assign(new Error(""), { code: "ETIMEDOUT" }))).toBe("ETIMEDOUT");
  });

  it("redacts the password as given and URL-encoded", () => {
    expect(redact(`a ${SECRET} b ${ENCODED} c`, SECRET)).toBe("a *** b *** c");
    expect(redact("nothing to hide", "")).toBe("nothing to hide");
  });

  it("numbers the parameters of a selection $1, $2, … in the order of its values", () => {
    const { where, params } = selectionWhere(
      { startTs: 10, stopTs: 20, entities: ["light.a", "sensor.b"], domains: ["switch"] },
      { lastUpdatedTs: 15.5, stateId: 7 },
      (n) => `$${n}`,
    );
    expect(where).toBe(
      "s.last_updated_ts IS NOT NULL AND s.last_updated_ts >= $1 AND s.last_updated_ts < $2 AND " +
        "(m.entity_id IN ($3, $4) OR substr(m.entity_id, 1, $5) = $6) AND (s.last_updated_ts, s.state_id) > ($7, $8)",
    );
    expect(params).toEqual([10, 20, "light.a", "sensor.b", 7, "switch.", 15.5, 7]);
  });
});

describe("import --db-url", () => {
  let dir: ReturnType<typeof tempDir>;
  let stderr: string[];
  beforeEach(() => {
    dir = tempDir();
    stderr = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      stderr.push(String(chunk));
      return true;
    });
    vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  });
  afterEach(() => {
    vi.restoreAllMocks();
    dir.remove();
  });

  it("says in one line, without the password, that nothing answers at the address", async () => {
    const port = await closedPort();
    const code = await main(
      ["import", "--db-url", `postgresql://ha:${ENCODED}@127.0.0.1:${port}/homeassistant`, "--dry-run"],
      {},
    );
    expect(code).toBe(1);
    expect(stderr.join("")).toBe(
      `import: postgresql://127.0.0.1:${port}/homeassistant: cannot connect: connect ECONNREFUSED 127.0.0.1:${port}\n`,
    );
  });

  it("rejects the connection error of a server that is not there, as a RecorderError", async () => {
    const port = await closedPort();
    await expect(PostgresRecorder.open(`postgresql://ha:${ENCODED}@127.0.0.1:${port}/db`)).rejects.toThrow(
      `postgresql://127.0.0.1:${port}/db: cannot connect: connect ECONNREFUSED`,
    );
  });

  it("says that a host name is unknown", async () => {
    const code = await main(
      ["import", "--db-url", `postgresql://ha:${ENCODED}@no-such-host.invalid/db`, "--dry-run"],
      {},
    );
    expect(code).toBe(1);
    expect(stderr.join("")).toBe(
      "import: postgresql://no-such-host.invalid:5432/db: cannot connect: getaddrinfo ENOTFOUND no-such-host.invalid\n",
    );
  });

  it("takes a configuration directory beside it, not a database file", async () => {
    const file = join(dir.dir, "home-assistant_v2.db");
    const code = await main(["import", file, "--db-url", `postgresql://ha:${ENCODED}@127.0.0.1:1/db`, "--dry-run"], {});
    expect(code).toBe(1);
    expect(stderr.join("")).toBe(
      `import: ${file}: with --db-url, the argument is Home Assistant's configuration directory (for the registries in its .storage)\n`,
    );
  });

  it("still needs a database when there is no --db-url", async () => {
    const code = await main(["import", "--dry-run"], {});
    expect(code).toBe(1);
    expect(stderr.join("")).toMatch(
      /^import: import needs exactly one configuration directory or database file \(or --db-url\)\nusage:/,
    );
  });
});
