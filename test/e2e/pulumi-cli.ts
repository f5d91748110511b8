import { spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** The repository root: the Pulumi project under test. */
export const projectRoot = resolve(__dirname, "..", "..");

/** What a run of the CLI returned; `output` is redacted of every registered secret. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A Pulumi workspace for one test file: a copy of the program in a temporary directory (so stack
 * files never land in the work tree), a local file backend and its own PULUMI_HOME, driven through
 * the real `pulumi` CLI found on PATH.
 */
export class PulumiWorkspace {
  readonly dir: string;
  readonly backendDir: string;
  private readonly secrets = new Set<string>();
  private readonly env: NodeJS.ProcessEnv;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), "ha-influx-e2e-"));
    this.backendDir = join(this.dir, ".state");
    mkdirSync(this.backendDir);
    const program = join(this.dir, "program");
    for (const entry of [
      "Pulumi.yaml",
      "package.json",
      "tsconfig.json",
      "index.ts",
      "components",
      "scripts",
      "writer/src",
      "writer/package.json",
      "analysis/src",
      "analysis/package.json",
    ]) {
      cpSync(join(projectRoot, entry), join(program, entry), { recursive: true });
    }
    symlinkSync(join(projectRoot, "node_modules"), join(program, "node_modules"));
    this.env = {
      ...process.env,
      PULUMI_HOME: join(this.dir, ".pulumi-home"),
      PULUMI_BACKEND_URL: `file://${this.backendDir}`,
      // A passphrase, so secrets are really encrypted in the state the tests inspect.
      PULUMI_CONFIG_PASSPHRASE: "ha-influx-e2e-passphrase",
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      PULUMI_SKIP_CONFIRMATIONS: "true",
      NO_COLOR: "1",
    };
  }

  /** The directory holding the copy of the program. */
  get programDir(): string {
    return join(this.dir, "program");
  }

  /** Registers a value that must never appear in test output. */
  secret(value: string): string {
    if (value.length >= 6) this.secrets.add(value);
    return value;
  }

  redact(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join("[secret]");
    return out;
  }

  /** Runs `pulumi ARGS` in the program directory. */
  run(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; command?: string[] } = {}): Promise<CliResult> {
    const [cmd, ...pre] = opts.command ?? ["pulumi"];
    return new Promise((resolvePromise, reject) => {
      const child = spawn(cmd!, [...pre, ...args], {
        cwd: opts.cwd ?? this.programDir,
        env: { ...this.env, ...opts.env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.on("error", reject);
      child.on("close", (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
    });
  }

  /** Runs `pulumi ARGS` and fails with the (redacted) output unless it exits 0. */
  async ok(args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
    const res = await this.run(args, opts);
    if (res.code !== 0) {
      throw new Error(
        `pulumi ${this.redact(args.join(" "))} exited ${res.code}\n${this.redact(res.stdout)}\n${this.redact(res.stderr)}`,
      );
    }
    return res;
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
