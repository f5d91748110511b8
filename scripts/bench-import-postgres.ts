// Reading a recorder on PostgreSQL as the import does (`PostgresRecorder.readStates`, 5,000 rows a
// page after the position `(last_updated_ts, state_id)`), to see that paging stays an index range
// (no walk from the start per page) and what it costs. Prints its figures; asserts nothing.
//
//   npx ts-node --transpile-only scripts/bench-import-postgres.ts [--states 1000000]
//
// A throwaway PostgreSQL cluster (test/harness/postgres.ts), its schema made by a real Home Assistant
// 2024.3.3 (started once on it and stopped), then `--states` rows added to `states` by SQL (20
// entities, one attributes row, each row's old state 20 rows before it). Needs `hass` and PostgreSQL
// on PATH: `eval "$(scripts/install-homeassistant.sh)"; eval "$(scripts/install-postgresql.sh)"`.
import { parseArgs } from "node:util";
import { startHomeAssistant } from "../test/harness/homeassistant";
import { startPostgres } from "../test/harness/postgres";
import type { StatePosition } from "../writer/src/import/recorder";
import { PostgresRecorder } from "../writer/src/import/recorder-postgres";

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { states: { type: "string", default: "1000000" } } });
  const states = Number(values.states);
  const pg = await startPostgres();
  try {
    const url = await pg.createDatabase("homeassistant", "ha");
    const ha = await startHomeAssistant({ recorderDbUrl: url });
    await ha.stop("SIGTERM");
    await ha.destroy();
    let started = Date.now();
    await pg.sql(
      "homeassistant",
      "INSERT INTO states (metadata_id, state, last_updated_ts, attributes_id) " +
        "SELECT (SELECT min(metadata_id) FROM states_meta) + (g % 20), (g % 1000)::text, 1700000000 + g * 0.01, " +
        `(SELECT max(attributes_id) FROM state_attributes) FROM generate_series(1, ${states}) g`,
    );
    await pg.sql("homeassistant", "UPDATE states SET old_state_id = state_id - 20 WHERE state_id > 200; ANALYZE");
    console.log(`filled ${states} states in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const plan = await pg.sql(
      "homeassistant",
      "EXPLAIN SELECT s.state_id FROM states s JOIN states_meta m ON m.metadata_id = s.metadata_id " +
        "WHERE s.last_updated_ts IS NOT NULL AND (s.last_updated_ts, s.state_id) > (1700002000, 5) " +
        "ORDER BY s.last_updated_ts, s.state_id LIMIT 5000",
    );
    console.log(`page query plan:\n${plan.map((row) => row["QUERY PLAN"]).join("\n")}`);
    const db = await PostgresRecorder.open(url);
    started = Date.now();
    const cpu = process.cpuUsage();
    let position: StatePosition | undefined;
    let rows = 0;
    for (;;) {
      const page = await db.readStates({}, position, 5_000);
      if (page.length === 0) break;
      rows += page.length;
      const last = page[page.length - 1]!;
      position = { lastUpdatedTs: last.lastUpdatedTs, stateId: last.stateId };
    }
    const seconds = (Date.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    console.log(
      `read ${rows} states in ${seconds.toFixed(1)} s: ${Math.round(rows / seconds)} rows/s, ` +
        `${((used.user + used.system) / rows).toFixed(2)} µs CPU/row in this process`,
    );
    await db.close();
  } finally {
    await pg.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
