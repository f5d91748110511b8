/**
 * Which buckets an event goes to. Every event goes to the events bucket unless a rule says `instead`;
 * weather readings (the `weather` domain and the configured weather entity) also go to the weather
 * bucket; the configured rules add (`also`) or redirect (`instead`) by entity, domain or glob. The
 * writer's own statistics go to the system bucket by a separate path (`pipeline.ts`).
 */
import { ROUTABLE_BUCKETS, type RoutableBucket, type WriterConfig } from "./config";
import { selectorMatches } from "./filters";

const MAX_CACHED = 100_000;

/** Resolves bucket names per entity; answers are cached and shared, never mutate them. */
export class Router {
  private readonly cache = new Map<string, readonly string[]>();
  private readonly buckets: Readonly<Record<RoutableBucket, string>>;

  constructor(private readonly config: Pick<WriterConfig, "influxdb" | "routing" | "homeAssistant">) {
    this.buckets = config.influxdb.buckets;
    for (const role of ROUTABLE_BUCKETS) if (!this.buckets[role]) throw new Error(`no bucket configured for ${role}`);
  }

  /** Bucket names (deduplicated, in a stable order) for events of this entity. */
  route(entityId: string, domain: string): readonly string[] {
    let answer = this.cache.get(entityId);
    if (answer === undefined) {
      if (this.cache.size >= MAX_CACHED) this.cache.clear();
      answer = Object.freeze(this.resolve(entityId, domain));
      this.cache.set(entityId, answer);
    }
    return answer;
  }

  private resolve(entityId: string, domain: string): string[] {
    const roles = new Set<RoutableBucket>(["events"]);
    if (domain === "weather" || entityId === this.config.homeAssistant?.weatherEntity) roles.add("weather");
    let redirected = false;
    for (const rule of this.config.routing.rules) {
      if (!selectorMatches(rule.match, entityId, domain)) continue;
      if (rule.mode === "instead" && !redirected) {
        roles.delete("events");
        redirected = true;
      }
      roles.add(rule.bucket);
    }
    return [...new Set([...roles].map((role) => this.buckets[role]))];
  }
}
