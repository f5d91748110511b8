/**
 * Home Assistant's entity id, the one rule every part of the project uses (events, filters, the
 * weather entity, the stack configuration): `<domain>.<object_id>`, each part one or more lower-case
 * letters, digits or underscores, at most 255 characters in all (Home Assistant's own bound).
 */

/** Home Assistant refuses longer entity ids. */
export const MAX_ENTITY_ID_LENGTH = 255;

/** What `isEntityId` accepts, in words, for error messages. */
export const ENTITY_ID_RULE = "an entity id like sensor.kitchen";

/** True for a valid entity id. By character codes rather than a regular expression: it runs for every event. */
export function isEntityId(value: unknown): value is string {
  if (typeof value !== "string") return false;
  const length = value.length;
  if (length > MAX_ENTITY_ID_LENGTH) return false;
  let dot = -1;
  for (let i = 0; i < length; i++) {
    const c = value.charCodeAt(i);
    if (c === 46) {
      if (dot !== -1) return false;
      dot = i;
    } else if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95)) {
      return false;
    }
  }
  return dot > 0 && dot < length - 1;
}

/** True for a valid domain (the part of an entity id before the dot). */
export function isDomain(value: unknown): value is string {
  return typeof value === "string" && value.length < MAX_ENTITY_ID_LENGTH && isEntityId(`${value}.x`);
}

/** The domain of a valid entity id. */
export function domainOf(entityId: string): string {
  return entityId.slice(0, entityId.indexOf("."));
}
