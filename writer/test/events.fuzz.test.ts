/**
 * Generated input for the hand-written event parser: it never throws, accepts what the contract
 * (`docs/schema.md`) accepts, and agrees with plain references (a regular expression for entity ids,
 * `Date.parse` for millisecond timestamps) on inputs the table tests do not list.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isEntityId } from "../src/entityId";
import { DEFAULT_EVENT_LIMITS, parseEvent, parseTimestampUs, REJECT_REASONS } from "../src/events";
import { ZoneClock } from "../src/timezone";

const clock = new ZoneClock("Europe/Berlin");
const RECEIVED_US = Date.UTC(2026, 5, 1, 10, 0, 0) * 1000;
const KNOWN_REASONS = new Set([...Object.keys(REJECT_REASONS), "entity_removed"]);

const slug = fc.stringMatching(/^[a-z0-9_]{1,20}$/);
const entityId = fc.tuple(slug, slug).map(([domain, object]) => `${domain}.${object}`);
const isoTime = fc
  .date({ min: new Date("2000-01-01T00:00:00Z"), max: new Date("2099-12-31T23:59:59Z"), noInvalidDate: true })
  .chain((date) =>
    fc.constantFrom("Z", "+00:00", "+02:00", "-05:30", "+0100").map((zone) => {
      const iso = date.toISOString().slice(0, 23);
      if (zone === "Z") return `${iso}Z`;
      const sign = zone[0] === "-" ? -1 : 1;
      const minutes = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.replace(":", "").slice(3, 5)));
      return `${new Date(date.getTime() + minutes * 60_000).toISOString().slice(0, 23)}${zone}`;
    }),
  );
const shortText = fc.string({ maxLength: 40 });
const attributes = fc.record(
  {
    friendly_name: shortText,
    device_class: shortText,
    unit_of_measurement: shortText,
    area: shortText,
    extra: fc.jsonValue(),
  },
  { requiredKeys: [] },
);
const flatEvent = fc.record(
  {
    entity_id: entityId,
    state: fc.oneof(fc.string({ maxLength: 255 }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean()),
    attributes,
    timestamp: isoTime,
    weather: fc.record(
      { temperature: fc.double({ noNaN: true, noDefaultInfinity: true }), condition: shortText },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: ["entity_id", "state"] },
);
const stateChanged = fc
  .record({
    id: entityId,
    state: fc.string({ maxLength: 255 }),
    old: fc.option(fc.string({ maxLength: 255 })),
    attributes,
    updated: isoTime,
  })
  .map(({ id, state, old, attributes: attrs, updated }) => ({
    entity_id: id,
    old_state: old === null ? null : { entity_id: id, state: old, last_changed: updated },
    new_state: { entity_id: id, state, attributes: attrs, last_changed: updated, last_updated: updated },
  }));

describe("parseEvent on generated input", () => {
  it("never throws, and every refusal carries a known reason and a message", () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.jsonValue(), flatEvent, stateChanged), (raw) => {
        const result = parseEvent(raw, RECEIVED_US, clock);
        if (!result.ok) {
          expect(KNOWN_REASONS.has(result.reason)).toBe(true);
          expect(result.message.length).toBeGreaterThan(0);
        }
      }),
    );
  });

  it("accepts every event of the contract's shapes and keeps its entity, domain and state", () => {
    fc.assert(
      fc.property(fc.oneof(flatEvent, stateChanged), (raw) => {
        const result = parseEvent(raw, RECEIVED_US, clock);
        expect(result.ok).toBe(true);
        if (!result.ok) return;
        const id = (raw as { entity_id: string }).entity_id;
        expect(result.event.entityId).toBe(id);
        expect(result.event.domain).toBe(id.split(".")[0]);
        const state = "new_state" in raw ? raw.new_state.state : String((raw as { state: unknown }).state);
        expect(result.event.state).toBe(state);
      }),
    );
  });

  it("rejects an event whose tag attribute passes the limit, whatever else it holds", () => {
    fc.assert(
      fc.property(
        flatEvent,
        fc.integer({ min: DEFAULT_EVENT_LIMITS.maxTagValueBytes + 1, max: 5000 }),
        (raw, length) => {
          const oversized = { ...raw, attributes: { ...raw.attributes, friendly_name: "x".repeat(length) } };
          expect(parseEvent(oversized, RECEIVED_US, clock)).toMatchObject({ ok: false, reason: "tag_too_long" });
        },
      ),
    );
  });
});

describe("the entity-id rule", () => {
  it("agrees with the regular expression of its definition on strings near the rule", () => {
    const nearId = fc.string({ unit: fc.constantFrom(..."ab_9.Z -é"), maxLength: 12 });
    fc.assert(
      fc.property(nearId, (text) => {
        expect(isEntityId(text)).toBe(/^[a-z0-9_]+\.[a-z0-9_]+$/.test(text));
      }),
    );
  });
});

describe("parseTimestampUs", () => {
  it("agrees with Date.parse on millisecond ISO timestamps with any offset", () => {
    fc.assert(
      fc.property(isoTime, (text) => {
        expect(parseTimestampUs(text, clock)).toBe(Date.parse(text) * 1000);
      }),
    );
  });
});
