import * as pulumi from "@pulumi/pulumi";
import { dailyRollupFlux, hourlyRollupFlux, type RollupFluxArgs } from "./flux";
import { type InfluxConnectionArgs, Task } from "./provider";

/** When one rollup task runs. */
export interface RollupSchedule {
  /** Run interval (Flux duration); exactly one of `every` and `cron`. */
  every?: string;
  /** Cron schedule; exactly one of `every` and `cron`. */
  cron?: string;
  /** Delay after each scheduled time, for late points. */
  offset: string;
  /** How far back each run re-aggregates (Flux duration, whole windows). */
  lookback: string;
}

/** Arguments of a {@link Downsampling}. */
export interface DownsamplingArgs {
  /** Server connection with an operator token. */
  connection: InfluxConnectionArgs;
  /** Organisation that owns the tasks. */
  orgId: pulumi.Input<string>;
  /** Bucket of raw events. */
  rawBucket: pulumi.Input<string>;
  /** Bucket the hourly rollup writes to. */
  hourlyBucket: pulumi.Input<string>;
  /** Bucket the daily rollup writes to. */
  dailyBucket: pulumi.Input<string>;
  /** IANA time zone whose hours and days the windows follow. */
  timeZone: pulumi.Input<string>;
  /** Hourly task schedule; unset means no hourly task. */
  hourly?: RollupSchedule;
  /** Daily task schedule; unset means no daily task. */
  daily?: RollupSchedule;
}

/** The hourly and daily rollup tasks, their Flux built by {@link hourlyRollupFlux} and {@link dailyRollupFlux}. */
export class Downsampling extends pulumi.ComponentResource {
  /** Id of the hourly task, if declared. */
  public readonly hourlyTaskId?: pulumi.Output<string>;
  /** Id of the daily task, if declared. */
  public readonly dailyTaskId?: pulumi.Output<string>;

  constructor(name: string, args: DownsamplingArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ha-influx:downsampling:Downsampling", name, {}, opts);

    const rollup = (
      period: "hourly" | "daily",
      schedule: RollupSchedule,
      targetBucket: pulumi.Input<string>,
      build: (a: RollupFluxArgs) => string,
    ) =>
      new Task(
        `${name}-${period}`,
        {
          connection: args.connection,
          orgId: args.orgId,
          name: `${name}-${period}`,
          description: `${period} rollup of Home Assistant history (ha-influx)`,
          flux: pulumi
            .all([args.rawBucket, targetBucket, args.timeZone])
            .apply(([sourceBucket, target, timeZone]) =>
              build({ sourceBucket, targetBucket: target, timeZone, lookback: schedule.lookback }),
            ),
          every: schedule.every,
          cron: schedule.cron,
          offset: schedule.offset,
          status: "active",
        },
        { parent: this },
      ).id;

    if (args.hourly) this.hourlyTaskId = rollup("hourly", args.hourly, args.hourlyBucket, hourlyRollupFlux);
    if (args.daily) this.dailyTaskId = rollup("daily", args.daily, args.dailyBucket, dailyRollupFlux);

    this.registerOutputs({ hourlyTaskId: this.hourlyTaskId, dailyTaskId: this.dailyTaskId });
  }
}
