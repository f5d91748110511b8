import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { Onboarding, ServerReady } from "./provider";

/** Where influxd listens inside its container and the path its data lives under. */
const INFLUXD_PORT = 8086;
const INFLUXD_DATA_PATH = "/var/lib/influxdb2";
/** Network alias other containers of the stack (the writer) reach the server by. */
export const SERVER_ALIAS = "influxdb";

/** Arguments of a {@link DockerInfluxServer}. */
export interface DockerInfluxServerArgs {
  /** Pinned InfluxDB image, e.g. `influxdb:2.7.12`. */
  image: pulumi.Input<string>;
  /** Host address the HTTP port is published on (`127.0.0.1` keeps it off the network). */
  bindAddress: pulumi.Input<string>;
  /** Host port of the HTTP API. */
  port: pulumi.Input<number>;
  /** Name of the docker volume with the server's data; it outlives the container and the stack. */
  volumeName: pulumi.Input<string>;
  /** Seconds to wait for `/health` after the container (re)starts. */
  readyTimeoutSeconds: pulumi.Input<number>;
  /** Initial admin user. */
  username: pulumi.Input<string>;
  /** Initial admin password (made secret here whatever the caller passed). */
  password: pulumi.Input<string>;
  /** Organisation the onboarding creates; every project resource lives in it. */
  org: pulumi.Input<string>;
  /**
   * Operator token (made secret here): the one the setup creates on an empty volume, and the one a
   * server already set up on a kept volume is adopted with. Unset, the server generates one at setup,
   * and a kept volume cannot be adopted.
   */
  adminToken?: pulumi.Input<string | undefined>;
  /** Keep the data volume when it leaves the stack (`pulumi destroy`); a later stack adopts it. */
  retainData: boolean;
}

/** What the rest of the program needs from a server, whichever runtime provides it. */
export interface InfluxServerOutputs {
  /** URL this program (and a writer on the host) reaches the API at. */
  url: pulumi.Output<string>;
  /** URL containers of this stack reach the API at. */
  internalUrl: pulumi.Output<string>;
  /** Operator token this program manages the server with (secret). */
  adminToken: pulumi.Output<string>;
  /** The organisation's id when the server created it during onboarding. */
  onboardedOrgId?: pulumi.Output<string>;
  /** Docker network of the server, for containers that must reach `internalUrl`. */
  networkName?: pulumi.Output<string>;
  /** Docker volume with the server's data, when the server is a container of this stack. */
  dataVolumeName?: pulumi.Output<string>;
}

/**
 * Name of the bucket the onboarding API insists on creating. It never receives data; its retention is the
 * shortest InfluxDB allows so that it can never hold anything for long.
 */
export const ONBOARDING_BUCKET = "ha_influx_onboarding";
const ONBOARDING_BUCKET_RETENTION_SECONDS = 3_600;

/** Host form of an address: `0.0.0.0`/`::` publish on every interface, so the program dials loopback. */
function dialAddress(bindAddress: string): string {
  if (bindAddress === "0.0.0.0") return "127.0.0.1";
  if (bindAddress === "::") return "[::1]";
  return bindAddress.includes(":") ? `[${bindAddress}]` : bindAddress;
}

/**
 * InfluxDB in a docker container on this host: pinned image, data in a named volume that survives
 * container replacement and (unless the stack opts out) `pulumi destroy`, a health check, restart
 * unless stopped, and the initial setup of the server, or the adoption of one set up before.
 */
export class DockerInfluxServer extends pulumi.ComponentResource implements InfluxServerOutputs {
  /** URL this program reaches the API at; resolves once the server is healthy. */
  public readonly url: pulumi.Output<string>;
  /** URL containers on {@link networkName} reach the API at. */
  public readonly internalUrl: pulumi.Output<string>;
  /** Operator token of the onboarding: created by the setup or the one it adopted with (secret). */
  public readonly adminToken: pulumi.Output<string>;
  /** Id of the organisation created by the onboarding. */
  public readonly onboardedOrgId: pulumi.Output<string>;
  /** Docker network shared with the writer. */
  public readonly networkName: pulumi.Output<string>;
  /** Id of the InfluxDB container. */
  public readonly containerId: pulumi.Output<string>;
  /** Name of the data volume (the writer mounts it read-only to see the disk's free space). */
  public readonly dataVolumeName: pulumi.Output<string>;

  constructor(name: string, args: DockerInfluxServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ha-influx:server:DockerInfluxServer", name, {}, opts);

    const image = new docker.RemoteImage(`${name}-image`, { name: args.image, keepLocally: true }, { parent: this });
    const volume = new docker.Volume(
      `${name}-data`,
      { name: args.volumeName },
      // Years of history live here: a container replacement never takes it, and `pulumi destroy` only
      // when the stack asks for that.
      { parent: this, retainOnDelete: args.retainData },
    );
    const network = new docker.Network(`${name}-network`, {}, { parent: this });
    const container = new docker.Container(
      name,
      {
        image: image.imageId,
        restart: "unless-stopped",
        ports: [{ internal: INFLUXD_PORT, external: args.port, ip: args.bindAddress }],
        volumes: [{ volumeName: volume.name, containerPath: INFLUXD_DATA_PATH }],
        networksAdvanced: [{ name: network.name, aliases: [SERVER_ALIAS] }],
        healthcheck: {
          tests: ["CMD", "influx", "ping"],
          interval: "10s",
          timeout: "5s",
          retries: 6,
          startPeriod: "30s",
        },
      },
      // Two influxd processes must never open the same data directory, so the old one goes first.
      { parent: this, deleteBeforeReplace: true },
    );

    this.internalUrl = pulumi.output(`http://${SERVER_ALIAS}:${INFLUXD_PORT}`);
    this.networkName = network.name;
    this.containerId = container.id;
    this.dataVolumeName = volume.name;

    const health = new ServerReady(
      `${name}-ready`,
      {
        url: pulumi.interpolate`http://${pulumi.output(args.bindAddress).apply(dialAddress)}:${args.port}`,
        timeoutSeconds: args.readyTimeoutSeconds,
        trigger: container.id,
      },
      { parent: this, dependsOn: [container] },
    );
    // Taken from the wait, so everything that dials the server waits for it too.
    this.url = health.url;
    const onboarding = new Onboarding(
      `${name}-onboarding`,
      {
        url: this.url,
        username: args.username,
        password: pulumi.secret(args.password),
        org: args.org,
        bucket: ONBOARDING_BUCKET,
        retentionSeconds: ONBOARDING_BUCKET_RETENTION_SECONDS,
        token: args.adminToken === undefined ? undefined : pulumi.secret(args.adminToken),
      },
      // Setup runs once per data volume. A new host port or password must not "replace" it: those
      // inputs only matter at creation. The setup cannot be undone, and the preview says it stays.
      { parent: this, ignoreChanges: ["url", "password"], retainOnDelete: true },
    );
    this.adminToken = pulumi.secret(onboarding.token);
    this.onboardedOrgId = onboarding.orgId;

    this.registerOutputs({
      url: this.url,
      internalUrl: this.internalUrl,
      adminToken: this.adminToken,
      onboardedOrgId: this.onboardedOrgId,
      networkName: this.networkName,
      containerId: this.containerId,
      dataVolumeName: this.dataVolumeName,
    });
  }
}

/** Arguments of an {@link ExternalInfluxServer}. */
export interface ExternalInfluxServerArgs {
  /** Base URL of the existing server. */
  url: pulumi.Input<string>;
  /** Operator token of the existing server (made secret here). */
  adminToken: pulumi.Input<string>;
  /** Seconds to wait for `/health`. */
  readyTimeoutSeconds: pulumi.Input<number>;
}

/** An InfluxDB server this program does not run, reached at a URL with an operator token. */
export class ExternalInfluxServer extends pulumi.ComponentResource implements InfluxServerOutputs {
  /** URL of the server; resolves once it is healthy. */
  public readonly url: pulumi.Output<string>;
  /** Same as {@link url}: containers must be able to reach it too. */
  public readonly internalUrl: pulumi.Output<string>;
  /** The configured operator token (secret). */
  public readonly adminToken: pulumi.Output<string>;

  constructor(name: string, args: ExternalInfluxServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ha-influx:server:ExternalInfluxServer", name, {}, opts);
    const ready = new ServerReady(
      `${name}-ready`,
      {
        url: pulumi.output(args.url).apply((url) => url.replace(/\/+$/, "")),
        timeoutSeconds: args.readyTimeoutSeconds,
      },
      { parent: this },
    );
    this.url = ready.url;
    this.internalUrl = this.url;
    this.adminToken = pulumi.secret(args.adminToken);
    this.registerOutputs({ url: this.url, internalUrl: this.internalUrl, adminToken: this.adminToken });
  }
}
