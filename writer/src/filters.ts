/**
 * Include/exclude filters with Home Assistant's own semantics (the `recorder`/`influxdb` integrations'
 * `include`/`exclude` with `entities`, `domains` and `entity_globs`), so a user's existing YAML
 * translates one to one:
 *
 * 1. no filter: everything passes;
 * 2. includes only: an entity passes if it is listed, its domain is listed, or a glob matches;
 * 3. excludes only: an entity passes unless it is listed, its domain is listed, or a glob matches;
 * 4. includes with domains or globs (excludes may exist too): a listed entity passes, an excluded entity
 *    fails, an included glob passes, then an included domain passes unless an exclude glob matches;
 *    everything else fails;
 * 5. exclude domains or globs with only entity includes: a listed entity passes, then an excluded
 *    entity, domain or glob fails, everything else passes;
 * 6. only entity lists on both sides: a listed entity passes, everything else fails.
 *
 * Globs are shell-style as in Home Assistant: `*` any run, `?` one character, `[...]` a class.
 */
import type { FilterSelector } from "./config";

const MAX_CACHED = 100_000;

/** Decides per entity id whether events are written; decisions are cached per entity. */
export class EntityFilter {
  private readonly decide: (entityId: string, domain: string) => boolean;
  private readonly cache = new Map<string, boolean>();

  constructor(filters: { include: FilterSelector; exclude: FilterSelector }) {
    this.decide = compile(filters.include, filters.exclude);
  }

  /** True when events of this entity are written. */
  passes(entityId: string, domain: string): boolean {
    let verdict = this.cache.get(entityId);
    if (verdict === undefined) {
      if (this.cache.size >= MAX_CACHED) this.cache.clear();
      verdict = this.decide(entityId, domain);
      this.cache.set(entityId, verdict);
    }
    return verdict;
  }
}

/** True when the selector names the entity (by id, domain or glob). */
export function selectorMatches(selector: FilterSelector, entityId: string, domain: string): boolean {
  return (
    selector.entities.includes(entityId) ||
    selector.domains.includes(domain) ||
    selector.entityGlobs.some((glob) => globToRegExp(glob).test(entityId))
  );
}

function compile(include: FilterSelector, exclude: FilterSelector): (entityId: string, domain: string) => boolean {
  const includeEntities = new Set(include.entities);
  const excludeEntities = new Set(exclude.entities);
  const includeDomains = new Set(include.domains);
  const excludeDomains = new Set(exclude.domains);
  const includeGlob = anyGlob(include.entityGlobs);
  const excludeGlob = anyGlob(exclude.entityGlobs);
  const hasInclude = includeEntities.size + includeDomains.size + include.entityGlobs.length > 0;
  const hasExclude = excludeEntities.size + excludeDomains.size + exclude.entityGlobs.length > 0;

  if (!hasInclude && !hasExclude) return () => true;
  if (hasInclude && !hasExclude) {
    return (id, domain) => includeEntities.has(id) || includeDomains.has(domain) || includeGlob(id);
  }
  if (!hasInclude && hasExclude) {
    return (id, domain) => !(excludeEntities.has(id) || excludeDomains.has(domain) || excludeGlob(id));
  }
  if (includeDomains.size > 0 || include.entityGlobs.length > 0) {
    return (id, domain) =>
      includeEntities.has(id) ||
      (!excludeEntities.has(id) && (includeGlob(id) || (includeDomains.has(domain) && !excludeGlob(id))));
  }
  if (excludeDomains.size > 0 || exclude.entityGlobs.length > 0) {
    return (id, domain) =>
      includeEntities.has(id) || !(excludeEntities.has(id) || excludeDomains.has(domain) || excludeGlob(id));
  }
  return (id) => includeEntities.has(id);
}

function anyGlob(globs: readonly string[]): (entityId: string) => boolean {
  if (globs.length === 0) return () => false;
  const pattern = new RegExp(globs.map((glob) => globToRegExp(glob).source).join("|"));
  return (entityId) => pattern.test(entityId);
}

/** Why a glob cannot be used (a class that no regular expression takes, e.g. the range in `[z-a]`); undefined when it can. */
export function globProblem(glob: string): string | undefined {
  try {
    globToRegExp(glob);
    return undefined;
  } catch (error) {
    return `is not a usable glob: ${(error as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /, "")}`;
  }
}

/** A shell-style glob as an anchored regular expression. */
export function globToRegExp(glob: string): RegExp {
  let source = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") source += ".*";
    else if (c === "?") source += ".";
    else if (c === "[") {
      // As in fnmatch, a `]` first in the class (after `[` or `[!`) is a member, not its end.
      let from = i + 1;
      if (glob[from] === "!") from++;
      if (glob[from] === "]") from++;
      const close = glob.indexOf("]", from);
      if (close === -1) {
        source += "\\[";
        continue;
      }
      // Backslash and `]` are literal members; a leading `^` is one too (only `!` negates).
      let body = glob.slice(i + 1, close).replace(/[\\\]]/g, "\\$&");
      if (body.startsWith("!")) body = `^${body.slice(1)}`;
      else if (body.startsWith("^")) body = `\\${body}`;
      source += `[${body}]`;
      i = close;
    } else source += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(`^(?:${source})$`);
}
