/**
 * Private `redis-server` instances for tests, on Deno and Bun alike (only
 * `node:` modules). Each instance listens on 127.0.0.1 on a free port, keeps
 * nothing on disk and lives in its own temporary directory, which `stop()`
 * removes. Nothing outlives the test process: a small `sh` watchdog per
 * instance SIGKILLs the server and removes its directory when this process
 * dies without stopping it (even by SIGKILL), and a process `exit` hook does
 * the same where the runtime emits `exit`.
 *
 * @example
 * ```ts
 * import { startRedis } from "./server.ts";
 *
 * await using server = await startRedis({ password: "pw" });
 * console.log(server.url); // redis://127.0.0.1:PORT
 * ```
 *
 * @module
 */

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { accessSync, constants as fsConstants, rmSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect as netConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import process from "node:process";
import { connect as tlsConnect } from "node:tls";
import { freePort } from "./ports.ts";
import {
  activeProfile,
  defaultUserRule,
  type Profile,
  profileArgs,
} from "./profiles.ts";

/** How to start a server. */
export interface RedisServerOptions {
  /** `requirepass`: the password of the `default` user. */
  password?: string;
  /**
   * Raw `ACL SETUSER` rule strings, one per user, written as `user` lines of
   * the config file, e.g. `"alice on >pw ~* &* +@all"`.
   */
  aclUsers?: string[];
  /**
   * Serve TLS only: a fresh CA and a server certificate (for `127.0.0.1` and
   * `localhost`) are made with `openssl`; the plain port is closed.
   * @default {false}
   */
  tls?: boolean;
  /** Extra `redis-server` arguments, e.g. `["--maxmemory", "1mb"]`. */
  args?: string[];
  /**
   * Where to choose the port, `low-high` (see `harness/ports.ts`).
   * @default {process.env.REDSYNC_TEST_PORTS, else any free port}
   */
  portRange?: string;
  /**
   * The server profile to emulate (`harness/profiles.ts`): commands of
   * later versions renamed away, subcommands denied to the default user.
   * @default {process.env.REDSYNC_REDIS_PROFILE, else "7.0"}
   */
  profile?: Profile;
}

/** A running private `redis-server`. */
export interface RedisServer {
  /** The port it listens on (the TLS port when `tls`). */
  readonly port: number;
  /** `redis://127.0.0.1:PORT`, or `rediss://...` when `tls`; never a password. */
  readonly url: string;
  /** PEM of the CA that signed the server certificate, when `tls`. */
  readonly ca?: string;
  /** SIGTERM (SIGKILL after 3 s), wait for the exit, remove the temp dir. Final. */
  stop(): Promise<void>;
  /** SIGKILL and wait for the exit: the port refuses connections afterwards. */
  kill(): Promise<void>;
  /** Starts again (after `kill()`, or stopping it first) on the same port and options. */
  restart(): Promise<void>;
  /** Sends SIGSTOP (freeze) or SIGCONT (thaw) to the running server, if any. */
  signal(signal: "SIGSTOP" | "SIGCONT"): void;
  /** Same as `stop()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

const INSTALL_HINT =
  "redis-server not found: install it with `sudo apt-get install redis-server` " +
  "(Debian/Ubuntu) or `brew install redis` (macOS), or set REDIS_URL";

const HOST = "127.0.0.1";
const READY_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 3_000;
const START_ATTEMPTS = 5;
const OUTPUT_TAIL_CHARS = 4_000;

/** Absolute path of `name` on PATH, or `undefined`. */
export function findExecutable(name: string): string | undefined {
  const names = process.platform === "win32" ? [`${name}.exe`, name] : [name];
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    for (const candidate of names) {
      const path = join(dir, candidate);
      try {
        accessSync(path, fsConstants.X_OK);
        return path;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/** Throws at once, with an install hint, when `redis-server` is not on PATH. */
export function requireRedisServer(): void {
  if (findExecutable("redis-server") === undefined) {
    throw new Error(INSTALL_HINT);
  }
}

/** The shared server's URL from `REDIS_URL`, which `deno task test` sets. */
export function sharedRedisUrl(): string {
  const url = process.env.REDIS_URL;
  if (url === undefined || url === "") {
    throw new Error(
      "REDIS_URL is not set: run the tests with `deno task test` (it starts a private " +
        "redis-server and sets REDIS_URL), or set REDIS_URL to a disposable Redis, " +
        "e.g. REDIS_URL=redis://127.0.0.1:6379",
    );
  }
  return url;
}

/** Starts a private `redis-server` and waits until it answers PING. */
export async function startRedis(
  options: RedisServerOptions = {},
): Promise<RedisServer> {
  const bin = findExecutable("redis-server");
  if (bin === undefined) throw new Error(INSTALL_HINT);
  const dir = await mkdtemp(join(tmpdir(), "redsync-redis-"));
  const instance = new Instance(bin, dir, options);
  live.add(instance);
  try {
    await instance.init();
    return instance;
  } catch (error) {
    await instance.stop();
    throw error;
  }
}

// ---------------------------------------------------------------------------

const live = new Set<Instance>();

process.once("exit", () => {
  for (const instance of live) instance.killSync();
});

class StartError extends Error {
  constructor(message: string, readonly portTaken: boolean) {
    super(message);
    this.name = "StartError";
  }
}

/** Resolves after `ms`, or as soon as `until` settles; never leaves a timer behind. */
function sleep(ms: number, until?: Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    until?.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      () => {
        clearTimeout(timer);
        resolve();
      },
    );
  });
}

/** A config-file string: double-quoted, with `\xHH` for anything unsafe. */
function quote(value: string): string {
  let out = '"';
  for (const byte of new TextEncoder().encode(value)) {
    const char = String.fromCharCode(byte);
    if (byte >= 0x20 && byte < 0x7f && char !== '"' && char !== "\\") {
      out += char;
    } else out += `\\x${byte.toString(16).padStart(2, "0")}`;
  }
  return `${out}"`;
}

function resp(args: string[]): string {
  let out = `*${args.length}\r\n`;
  for (const arg of args) {
    out += `$${new TextEncoder().encode(arg).length}\r\n${arg}\r\n`;
  }
  return out;
}

function run(file: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd }, (error, _stdout, stderr) => {
      if (error) {
        reject(
          new Error(
            `${file} ${args.join(" ")} failed: ${stderr || error.message}`,
          ),
        );
      } else resolve();
    });
  });
}

const OPENSSL_CONFIG = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = redsync test
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
`;

/** Makes ca.crt, server.key and server.crt in `dir`; returns the CA's PEM. */
async function makeCertificates(dir: string): Promise<string> {
  const openssl = findExecutable("openssl");
  if (openssl === undefined) {
    throw new Error(
      "openssl not found: install it (`sudo apt-get install openssl`) for TLS tests",
    );
  }
  await writeFile(join(dir, "openssl.cnf"), OPENSSL_CONFIG);
  const serial = `0x${Math.floor(Math.random() * 2 ** 48).toString(16)}`;
  // deno-fmt-ignore
  await run(openssl, ["req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-sha256",
    "-keyout", "ca.key", "-out", "ca.crt", "-days", "7", "-config", "openssl.cnf",
    "-extensions", "ca", "-subj", "/CN=redsync test CA"], dir);
  // deno-fmt-ignore
  await run(openssl, ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-sha256",
    "-keyout", "server.key", "-out", "server.csr", "-config", "openssl.cnf",
    "-subj", "/CN=localhost"], dir);
  // deno-fmt-ignore
  await run(openssl, ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
    "-set_serial", serial, "-days", "7", "-sha256", "-out", "server.crt",
    "-extfile", "openssl.cnf", "-extensions", "server"], dir);
  return await readFile(join(dir, "ca.crt"), "utf8");
}

/**
 * Sends `signal` to a child we have not reaped yet. Not `child.kill()`: Deno's
 * version closes the child's pipes first, which would wake the watchdog.
 */
function signalChild(child: ChildProcess, signal: "SIGTERM" | "SIGKILL"): void {
  if (
    child.pid === undefined || child.exitCode !== null ||
    child.signalCode !== null
  ) return;
  try {
    process.kill(child.pid, signal);
  } catch {
    // already gone
  }
}

/**
 * A tiny `sh` pipeline, one per instance, that SIGKILLs the server it was last
 * told about (`pid N`) and removes the instance's directory when the pipe from
 * this process closes without a `stop` line first, i.e. when this process dies
 * in any way (Bun's and Deno's test runners do not emit `exit`, and SIGKILL
 * runs no hook at all). A pipeline, so that its acting half outlives the `sh`
 * we spawn, which Deno SIGKILLs when it exits. Not on Windows.
 */
const WATCHDOG_SCRIPT = "cat | { " +
  'trap "" INT TERM HUP; pid=""; ' +
  'while read -r word arg; do case "$word" in stop) exit 0 ;; pid) pid="$arg" ;; esac; done; ' +
  '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$1"; }';

class Watchdog {
  readonly #child: ChildProcess;
  readonly #closed: Promise<void>;

  private constructor(dir: string) {
    this.#child = spawn("/bin/sh", [
      "-c",
      WATCHDOG_SCRIPT,
      "redsync-watchdog",
      dir,
    ], {
      stdio: ["pipe", "ignore", "ignore"],
    });
    // A failure of the watchdog must not crash the test process.
    this.#child.stdin?.on("error", () => {});
    this.#closed = new Promise<void>((resolve) => {
      this.#child.once("error", () => resolve());
      this.#child.once("close", () => resolve());
    });
  }

  static start(dir: string): Watchdog | undefined {
    return process.platform === "win32" ? undefined : new Watchdog(dir);
  }

  /** The server process to kill if this process dies (none: `undefined`). */
  watch(pid: number | undefined): void {
    this.#child.stdin?.write(`pid ${pid ?? ""}\n`);
  }

  /** Stands it down and waits for its exit. */
  async stop(): Promise<void> {
    this.#child.stdin?.end("stop\n");
    await sleep(STOP_GRACE_MS, this.#closed);
    signalChild(this.#child, "SIGKILL"); // only if it is somehow still there
    await this.#closed;
  }
}

interface Running {
  child: ChildProcess;
  /** Settles once the process has exited and its pipes are closed. */
  closed: Promise<void>;
  exited: boolean;
}

class Instance implements RedisServer {
  port = 0;
  ca?: string;
  #bin: string;
  #dir: string;
  #options: RedisServerOptions;
  #config = "";
  #running?: Running;
  #output = "";
  #stopping?: Promise<void>;
  #watchdog?: Watchdog;

  constructor(bin: string, dir: string, options: RedisServerOptions) {
    this.#bin = bin;
    this.#dir = dir;
    this.#options = options;
    this.#watchdog = Watchdog.start(dir);
  }

  get url(): string {
    return `${this.#options.tls ? "rediss" : "redis"}://${HOST}:${this.port}`;
  }

  async init(): Promise<void> {
    const lines = [
      `bind ${HOST}`,
      `save ""`,
      `appendonly no`,
      `daemonize no`,
      `protected-mode no`,
      `dir ${quote(this.#dir)}`,
    ];
    if (this.#options.tls) {
      this.ca = await makeCertificates(this.#dir);
      lines.push(
        `tls-cert-file ${quote(join(this.#dir, "server.crt"))}`,
        `tls-key-file ${quote(join(this.#dir, "server.key"))}`,
        `tls-ca-cert-file ${quote(join(this.#dir, "ca.crt"))}`,
        `tls-auth-clients no`,
      );
    }
    const profile = this.#options.profile ?? activeProfile();
    const rule = defaultUserRule(profile, this.#options.password);
    if (rule) {
      // The default user's line (with its password: a `user default` line
      // would reset a `requirepass`).
      lines.push(`user ${rule.map(quote).join(" ")}`);
    } else if (this.#options.password !== undefined) {
      lines.push(`requirepass ${quote(this.#options.password)}`);
    }
    for (const name of profileArgs(profile).removed) {
      lines.push(`rename-command ${name} ""`);
    }
    for (const rule of this.#options.aclUsers ?? []) lines.push(`user ${rule}`);
    this.#config = join(this.#dir, "redis.conf");
    await writeFile(this.#config, lines.join("\n") + "\n");

    const failures: string[] = [];
    for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
      this.port = await freePort(this.#options.portRange);
      try {
        await this.#launch();
        return;
      } catch (error) {
        if (!(error instanceof StartError && error.portTaken)) throw error;
        failures.push(error.message);
      }
    }
    throw new Error(
      `redis-server failed to start ${START_ATTEMPTS} times:\n${
        failures.join("\n")
      }`,
    );
  }

  /** Idempotent; a second call waits for the first. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await this.#terminate();
      // The watchdog stands down last: it also covers a death during rm.
      await rm(this.#dir, { recursive: true, force: true });
      await this.#watchdog?.stop();
      live.delete(this);
    })();
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async kill(): Promise<void> {
    const running = this.#running;
    if (running === undefined) return;
    this.#running = undefined;
    signalChild(running.child, "SIGKILL");
    await running.closed;
    await this.#waitRefused();
  }

  async restart(): Promise<void> {
    if (this.#stopping !== undefined) {
      throw new Error("restart() after stop(): the server is gone; use kill()");
    }
    await this.#terminate();
    const failures: string[] = [];
    for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
      try {
        await this.#launch();
        return;
      } catch (error) {
        if (!(error instanceof StartError && error.portTaken)) throw error;
        failures.push(error.message);
        await sleep(200);
      }
    }
    throw new Error(
      `redis-server failed to restart on port ${this.port}:\n${
        failures.join("\n")
      }`,
    );
  }

  signal(signal: "SIGSTOP" | "SIGCONT"): void {
    const child = this.#running?.child;
    if (child?.pid === undefined || this.#running?.exited) return;
    try {
      process.kill(child.pid, signal);
    } catch {
      // already gone
    }
  }

  /** For the process `exit` hook: synchronous, best effort. */
  killSync(): void {
    if (this.#running !== undefined && !this.#running.exited) {
      signalChild(this.#running.child, "SIGKILL");
    }
    try {
      rmSync(this.#dir, { recursive: true, force: true });
    } catch {
      // nothing to do at exit
    }
  }

  /** SIGTERM, SIGKILL after the grace period; waits for the exit. */
  async #terminate(): Promise<void> {
    const running = this.#running;
    if (running === undefined) return;
    this.#running = undefined;
    signalChild(running.child, "SIGTERM");
    await sleep(STOP_GRACE_MS, running.closed);
    signalChild(running.child, "SIGKILL");
    await running.closed;
  }

  /** Spawns on `this.port` and waits until it answers. */
  async #launch(): Promise<void> {
    const portArgs = this.#options.tls
      ? ["--port", "0", "--tls-port", String(this.port)]
      : ["--port", String(this.port)];
    this.#output = "";
    const child = spawn(this.#bin, [
      this.#config,
      ...portArgs,
      ...(this.#options.args ?? []),
    ], {
      cwd: this.#dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const collect = (chunk: Uint8Array | string) => {
      this.#output = (this.#output + String(chunk)).slice(-OUTPUT_TAIL_CHARS);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    this.#watchdog?.watch(child.pid);
    const running: Running = {
      child,
      exited: false,
      closed: new Promise<void>((resolve) => {
        const done = () => {
          running.exited = true;
          this.#watchdog?.watch(undefined);
          resolve();
        };
        child.once("error", (error) => {
          collect(`spawn error: ${error.message}\n`);
          done();
        });
        child.once("exit", () => {
          running.exited = true;
        });
        child.once("close", done);
      }),
    };
    this.#running = running;

    const deadline = Date.now() + READY_TIMEOUT_MS;
    let last = "no answer yet";
    while (Date.now() < deadline) {
      if (running.exited) {
        await running.closed;
        this.#running = undefined;
        const output = this.#output.trim();
        throw new StartError(
          `redis-server exited before it was ready (port ${this.port}):\n${output}`,
          /already in use|Failed listening/i.test(output),
        );
      }
      last = await this.#probe();
      if (last === "ready") return;
      await sleep(50, running.closed);
    }
    await this.#terminate();
    throw new Error(
      `redis-server did not answer PING within ${READY_TIMEOUT_MS} ms on port ${this.port} ` +
        `(last: ${last}); its output:\n${this.#output.trim()}`,
    );
  }

  /** One PING (after AUTH when there is a password): "ready" or what went wrong. */
  #probe(): Promise<string> {
    const password = this.#options.password;
    const request = (password === undefined ? "" : resp(["AUTH", password])) +
      resp(["PING"]);
    const replies = password === undefined ? 1 : 2;
    return new Promise((resolve) => {
      const socket: Socket = this.#options.tls
        ? tlsConnect({
          host: HOST,
          port: this.port,
          ca: this.ca,
          servername: "localhost",
        })
        : netConnect({ host: HOST, port: this.port });
      let data = "";
      let result: string | undefined;
      // Settle on "close" only, so that no socket outlives the probe.
      const finish = (outcome: string) => {
        result ??= outcome;
        socket.destroy();
      };
      socket.setTimeout(1_000, () => finish("timeout"));
      socket.once(
        this.#options.tls ? "secureConnect" : "connect",
        () => socket.write(request),
      );
      socket.on("data", (chunk) => {
        data += String(chunk);
        const lines = data.split("\r\n");
        if (lines.length <= replies) return;
        const reply = lines[replies - 1];
        // A running server with a locked-out default user still answers.
        finish(/^\+PONG$|^-NOAUTH|^-NOPERM/.test(reply) ? "ready" : reply);
      });
      socket.on("error", (error) => finish(error.message));
      socket.once(
        "close",
        () => resolve(result ?? (data === "" ? "closed" : data)),
      );
    });
  }

  /** Waits (bounded) until connecting to the port is refused. */
  async #waitRefused(): Promise<void> {
    for (let attempt = 0; attempt < 40; attempt++) {
      const refused = await new Promise<boolean>((resolve) => {
        let failed = false;
        const socket = netConnect({ host: HOST, port: this.port });
        socket.once("connect", () => socket.destroy());
        socket.on("error", () => {
          failed = true;
        });
        socket.once("close", () => resolve(failed));
      });
      if (refused) return;
      await sleep(50);
    }
    throw new Error(`port ${this.port} still accepts connections after kill()`);
  }
}
