import * as pulumi from "@pulumi/pulumi";
import { canonical, defined, inputChecker } from "./common";

/** What `/health` of a healthy server reported. */
export interface ServerHealth {
  /** The server's version, e.g. `v2.7.12`. */
  version: string;
}

/**
 * Polls `GET {url}/health` until the server reports `pass`, for at most `deadlineMs` milliseconds
 * from the call; then fails with the last reason it was not healthy.
 */
export async function waitForHealthy(url: string, deadlineMs: number): Promise<ServerHealth> {
  const healthUrl = `${url.replace(/\/+$/, "")}/health`;
  const giveUpAt = Date.now() + deadlineMs;
  let lastProblem = "no answer yet";
  for (;;) {
    try {
      const response = await fetch(healthUrl, {
        signal: AbortSignal.timeout(Math.max(1, Math.min(5_000, giveUpAt - Date.now()))),
      });
      const body = (await response.json().catch(() => ({}))) as { status?: string; version?: string; message?: string };
      if (response.ok && body.status === "pass") return { version: body.version ?? "unknown" };
      lastProblem = `HTTP ${response.status}, status ${JSON.stringify(body.status)}${body.message ? `: ${body.message}` : ""}`;
    } catch (error) {
      lastProblem =
        error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
    }
    if (Date.now() >= giveUpAt) {
      throw new Error(
        `InfluxDB at ${url} did not become healthy within ${Math.round(deadlineMs / 1000)} s: ${lastProblem}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(250, Math.max(0, giveUpAt - Date.now()))));
  }
}

/** Arguments of a {@link ServerReady}. */
export interface ServerReadyArgs {
  /** Base URL of the server to wait for. */
  url: pulumi.Input<string>;
  /** How long to wait for `/health` to pass, in seconds. */
  timeoutSeconds: pulumi.Input<number>;
  /**
   * Anything that changes when the server is replaced (e.g. its container id): a change makes the
   * wait run again, so resources that depend on it do not talk to a server that is still starting.
   */
  trigger?: pulumi.Input<string | undefined>;
}

/** ServerReady inputs as the provider receives them. */
export interface ServerReadyInputs {
  /** Base URL. */
  url: string;
  /** Deadline in seconds. */
  timeoutSeconds: number;
  /** Replacement marker of the server. */
  trigger?: string;
}

/** ServerReady state: the inputs and the version the server reported. */
export interface ServerReadyOutputs extends ServerReadyInputs {
  /** Version reported by `/health`. */
  version: string;
}

/** Every input change waits again, in place; there is nothing to replace. */
export const serverReadyRules = { inPlace: ["url", "timeoutSeconds", "trigger"], replace: [] } as const;

/** A resource with no server-side object: create, update and read wait for `/health`. */
export const serverReadyProvider: pulumi.dynamic.ResourceProvider<ServerReadyInputs, ServerReadyOutputs> = {
  async check(_olds, news) {
    const checker = inputChecker(news);
    checker.string("url");
    checker.integer("timeoutSeconds", { min: 1 });
    checker.string("trigger", { optional: true });
    return checker.result();
  },

  async diff(_id, olds, news) {
    const changed = serverReadyRules.inPlace.some((key) => canonical(olds[key]) !== canonical(news[key]));
    return { changes: changed, replaces: [] };
  },

  async create(inputs) {
    const health = await waitForHealthy(inputs.url, inputs.timeoutSeconds * 1000);
    return { id: inputs.url, outs: defined({ ...inputs, version: health.version }) };
  },

  async read(id, props) {
    const olds = props as ServerReadyOutputs;
    const health = await waitForHealthy(olds.url, olds.timeoutSeconds * 1000);
    return { id, props: defined({ ...olds, version: health.version }) };
  },

  async update(_id, _olds, news) {
    const health = await waitForHealthy(news.url, news.timeoutSeconds * 1000);
    return { outs: defined({ ...news, version: health.version }) };
  },

  async delete() {
    // Nothing exists on the server for this resource.
  },
};

/**
 * Waits until the server answers `/health` with `pass`. Make every resource that talks to the server
 * `dependsOn` it. Its `id` is the URL.
 */
export class ServerReady extends pulumi.dynamic.Resource {
  /** Base URL of the server. */
  declare public readonly url: pulumi.Output<string>;
  /** Deadline in seconds. */
  declare public readonly timeoutSeconds: pulumi.Output<number>;
  /** Version reported by `/health`. */
  declare public readonly version: pulumi.Output<string>;

  constructor(name: string, args: ServerReadyArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      serverReadyProvider,
      name,
      { url: args.url, timeoutSeconds: args.timeoutSeconds, trigger: args.trigger, version: undefined },
      opts,
      "influxdb",
      "ServerReady",
    );
  }
}
