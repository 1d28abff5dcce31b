/**
 * The npm package as a Node user gets it: built by `tools/build_npm.ts`
 * (`deno task build:npm`) into a temporary directory, packed with
 * `npm pack`, installed from the tarball into an empty project
 * (`npm init -y && npm install ./redsync-core-x.y.z.tgz`), and used there with
 * `node`: an ES module script (a Mutex acquired, contended, released and
 * acquired again; a value written and read back), `require()` (CommonJS),
 * the `redsync` bin through `npx`, and `tsc` over a consumer of the five
 * entry points (typescript and @types/node from npm), also under the
 * defaults a Node user starts from (`target: es2022`, default libs, no
 * @types/node). Every step has a time
 * limit; the temporary directory is removed at the end.
 *
 * Registered under Deno only: what it tests runs in Node whatever runs the
 * test, and building it three times would add a minute for nothing. Not
 * registered without `node` and `npm` on PATH (like the Node stage of
 * `tests/run.ts`).
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { findExecutable, sharedRedisUrl } from "../harness/server.ts";
import { runStep, type StepOutput } from "../harness/exec.ts";
import { runtime, test } from "./_test.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
/** The consumer's type checker and Node's types. */
const TYPESCRIPT = "typescript@5.9.3";
const NODE_TYPES = "@types/node@20";
/** Longest one step (a build, an install, a script) may take. */
const STEP_LIMIT_MS = 120_000;

/** Runs `file` with `args` in `cwd`, within a step's time limit. */
function run(
  file: string,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<StepOutput> {
  return runStep(file, args, cwd, { env, limitMs: STEP_LIMIT_MS });
}

/** An ES module script: what a Node user would write first. */
const ESM_SCRIPT = `
import process from "node:process";
import { connect, Mutex } from "@redsync/core";
import { inspect } from "@redsync/core/admin";
import { detectRuntime } from "@redsync/core/transport";
import { main } from "@redsync/core/cli";

const [url, prefix, name] = process.argv.slice(2);
const redis = await connect(url);
try {
  const mutex = new Mutex(redis, name, { prefix, leaseMs: 10_000 });
  const lease = await mutex.acquire(AbortSignal.timeout(5_000));
  const rival = await new Mutex(redis, name, { prefix }).tryAcquire();
  const holders = (await inspect(redis, name, { prefix })).holders;
  await redis.send("SET", prefix + ":value", String(lease.token));
  await lease.release();
  const again = await mutex.tryAcquire();
  await again?.release();
  console.log(JSON.stringify({
    runtime: detectRuntime(),
    token: lease.token,
    rival: rival !== undefined,
    value: await redis.send("GET", prefix + ":value"),
    again: again !== undefined && again.token > lease.token,
    held: holders.length === 1 && holders[0].token === lease.token,
    main: typeof main,
  }));
  await redis.send("DEL", prefix + ":value");
} finally {
  await redis.close();
}
`;

/**
 * The same package through require(); `./otel` (bundled whole, with its own
 * copy of the classes) still tells a Mutex's kind.
 */
const CJS_SCRIPT = `
const { connect, Mutex, RedisClient } = require("@redsync/core");
const { detectRuntime } = require("@redsync/core/transport");
const { main } = require("@redsync/core/cli");
const { lockTelemetry } = require("@redsync/core/otel");
const { inspect } = require("@redsync/core/admin");
connect(process.argv[1]).then(async (redis) => {
  const pong = await redis.send("PING");
  const spans = [];
  const tracer = {
    startSpan: (name, options) => {
      spans.push([name, options.attributes["redsync.lock.kind"]]);
      return { setAttribute() {}, setStatus() {}, end() {} };
    },
  };
  const mutex = new Mutex(redis, "cjs-" + process.argv[2]);
  const instrumented = lockTelemetry({ tracer }).instrument(mutex);
  await (await mutex.acquire()).release();
  instrumented.dispose();
  await redis.close();
  console.log(JSON.stringify({
    runtime: detectRuntime(),
    pong,
    client: redis instanceof RedisClient,
    main: typeof main,
    admin: typeof inspect,
    spans,
  }));
});
`;

/** Type-checked against the package's declarations (no skipLibCheck). */
const CONSUMER = `
import { connect, type Lease, LockLostError, Mutex, type RedisClient } from "@redsync/core";
import { type Connector, detectRuntime, nodeConnector } from "@redsync/core/transport";
import { type CliIO, main } from "@redsync/core/cli";
import { lockTelemetry, type OtelMeter } from "@redsync/core/otel";
import { inspect, type InspectOptions } from "@redsync/core/admin";

export async function holders(redis: RedisClient, options: InspectOptions): Promise<number> {
  return (await inspect(redis, "x", options)).holders.length;
}

export function metered(redis: RedisClient, meter: OtelMeter): Mutex {
  return new Mutex(redis, "x", { metrics: lockTelemetry({ meter }).metrics });
}

export async function use(url: string): Promise<number> {
  const redis = await connect({ url, connector: nodeConnector satisfies Connector });
  try {
    const lease: Lease = await new Mutex(redis, "x").acquire(AbortSignal.timeout(5));
    const runtime: "deno" | "bun" | "node" = detectRuntime();
    const io: CliIO = { stdout: process.stdout, stderr: process.stderr };
    console.log(runtime, lease.signal.reason instanceof LockLostError);
    await lease.release();
    return lease.token + await main(["list"], io);
  } finally {
    await redis.close();
  }
}
`;

/**
 * Under the settings a Node user starts from: `target: es2022`, the default
 * libs and no @types/node (`types: []`); `await using` is lowered by tsc.
 */
const DEFAULTS_CONSUMER = `
import { connect, type Lease, Mutex, Semaphore } from "@redsync/core";
import { detectRuntime } from "@redsync/core/transport";
import { main } from "@redsync/core/cli";

export async function use(): Promise<number> {
  await using redis = await connect();
  await using lease: Lease = await new Mutex(redis, "x").acquire(AbortSignal.timeout(5));
  const pool = await Semaphore.create(redis, "y", { permits: 2 });
  await using permit = await pool.acquire({ permits: 2 });
  await lease[Symbol.asyncDispose]();
  return lease.token + permit.token + detectRuntime().length + main.length;
}
`;

const DEFAULTS_TSCONFIG = {
  compilerOptions: {
    strict: true,
    noEmit: true,
    module: "nodenext",
    moduleResolution: "nodenext",
    target: "es2022",
    types: [],
  },
  files: ["defaults.mts"],
};

const CJS_CONSUMER = `
import redsync = require("@redsync/core");
export const client: Promise<redsync.RedisClient> = redsync.connect();
`;

const node = findExecutable("node");
const npm = findExecutable("npm");
const npx = findExecutable("npx");

if (runtime === "deno" && node && npm && npx) {
  test(
    "npm package: built, packed, installed from its tarball; ESM, require(), the redsync bin and its types work on Node",
    async () => {
      const url = sharedRedisUrl();
      const dir = await mkdtemp(join(tmpdir(), "redsync-npm-"));
      try {
        const pkg = join(dir, "package");
        await run(process.execPath, [
          "run",
          "-A",
          "tools/build_npm.ts",
          "--out",
          pkg,
        ], ROOT);
        const manifest = JSON.parse(
          await readFile(join(pkg, "package.json"), "utf8"),
        );
        const deno = JSON.parse(
          await readFile(join(ROOT, "deno.json"), "utf8"),
        );
        assert.equal(manifest.name, "@redsync/core");
        assert.equal(manifest.version, deno.version);
        assert.deepEqual(manifest.dependencies, {});
        const bin = await readFile(join(pkg, manifest.bin.redsync), "utf8");
        assert.ok(bin.startsWith("#!/usr/bin/env node\n"), bin.slice(0, 80));

        await run(npm, ["pack", "--pack-destination", dir], pkg);
        const tarball = (await readdir(dir)).find((f) => f.endsWith(".tgz"));
        assert.equal(tarball, `redsync-core-${deno.version}.tgz`);

        const app = join(dir, "app");
        await mkdir(app);
        await run(npm, ["init", "-y"], app);
        await run(npm, ["install", join(dir, tarball)], app);
        const installed = JSON.parse(
          await readFile(
            join(app, "node_modules/@redsync/core/package.json"),
            "utf8",
          ),
        );
        assert.equal(installed.version, deno.version);

        const unique = crypto.randomUUID();
        const prefix = `npmpkg-${unique}`;
        const name = `report-${unique}`;
        await writeFile(join(app, "check.mjs"), ESM_SCRIPT);
        const esm = await run(node, ["check.mjs", url, prefix, name], app);
        const result = JSON.parse(esm.stdout.trim().split("\n").at(-1)!);
        assert.equal(result.runtime, "node");
        assert.equal(result.rival, false, "a second holder got the mutex");
        assert.equal(result.value, String(result.token));
        assert.ok(result.again, "the mutex was not free again after release");
        assert.ok(result.held, "inspect() of ./admin did not see the lease");
        assert.equal(result.main, "function");

        const cjs = await run(node, ["-e", CJS_SCRIPT, url, unique], app);
        assert.deepEqual(JSON.parse(cjs.stdout.trim()), {
          runtime: "node",
          pong: "PONG",
          client: true,
          main: "function",
          admin: "function",
          spans: [
            ["redsync.lock.acquire", "mutex"],
            ["redsync.lock.hold", "mutex"],
          ],
        });

        // --no: never fetch some other "redsync" package from the registry.
        const cli = await run(npx, [
          "--no",
          "redsync",
          "list",
          "--url",
          url,
          "--prefix",
          prefix,
          "--json",
        ], app);
        const listed = JSON.parse(cli.stdout);
        assert.equal(listed.prefix, prefix);
        assert.deepEqual(
          listed.primitives.map((p: { name: string }) => p.name),
          [name],
        );
        const help = await run(npx, ["--no", "--", "redsync", "--help"], app);
        assert.match(help.stdout, /^Usage: redsync/m);

        await run(npm, ["install", "-D", TYPESCRIPT, NODE_TYPES], app);
        await writeFile(join(app, "consumer.mts"), CONSUMER);
        await writeFile(join(app, "consumer.cts"), CJS_CONSUMER);
        // deno-fmt-ignore
        await run(npx, ["--no", "--", "tsc", "--noEmit", "--strict", "--module", "nodenext",
        "--moduleResolution", "nodenext", "--target", "es2022", "--types", "node",
        "consumer.mts", "consumer.cts"], app);
        await writeFile(join(app, "defaults.mts"), DEFAULTS_CONSUMER);
        await writeFile(
          join(app, "tsconfig.defaults.json"),
          JSON.stringify(DEFAULTS_TSCONFIG),
        );
        await run(
          npx,
          ["--no", "--", "tsc", "-p", "tsconfig.defaults.json"],
          app,
        );
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    { timeoutMs: 400_000 },
  );
} else if (runtime === "deno") {
  console.warn(
    "npm package test: not registered, `node`, `npm` and `npx` are needed on PATH",
  );
}
