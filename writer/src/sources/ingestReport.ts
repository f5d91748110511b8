/**
 * The answer of `POST /events`: one result per event for small bodies, counts per reason and the
 * first rejections for large ones, so the answer's size never follows the body's.
 */
import type { SubmitResult } from "./sink";

/** Bodies of at most this many events are answered with one result per event. */
export const DETAILED_RESULTS_UP_TO = 1000;
/** Larger bodies are answered with counts and this many rejections (the first, in body order). */
export const SUMMARY_REJECTIONS = 100;

/** Codes of events refused by ingest itself, before the pipeline sees them. */
export type IngestRejectReason = "invalid_json" | "invalid_utf8" | "event_too_large";

/** One event's outcome in the response; `line` (1-based) is given for NDJSON bodies. */
export interface IngestEventResult {
  /** Position of the event in the body (0-based), counting bad NDJSON lines too. */
  index: number;
  /** Line of the event in an NDJSON body. */
  line?: number;
  /** What became of the event. */
  status: SubmitResult["status"];
  /** Machine-readable code when not accepted: the pipeline's codes, or ingest's own for an unreadable line. */
  reason?: NonNullable<SubmitResult["reason"]> | IngestRejectReason;
  /** Human-readable explanation when not accepted. */
  message?: string;
  /** The entity, when the event named one. */
  entityId?: string;
}

/** The response body of `POST /events`. */
export interface IngestResponse {
  /** Events now durable in the spool. */
  accepted: number;
  /** Events that failed validation or could not be read. */
  rejected: number;
  /** Events valid but excluded by the include/exclude filters. */
  filtered: number;
  /** One entry per event in body order, for bodies of at most `DETAILED_RESULTS_UP_TO` events. */
  results?: IngestEventResult[];
  /** Larger bodies instead: the first `SUMMARY_REJECTIONS` rejected events, in body order. */
  rejections?: IngestEventResult[];
  /** Larger bodies: rejected and filtered events per reason code. */
  reasons?: Record<string, number>;
}

/** Collects outcomes in body order: every one for small bodies, counts and the first rejections for large ones. */
export class IngestReport {
  accepted = 0;
  rejected = 0;
  filtered = 0;
  private readonly results: IngestEventResult[] = [];
  private readonly reasons: Record<string, number> = {};

  constructor(private readonly detailed: boolean) {}

  /** Records the next event's outcome (calls come in body order). */
  add(result: IngestEventResult): void {
    if (result.status === "accepted") this.accepted++;
    else if (result.status === "rejected") this.rejected++;
    else this.filtered++;
    if (this.detailed) this.results.push(result);
    else if (result.status !== "accepted") {
      this.reasons[result.reason!] = (this.reasons[result.reason!] ?? 0) + 1;
      if (result.status === "rejected" && this.results.length < SUMMARY_REJECTIONS) this.results.push(result);
    }
  }

  /** The response body. */
  response(): IngestResponse {
    const counts = { accepted: this.accepted, rejected: this.rejected, filtered: this.filtered };
    return this.detailed
      ? { ...counts, results: this.results }
      : { ...counts, rejections: this.results, reasons: this.reasons };
  }
}
