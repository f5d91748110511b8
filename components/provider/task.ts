import * as pulumi from "@pulumi/pulumi";
import {
  type ConnectedInputs,
  defined,
  diffByRules,
  type InfluxConnectionArgs,
  ignoreNotFound,
  influxApis,
  inputChecker,
  UNKNOWN,
  unlessGone,
} from "./common";
import { connectedInputs, connectedOptions } from "./resource-options";

/** Whether the server schedules a task. */
export type TaskStatus = "active" | "inactive";

/** Arguments of a {@link Task}. */
export interface TaskArgs {
  /** Where and how to reach the server. */
  connection: InfluxConnectionArgs;
  /** Id of the organisation that owns the task. */
  orgId: pulumi.Input<string>;
  /** Task name (goes into the `option task` record). */
  name: pulumi.Input<string>;
  /** The Flux query body, without an `option task = {...}` line: the provider writes that itself. */
  flux: pulumi.Input<string>;
  /** Run interval as a Flux duration literal, e.g. `1h`. Exactly one of `every` and `cron`. */
  every?: pulumi.Input<string | undefined>;
  /** Run schedule as a cron expression, e.g. `0 * * * *`. Exactly one of `every` and `cron`. */
  cron?: pulumi.Input<string | undefined>;
  /** Delay after each scheduled time before the run starts (Flux duration), so late data is included. */
  offset?: pulumi.Input<string | undefined>;
  /** `active` tasks are scheduled; `inactive` ones are kept but never run. */
  status: pulumi.Input<TaskStatus>;
  /** Free text shown in the InfluxDB UI. */
  description?: pulumi.Input<string | undefined>;
}

/** Task inputs as the provider receives them. */
export interface TaskInputs extends ConnectedInputs {
  /** Owning organisation id. */
  orgId: string;
  /** Task name. */
  name: string;
  /** Flux query body. */
  flux: string;
  /** Run interval (Flux duration). */
  every?: string;
  /** Cron schedule. */
  cron?: string;
  /** Delay after each scheduled time (Flux duration). */
  offset?: string;
  /** Scheduling status. */
  status: TaskStatus;
  /** Free text; absent means empty. */
  description?: string;
}

/**
 * Name, Flux, schedule, offset, status and description update in place (PATCH /api/v2/tasks/{id},
 * which rewrites the whole script); a task cannot move to another organisation, so `orgId` replaces it.
 */
export const taskRules = {
  inPlace: ["name", "flux", "every", "cron", "offset", "status", "description", "connection", "providerVersion"],
  replace: ["orgId"],
} as const;

const FLUX_DURATION = /^(\d+(ns|us|µs|ms|s|mo|m|h|d|w|y))+$/;

/** Leading `import` lines (and blank lines among them) of a Flux script. */
const IMPORT_BLOCK = /^(?:import[^\n]*\n|[ \t]*\n)*/;

/**
 * The full task script: the query body with the `option task` record built from the inputs. Flux
 * accepts statements only after every import, so the record goes on its own line right after the
 * import block; `queryBody` removes exactly that line again.
 */
export function taskScript(task: Pick<TaskInputs, "name" | "flux" | "every" | "cron" | "offset">): string {
  const options = [`name: ${JSON.stringify(task.name)}`];
  if (task.every !== undefined) options.push(`every: ${task.every}`);
  if (task.cron !== undefined) options.push(`cron: ${JSON.stringify(task.cron)}`);
  if (task.offset !== undefined) options.push(`offset: ${task.offset}`);
  const imports = IMPORT_BLOCK.exec(task.flux)![0];
  return `${imports}option task = {${options.join(", ")}}\n${task.flux.slice(imports.length)}`;
}

const NANOS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
  d: 86_400e9,
  w: 604_800e9,
};

/**
 * The spelling of a duration to keep after reading it back: the stored one when the server's value
 * means the same span (it may print `90m` as `1h30m`), so a re-spelling is not reported as drift.
 */
function sameDurationSpelling(stored: string | undefined, live: string | undefined): string | undefined {
  if (stored === undefined || live === undefined) return live;
  const nanos = (d: string) => {
    let total = 0;
    for (const [, amount, unit] of d.matchAll(/(\d+)([a-zµ]+)/g)) {
      if (!(unit in NANOS)) return undefined;
      total += Number(amount) * NANOS[unit];
    }
    return total;
  };
  const a = nanos(stored);
  return a !== undefined && a === nanos(live) ? stored : live;
}

/** The query body of a script this provider wrote; a script edited elsewhere comes back whole. */
function queryBody(script: string): string {
  const imports = IMPORT_BLOCK.exec(script)![0];
  const option = /^option task = \{[^\n]*\}\n/.exec(script.slice(imports.length));
  return option ? imports + script.slice(imports.length + option[0].length) : script;
}

/** CRUD for an InfluxDB task; the resource id is the task id. */
export const taskProvider: pulumi.dynamic.ResourceProvider<TaskInputs, TaskInputs> = {
  async check(_olds, news) {
    const inputs = news as unknown as Record<string, unknown>;
    const checker = inputChecker(inputs);
    checker.connection();
    checker.string("orgId");
    checker.string("name");
    checker.string("flux");
    if (typeof news.flux === "string" && /^\s*option\s+task\s*=/m.test(news.flux)) {
      checker.fail("flux", "flux must not set `option task`; the provider builds it from name, every, cron and offset");
    }
    const schedules = ["every", "cron"].filter((key) => inputs[key] !== undefined);
    if (schedules.length !== 1 && !schedules.some((key) => inputs[key] === UNKNOWN)) {
      checker.fail(schedules.length === 0 ? "every" : "cron", "exactly one of every and cron must be set");
    }
    for (const key of ["every", "offset"]) {
      const value = inputs[key];
      if (value !== undefined && value !== UNKNOWN && (typeof value !== "string" || !FLUX_DURATION.test(value))) {
        checker.fail(key, `${key} must be a Flux duration such as 1h or 5m, got ${JSON.stringify(value)}`);
      }
    }
    const cron = inputs.cron;
    if (cron !== undefined && cron !== UNKNOWN && (typeof cron !== "string" || !/^\S+( \S+){4,5}$/.test(cron.trim()))) {
      checker.fail("cron", `cron must be a cron expression of 5 or 6 fields, got ${JSON.stringify(cron)}`);
    }
    checker.oneOf("status", ["active", "inactive"]);
    checker.string("description", { optional: true });
    return checker.result();
  },

  async diff(_id, olds, news) {
    return diffByRules(
      { ...olds, description: olds.description || undefined },
      { ...news, description: news.description || undefined },
      taskRules,
    );
  },

  async create(inputs) {
    const { tasks } = await influxApis(inputs.connection);
    const task = await tasks.postTasks({
      body: { orgID: inputs.orgId, flux: taskScript(inputs), status: inputs.status, description: inputs.description },
    });
    return { id: task.id, outs: defined(inputs) };
  },

  async read(id, props) {
    const olds = props as TaskInputs;
    const { tasks } = await influxApis(olds.connection);
    const task = await unlessGone(() => tasks.getTasksID({ taskID: id }));
    if (!task) return {};
    const live: TaskInputs = {
      ...olds,
      orgId: task.orgID,
      name: task.name,
      flux: queryBody(task.flux),
      every: sameDurationSpelling(olds.every, task.every || undefined),
      cron: task.cron || undefined,
      offset: sameDurationSpelling(olds.offset, task.offset || undefined),
      status: task.status ?? "active",
      description: task.description || undefined,
    };
    return { id, props: defined(live), inputs: defined(live) };
  },

  async update(id, _olds, news) {
    const { tasks } = await influxApis(news.connection);
    // An empty description clears it; leaving it out would keep the old text.
    await tasks.patchTasksID({
      taskID: id,
      body: { flux: taskScript(news), status: news.status, description: news.description ?? "" },
    });
    return { outs: defined(news) };
  },

  async delete(id, props) {
    const { tasks } = await influxApis(props.connection);
    await ignoreNotFound(() => tasks.deleteTasksID({ taskID: id }));
  },
};

/** An InfluxDB task (POST /api/v2/tasks). Its `id` is the task id. */
export class Task extends pulumi.dynamic.Resource {
  /** Owning organisation id. */
  declare public readonly orgId: pulumi.Output<string>;
  /** Task name. */
  declare public readonly name: pulumi.Output<string>;
  /** Flux query body (without the `option task` line). */
  declare public readonly flux: pulumi.Output<string>;
  /** Run interval, when scheduled by interval. */
  declare public readonly every: pulumi.Output<string | undefined>;
  /** Cron schedule, when scheduled by cron. */
  declare public readonly cron: pulumi.Output<string | undefined>;
  /** Delay after each scheduled time. */
  declare public readonly offset: pulumi.Output<string | undefined>;
  /** Scheduling status. */
  declare public readonly status: pulumi.Output<TaskStatus>;
  /** Free text shown in the InfluxDB UI. */
  declare public readonly description: pulumi.Output<string | undefined>;

  constructor(name: string, args: TaskArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      taskProvider,
      name,
      {
        ...connectedInputs(args.connection),
        orgId: args.orgId,
        name: args.name,
        flux: args.flux,
        every: args.every,
        cron: args.cron,
        offset: args.offset,
        status: args.status,
        description: args.description,
      },
      connectedOptions(opts),
      "influxdb",
      "Task",
    );
  }
}
