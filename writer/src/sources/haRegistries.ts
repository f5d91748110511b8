/**
 * What Home Assistant's states do not carry: the area, device and integration of an entity. They live
 * in the area, device and entity registries (`config/*_registry/list` over the WebSocket API), which
 * change through `*_registry_updated` events. This module holds the three lists and answers, per
 * entity, the enrichment the mapping writes as tags:
 * - `area`: the name of the entity's area, else of its device's area;
 * - `device_name`: the device's `name_by_user`, else its `name`; none for an entity without a device;
 * - `integration`: the entity registry's `platform` (the integration that provides the entity).
 * Entities without a registry entry (YAML-only ones without a `unique_id`) get none of the three.
 */
import { z } from "zod";

const AreaSchema = z.looseObject({ area_id: z.string(), name: z.string() });
const DeviceSchema = z.looseObject({
  id: z.string(),
  area_id: z.string().nullish(),
  name: z.string().nullish(),
  name_by_user: z.string().nullish(),
});
const EntitySchema = z.looseObject({
  entity_id: z.string(),
  area_id: z.string().nullish(),
  device_id: z.string().nullish(),
  platform: z.string().nullish(),
});

/** The three registry lists as Home Assistant answers them (only the keys the writer uses are checked). */
export const RegistryListsSchema = z.object({
  areas: z.array(AreaSchema),
  devices: z.array(DeviceSchema),
  entities: z.array(EntitySchema),
});
export type RegistryLists = z.infer<typeof RegistryListsSchema>;
export type RegistryKind = keyof RegistryLists;

/** The WebSocket command that lists each registry, and the event that says it changed. */
export const REGISTRY_COMMANDS: Readonly<Record<RegistryKind, { list: string; updated: string }>> = {
  areas: { list: "config/area_registry/list", updated: "area_registry_updated" },
  devices: { list: "config/device_registry/list", updated: "device_registry_updated" },
  entities: { list: "config/entity_registry/list", updated: "entity_registry_updated" },
};

/** Registry data written with an entity's points. */
export interface Enrichment {
  area?: string;
  device_name?: string;
  integration?: string;
}

/** The registries, indexed for per-event lookups. */
export class Registries {
  private lists: RegistryLists = { areas: [], devices: [], entities: [] };
  private readonly enrichment = new Map<string, Enrichment>();
  private loaded = false;

  /** Whether any list was ever loaded (from Home Assistant or the cache). */
  get isLoaded(): boolean {
    return this.loaded;
  }

  /** Replaces one list (as answered by Home Assistant); throws a zod error when its shape is wrong. */
  replace(kind: RegistryKind, list: unknown): void {
    const parsed = RegistryListsSchema.shape[kind].parse(list);
    this.lists = { ...this.lists, [kind]: parsed };
    this.loaded = true;
    this.rebuild();
  }

  /** Replaces all three lists (from the cache). */
  restore(lists: RegistryLists): void {
    this.lists = lists;
    this.loaded = true;
    this.rebuild();
  }

  /** The lists, trimmed to the keys the writer uses, for the cache. */
  snapshot(): RegistryLists {
    return {
      areas: this.lists.areas.map(({ area_id, name }) => ({ area_id, name })),
      devices: this.lists.devices.map(({ id, area_id, name, name_by_user }) => ({ id, area_id, name, name_by_user })),
      entities: this.lists.entities.map(({ entity_id, area_id, device_id, platform }) => ({
        entity_id,
        area_id,
        device_id,
        platform,
      })),
    };
  }

  /** The enrichment of an entity; empty when the registries do not know it. */
  of(entityId: string): Enrichment {
    return this.enrichment.get(entityId) ?? NONE;
  }

  private rebuild(): void {
    const areaNames = new Map(this.lists.areas.map((area) => [area.area_id, area.name]));
    const devices = new Map(this.lists.devices.map((device) => [device.id, device]));
    this.enrichment.clear();
    for (const entity of this.lists.entities) {
      const device = entity.device_id ? devices.get(entity.device_id) : undefined;
      const areaId = entity.area_id ?? device?.area_id ?? undefined;
      const value: Enrichment = {};
      const area = areaId ? areaNames.get(areaId) : undefined;
      if (area) value.area = area;
      const deviceName = device ? device.name_by_user || device.name : undefined;
      if (deviceName) value.device_name = deviceName;
      if (entity.platform) value.integration = entity.platform;
      this.enrichment.set(entity.entity_id, value);
    }
  }
}

const NONE: Enrichment = Object.freeze({});

/** The keys of `Enrichment`: set from the registries on every Home Assistant state, never from attributes. */
export const ENRICHMENT_KEYS = ["area", "device_name", "integration"] as const;
