/**
 * What the import reads from a Home Assistant configuration directory besides the database: the
 * registries (`.storage/core.area_registry`, `core.device_registry`, `core.entity_registry`, Home
 * Assistant's JSON store files `{ version, key, data: { areas | devices | entities: [...] } }`) and
 * the time zone (`.storage/core.config`, else `configuration.yaml`), which the live source gets over the WebSocket API instead.
 * They go into the same `Registries` the live source uses, so the enrichment rules are the same.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { ENRICHMENT_KEYS, Registries, type RegistryKind } from "../sources/haRegistries";
import { RecorderError } from "./recorder";

const STORE_FILES: Readonly<Record<RegistryKind, string>> = {
  areas: "core.area_registry",
  devices: "core.device_registry",
  entities: "core.entity_registry",
};

const StoreSchema = z.looseObject({ data: z.looseObject({}) });
const CoreConfigSchema = z.looseObject({ data: z.looseObject({ time_zone: z.string().optional() }) });

/** What was found in `.storage`. */
export interface StorageContents {
  registries: Registries;
  /** Registry files that were found (absent ones leave their list empty). */
  registryFiles: string[];
  timeZone?: string;
}

function readStore(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new RecorderError(`${path}: not a readable Home Assistant store file: ${(error as Error).message}`);
  }
}

/** Reads the registries and the time zone from `<configDir>/.storage`; missing files give empty lists. */
export function readStorage(configDir: string | undefined): StorageContents {
  const registries = new Registries();
  const registryFiles: string[] = [];
  if (configDir === undefined) return { registries, registryFiles };
  const storage = join(configDir, ".storage");
  for (const [kind, file] of Object.entries(STORE_FILES) as [RegistryKind, string][]) {
    const path = join(storage, file);
    if (!existsSync(path)) continue;
    const store = StoreSchema.safeParse(readStore(path));
    let list = store.success ? store.data.data[kind] : undefined;
    // The area store names an area's id `id`; the WebSocket list (which `Registries` reads) `area_id`.
    if (kind === "areas" && Array.isArray(list))
      list = list.map((area) =>
        area !== null && typeof area === "object" && !("area_id" in area)
          ? { ...area, area_id: (area as { id?: unknown }).id }
          : area,
      );
    try {
      registries.replace(kind, list);
    } catch {
      throw new RecorderError(`${path}: data.${kind} is not a list of registry entries`);
    }
    registryFiles.push(path);
  }
  const configPath = join(storage, "core.config");
  let timeZone: string | undefined;
  if (existsSync(configPath)) {
    const parsed = CoreConfigSchema.safeParse(readStore(configPath));
    timeZone = parsed.success ? parsed.data.data.time_zone : undefined;
  }
  timeZone ??= yamlTimeZone(join(configDir, "configuration.yaml"));
  return { registries, registryFiles, ...(timeZone !== undefined ? { timeZone } : {}) };
}

/**
 * `homeassistant: time_zone:` of `configuration.yaml`, where Home Assistant takes the time zone from
 * when the YAML sets it (then `.storage/core.config` has none). Read with a line pattern rather than a
 * YAML parser: Home Assistant's YAML uses its own tags (`!include`, `!secret`) that a stock parser
 * rejects, and this one scalar is all the import needs.
 */
function yamlTimeZone(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  const match =
    /^homeassistant:[^\n]*\n(?:(?:[ \t]+[^\n]*|[ \t]*#[^\n]*|[ \t]*)\n)*?[ \t]+time_zone:[ \t]*["']?([A-Za-z0-9_+\-/]+)["']?[ \t]*(?:#.*)?$/m.exec(
      readFileSync(path, "utf8"),
    );
  return match?.[1];
}

/**
 * The attributes with the registries' enrichment, exactly as the live source submits them: the
 * registries decide `area`, `device_name` and `integration`, never an attribute of the same name.
 */
export function enrichAttributes(
  attributes: Record<string, unknown>,
  entityId: string,
  registries: Registries,
): Record<string, unknown> {
  const result = { ...attributes };
  for (const key of ENRICHMENT_KEYS) delete result[key];
  return Object.assign(result, registries.of(entityId));
}
