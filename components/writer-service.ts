import * as path from "node:path";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { WriterConfig } from "./writer-config";

/** Where the configuration file and the spool live inside the writer container. */
export const WRITER_CONFIG_PATH = "/etc/ha-influx-writer/config.json";
export const WRITER_SPOOL_PATH = "/var/lib/ha-influx-writer/spool";
/** Where the server's data volume is mounted (read-only) in the writer container, for `statfs`. */
export const WRITER_SERVER_DATA_PATH = "/var/lib/influxdb2-data";
/** Seconds the writer gets to flush on stop. */
const SHUTDOWN_TIMEOUT_SECONDS = 25;
/**
 * Build context of the writer image: the repository root, so the root lock file pins the writer's
 * dependencies (the root `.dockerignore` sends only what the image is built from).
 */
const BUILD_CONTEXT = path.join(__dirname, "..");

/** Arguments of a {@link WriterService}. */
export interface WriterServiceArgs {
  /** The writer's configuration (secret: it holds tokens). */
  config: pulumi.Input<WriterConfig>;
  /** Server URL as seen from inside the container; overrides `config.influxdb.url`. */
  influxUrl: pulumi.Input<string>;
  /** Docker network shared with the server, when the server is a container of this stack. */
  networkName?: pulumi.Input<string>;
  /** A prebuilt image (followed by its id, so a new image under the same tag replaces the container); unset builds `writer/Dockerfile`. */
  image?: pulumi.Input<string>;
  /** Tag of the image built from `writer/`. */
  buildTag: pulumi.Input<string>;
  /** Name of the docker volume holding the spool, which must outlive the container. */
  spoolVolumeName: pulumi.Input<string>;
  /**
   * The server's data volume, mounted read-only at {@link WRITER_SERVER_DATA_PATH} so the storage
   * monitor can `statfs` the filesystem InfluxDB fills; unset mounts nothing.
   */
  serverDataVolumeName?: pulumi.Input<string>;
  /** Host address the ingest port is published on, when ingest is configured. */
  ingestBindAddress?: pulumi.Input<string>;
  /** Ingest port (container and host), when ingest is configured. */
  ingestPort?: pulumi.Input<number>;
}

/**
 * The bundled writer as a container: configured from the program's outputs through a file, with its
 * durable spool on a named volume and enough time on stop to flush.
 */
export class WriterService extends pulumi.ComponentResource {
  /**
   * Image the container runs, by digest or id rather than by tag: a rebuilt image gets a new one, so
   * the container is replaced, while a tag alone would never change.
   */
  public readonly imageRef: pulumi.Output<string>;
  /** Id of the writer container. */
  public readonly containerId: pulumi.Output<string>;

  constructor(name: string, args: WriterServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ha-influx:writer:WriterService", name, {}, opts);

    this.imageRef =
      args.image === undefined
        ? new docker.Image(
            `${name}-image`,
            {
              imageName: args.buildTag,
              build: { context: BUILD_CONTEXT, dockerfile: path.join(BUILD_CONTEXT, "writer", "Dockerfile") },
              skipPush: true,
            },
            { parent: this },
          ).repoDigest
        : new docker.RemoteImage(`${name}-image`, { name: args.image, keepLocally: true }, { parent: this }).imageId;

    const spool = new docker.Volume(
      `${name}-spool`,
      { name: args.spoolVolumeName },
      // Events accepted but not yet delivered live here; they must survive the container and the stack.
      { parent: this, retainOnDelete: true },
    );

    const ingestPorts =
      args.ingestPort === undefined
        ? []
        : [{ internal: args.ingestPort, external: args.ingestPort, ip: args.ingestBindAddress ?? "127.0.0.1" }];

    const container = new docker.Container(
      name,
      {
        image: this.imageRef,
        restart: "unless-stopped",
        envs: [
          pulumi.interpolate`INFLUXDB_URL=${args.influxUrl}`,
          `WRITER_CONFIG_FILE=${WRITER_CONFIG_PATH}`,
          `WRITER_SPOOL_DIR=${WRITER_SPOOL_PATH}`,
        ],
        uploads: [
          {
            file: WRITER_CONFIG_PATH,
            content: pulumi.secret(pulumi.output(args.config).apply((config) => JSON.stringify(config, null, 2))),
          },
        ],
        volumes: [
          { volumeName: spool.name, containerPath: WRITER_SPOOL_PATH },
          // Read-only: the writer only asks the filesystem how full it is and never touches InfluxDB's files.
          ...(args.serverDataVolumeName === undefined
            ? []
            : [{ volumeName: args.serverDataVolumeName, containerPath: WRITER_SERVER_DATA_PATH, readOnly: true }]),
        ],
        networksAdvanced: args.networkName === undefined ? [] : [{ name: args.networkName }],
        ports: ingestPorts,
        // SIGTERM makes the writer flush its batches within its shutdown timeout; docker waits a little
        // longer before it kills.
        command: ["--shutdown-timeout", String(SHUTDOWN_TIMEOUT_SECONDS)],
        stopSignal: "SIGTERM",
        stopTimeout: SHUTDOWN_TIMEOUT_SECONDS + 5,
        destroyGraceSeconds: SHUTDOWN_TIMEOUT_SECONDS + 5,
      },
      // Two writers must never share one spool directory, so the old container goes first.
      { parent: this, deleteBeforeReplace: true },
    );
    this.containerId = container.id;

    this.registerOutputs({ imageRef: this.imageRef, containerId: this.containerId });
  }
}
