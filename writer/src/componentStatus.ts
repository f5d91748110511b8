/** Health of one component, as `/status` reports it; every component (sources, delivery, weather) speaks it. */
export interface ComponentStatus {
  /** Component name: `influxdb`, `weather`, … */
  name: string;
  /** Whether the component currently works. */
  healthy: boolean;
  /** One line on the current state. */
  message: string;
  /** The last error, already free of secrets (may quote event data: `/status` shows it only with the ingest token). */
  lastError?: string;
  /** ISO time of the last error. */
  lastErrorAt?: string;
  /** ISO time of the last success (for `influxdb`: the last 204). */
  lastSuccessAt?: string;
  /** Component-specific figures (spool bytes and events, …). */
  details?: Record<string, unknown>;
}
