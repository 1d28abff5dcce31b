/**
 * Every ```ts and ```js block of the documentation ({@linkcode DOCS}:
 * README.md, CONTRIBUTING.md and docs/*.md) runs as written, each as a script
 * in a child process of this same runtime, against this file's own Redis
 * (`REDIS_URL`, which `connect()` with no argument reads). Only the import
 * specifier changes: `@redsync/core` (or `jsr:@redsync/core`) becomes this
 * repository's `mod.ts` (`/admin`, `/transport`, ...: the files `exports`
 * of `deno.json` names), and
 * `@opentelemetry/api` becomes `npm:@opentelemetry/api@1.9.0` (for the
 * OpenTelemetry fragment, only type-checked). Deno runs them with the
 * permissions the README states (`--allow-net --allow-env`), Bun as they
 * are, Node from esbuild bundles (`npx -y esbuild@0.24.0`, as
 * `tests/run.ts` bundles the suite: Node 20 needs `await using` lowered).
 * Tests stay on 127.0.0.1: a small preload answers the examples'
 * `fetch("https://example.com/...")` (and honours its signal); every other
 * request goes through.
 *
 * A block runs on every runtime and must exit 0 within
 * {@linkcode EXAMPLE_LIMIT_MS}, unless an HTML comment on the line before it
 * says otherwise: `<!-- example: KEY, KEY -->`, with these keys (an unknown
 * key fails the test):
 *
 * - `deno`, `bun`, `node` (any of them, space-separated): runs on those
 *   runtimes only (it uses their own API);
 * - `serves http`: listens on 127.0.0.1:`PORT` and runs until stopped: the
 *   test asks `/?account=42` for a 200, then sends SIGTERM;
 * - `waits for SIGTERM`: prints a line once ready; the test then sends
 *   SIGTERM and expects exit code 0;
 * - `needs 3 servers`: the test starts three servers and passes their URLs
 *   as `REDLOCK_URLS` (comma-separated);
 * - `needs sentinel`, `needs cluster`, `fragment`: not run (the reason is
 *   printed); on Deno still type-checked, like every `ts` block.
 *
 * The relative links of those files (to each other, to headings, to files of
 * the repository) must lead somewhere: a heading's anchor is GitHub's.
 *
 * @module
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, posix } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  type RedisServer,
  sharedRedisUrl,
  startRedis,
} from "../harness/server.ts";
import { DEFAULT_URL, defaultUrl } from "../src/connect/env.ts";
import { connect } from "../mod.ts";
import { inspect } from "../src/admin.ts";
import { runtime, test } from "./_test.ts";

/** Longest one example may run (the durability one waits out a 5 s signal). */
const EXAMPLE_LIMIT_MS = 30_000;
/** Longest a bundle or type check may take. */
const TOOL_LIMIT_MS = 120_000;
const ESBUILD = "esbuild@0.24.0";

/**
 * The repository: beside this file under Deno and Bun; under Node this file
 * is a bundle in a temporary directory, and `tests/run.ts` runs it from the
 * repository.
 */
function findRoot(): string {
  const beside = fileURLToPath(new URL("../", import.meta.url));
  return existsSync(join(beside, "README.md")) &&
      existsSync(join(beside, "mod.ts"))
    ? beside
    : process.cwd();
}

const ROOT = findRoot();
/**
 * The package's entry points, from `exports` of `deno.json`: `""` (the
 * package itself), `"/admin"`, `"/transport"`, ... -> an absolute path.
 */
const ENTRIES: ReadonlyMap<string, string> = new Map(
  Object.entries(
    (JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8")) as {
      exports: Record<string, string>;
    }).exports,
  ).map(([key, file]) => [key.slice(1), join(ROOT, file)]),
);
/** What `@opentelemetry/api` becomes (the OpenTelemetry example's types). */
const OTEL_API = "npm:@opentelemetry/api@1.9.0";

const RUNTIME_KEYS = new Set(["deno", "bun", "node"]);
const SKIP_KEYS: Record<string, string> = {
  "needs sentinel": "needs a Redis Sentinel topology at fixed addresses",
  "needs cluster": "needs a Redis Cluster at fixed addresses",
  fragment: "a fragment, not a whole program",
};
const OTHER_KEYS = new Set([
  "serves http",
  "waits for SIGTERM",
  "needs 3 servers",
]);

interface Example {
  /** The file it is in, relative to the repository (`docs/locks.md`). */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The heading it sits under. */
  section: string;
  extension: "ts" | "js";
  code: string;
  runtimes: Set<string>;
  keys: Set<string>;
  /** Why it does not run, if it does not. */
  skip?: string;
  /** Base name of its files in the temporary directory. */
  name: string;
}

/** A file's ts/js blocks with their marks; throws on an unknown key. */
function extract(file: string, markdown: string): Example[] {
  const lines = markdown.split("\n");
  const examples: Example[] = [];
  let section = "";
  for (let i = 0; i < lines.length; i++) {
    const heading = /^#+\s+(.*)$/.exec(lines[i]);
    if (heading) section = heading[1];
    const fence = /^```(\w*)\s*$/.exec(lines[i]);
    if (!fence) continue;
    const end = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
    assert.ok(end > i, `${file}:${i + 1}: a code block that never ends`);
    const language = fence[1];
    if (!["ts", "js", "typescript", "javascript"].includes(language)) {
      i = end;
      continue;
    }
    let previous = i - 1;
    while (previous >= 0 && lines[previous].trim() === "") previous--;
    const mark = /^<!--\s*example:\s*(.*?)\s*-->$/.exec(
      lines[previous]?.trim() ?? "",
    );
    const keys = new Set<string>();
    const runtimes = new Set<string>();
    for (const key of (mark?.[1] ?? "").split(",").map((k) => k.trim())) {
      if (key === "") continue;
      const words = key.split(/\s+/);
      if (words.every((word) => RUNTIME_KEYS.has(word))) {
        for (const word of words) runtimes.add(word);
      } else if (key in SKIP_KEYS || OTHER_KEYS.has(key)) keys.add(key);
      else {
        throw new Error(
          `${file}:${previous + 1}: unknown example key "${key}" (known: ${
            [...RUNTIME_KEYS, ...Object.keys(SKIP_KEYS), ...OTHER_KEYS].join(
              ", ",
            )
          })`,
        );
      }
    }
    if (runtimes.size === 0) { for (const r of RUNTIME_KEYS) runtimes.add(r); }
    const skipKey = [...keys].find((key) => key in SKIP_KEYS);
    examples.push({
      file,
      line: i + 1,
      section,
      extension: language.startsWith("t") ? "ts" : "js",
      code: lines.slice(i + 1, end).join("\n") + "\n",
      runtimes,
      keys,
      skip: skipKey === undefined ? undefined : SKIP_KEYS[skipKey],
      name: `example_${file.replace(/\.md$/, "").replace(/\W/g, "_")}_${
        String(i + 1).padStart(4, "0")
      }`,
    });
    i = end;
  }
  return examples;
}

/**
 * The example with its imports of the package pointed at this checkout;
 * `@opentelemetry/api` (in a fragment, only type-checked) from npm, pinned.
 */
function mapImports(code: string): string {
  return code.replace(
    /(["'])(?:jsr:|npm:)?@redsync\/core(\/[\w-]+)?\1/g,
    (match, quote, entry = "") => {
      // An absolute path (not a file: URL): esbuild resolves only paths.
      const file = ENTRIES.get(entry);
      return file === undefined ? match : quote + file + quote;
    },
  ).replace(
    /(["'])@opentelemetry\/api\1/g,
    (_m, quote) => `${quote}${OTEL_API}${quote}`,
  );
}

/**
 * Loaded before each example: answers `fetch()` to example.com locally (the
 * examples' stand-in for real work), honouring its signal.
 */
const FETCH_STUB = `
const realFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  if (url.hostname !== "example.com") return realFetch(input, init);
  const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
  if (signal?.aborted) return Promise.reject(signal.reason);
  return Promise.resolve(new Response("ok"));
};
`;

const url = sharedRedisUrl();
/** The documentation whose blocks run, relative to the repository. */
const DOCS = [
  "README.md",
  ...(existsSync(join(ROOT, "CONTRIBUTING.md")) ? ["CONTRIBUTING.md"] : []),
  ...readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).sort()
    .map((f) => `docs/${f}`),
];
const TEXTS = new Map(
  DOCS.map((file) => [file, readFileSync(join(ROOT, file), "utf8")]),
);
const EXAMPLES = DOCS.flatMap((file) => extract(file, TEXTS.get(file)!));

/** Runs a tool to completion; rejects with its output when it fails. */
function tool(command: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(command, args, {
      cwd,
      timeout: TOOL_LIMIT_MS,
      killSignal: "SIGKILL",
      maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, NO_COLOR: "1" },
    }, (error, stdout, stderr) => {
      if (error) {
        reject(
          new Error(
            `${command} ${
              args.join(" ")
            } failed: ${error.message}\n${stdout}\n${stderr}`,
          ),
        );
      } else resolve();
    });
  });
}

interface Prepared {
  dir: string;
  /** The command line that runs one example (by name). */
  command(example: Example): string[];
}

let preparing: Promise<Prepared> | undefined;

/**
 * Writes every example (and a wrapper that loads the fetch stub first) into
 * a temporary directory, once; on Node, bundles the wrappers.
 */
function prepare(): Promise<Prepared> {
  preparing ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), "redsync-readme-"));
    const runnable = EXAMPLES.filter((e) => e.runtimes.has(runtime));
    await writeFile(join(dir, "fetch_stub.js"), FETCH_STUB);
    for (const example of EXAMPLES) {
      const file = `${example.name}.${example.extension}`;
      await writeFile(join(dir, file), mapImports(example.code));
      await writeFile(
        join(dir, `${example.name}_run.${example.extension}`),
        `import "./fetch_stub.js";\nimport "./${file}";\n`,
      );
    }
    if (runtime === "node") {
      await tool("npx", [
        "-y",
        ESBUILD,
        ...runnable.filter((e) => !e.skip).map((e) =>
          join(dir, `${e.name}_run.${e.extension}`)
        ),
        "--bundle",
        "--platform=node",
        "--format=esm",
        "--target=node20",
        `--outdir=${join(dir, "node")}`,
        "--out-extension:.js=.mjs",
        "--log-level=warning",
      ], dir);
    }
    return {
      dir,
      command(example) {
        const file = join(dir, `${example.name}_run.${example.extension}`);
        if (runtime === "deno") {
          return [process.execPath, "run", "--allow-net", "--allow-env", file];
        }
        if (runtime === "bun") return [process.execPath, file];
        return [process.execPath, join(dir, "node", `${example.name}_run.mjs`)];
      },
    };
  })();
  return preparing;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface Ended {
  code: number | null;
  signal: string | null;
  output: string;
}

/** Runs one example to its end (see the module doc for what each key does). */
async function runExample(
  example: Example,
  env: Record<string, string>,
): Promise<Ended> {
  const { dir, command } = await prepare();
  const line = command(example);
  const child = spawn(line[0], line.slice(1), {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1", ...env },
  });
  let output = "";
  let printed: () => void = () => {};
  const firstOutput = new Promise<void>((resolve) => printed = resolve);
  child.stdout!.on("data", (chunk) => {
    output += chunk;
    printed();
  });
  child.stderr!.on("data", (chunk) => output += chunk);
  const ended = new Promise<Ended>((resolve) => {
    child.on("close", (code, signal) => resolve({ code, signal, output }));
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<"limit">((resolve) => {
    timer = setTimeout(() => resolve("limit"), EXAMPLE_LIMIT_MS);
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  try {
    if (example.keys.has("serves http")) {
      const answer = await Promise.race([askServer(env.PORT, ended), limit]);
      assert.notEqual(answer, "limit", `no answer on port ${env.PORT}`);
      assert.match(String(answer), /updated 42/);
      // The lease is released after the response: stopping the server
      // before that would leave "account:42" held for a whole lease.
      await released("account:42");
      if (alive()) process.kill(child.pid!, "SIGTERM");
    } else if (example.keys.has("waits for SIGTERM")) {
      const ready = await Promise.race([firstOutput, ended, limit]);
      assert.notEqual(ready, "limit", "it printed nothing");
      assert.ok(alive(), "it ended before SIGTERM");
      process.kill(child.pid!, "SIGTERM");
    }
    const end = await Promise.race([ended, limit]);
    assert.notEqual(end, "limit", `still running after ${EXAMPLE_LIMIT_MS} ms`);
    return end as Ended;
  } catch (error) {
    throw new Error(`${(error as Error).message}; its output:\n${output}`);
  } finally {
    clearTimeout(timer);
    if (alive()) process.kill(child.pid!, "SIGKILL");
    await ended;
  }
}

/** Resolves once `name` has no holder (within {@linkcode EXAMPLE_LIMIT_MS}). */
async function released(name: string): Promise<void> {
  await using redis = await connect(url);
  for (let i = 0; i < EXAMPLE_LIMIT_MS / 50; i++) {
    if ((await inspect(redis, name)).holders.length === 0) return;
    await delay(50);
  }
  throw new Error(`"${name}" still held after ${EXAMPLE_LIMIT_MS} ms`);
}

/** GETs /?account=42 until the server answers (or `ended` settles). */
async function askServer(
  port: string,
  ended: Promise<unknown>,
): Promise<string> {
  let gone = false;
  ended.then(() => gone = true);
  for (let attempt = 0; attempt < 200 && !gone; attempt++) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/?account=42`, {
        signal: AbortSignal.timeout(10_000),
      });
      const body = await response.text();
      assert.equal(response.status, 200, body);
      return body;
    } catch (error) {
      if (error instanceof assert.AssertionError) throw error;
      await delay(100);
    }
  }
  throw new Error("the server ended or never answered");
}

for (const example of EXAMPLES) {
  const title =
    `${example.file} example at line ${example.line} ("${example.section}")`;
  if (example.skip !== undefined) {
    console.log(`${title}: not run, ${example.skip}`);
    continue;
  }
  if (!example.runtimes.has(runtime)) continue;
  test(`${title} runs as written`, async () => {
    const env: Record<string, string> = { REDIS_URL: url };
    const servers: RedisServer[] = [];
    try {
      if (example.keys.has("needs 3 servers")) {
        for (let i = 0; i < 3; i++) servers.push(await startRedis());
        env.REDLOCK_URLS = servers.map((server) => server.url).join(",");
      }
      if (example.keys.has("serves http")) env.PORT = String(await freePort());
      const end = await runExample(example, env);
      // A server has no handler for the SIGTERM that stops it.
      const stopped = example.keys.has("serves http") &&
        end.signal === "SIGTERM";
      assert.ok(
        end.code === 0 || stopped,
        `exited ${end.code ?? end.signal}; its output:\n${end.output}`,
      );
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
    }
  }, { timeoutMs: EXAMPLE_LIMIT_MS + TOOL_LIMIT_MS });
}

test("README examples: every block is marked or runs, and the marks are known", () => {
  assert.ok(EXAMPLES.length >= 15, `only ${EXAMPLES.length} blocks found`);
  const skipped = EXAMPLES.filter((e) => e.skip !== undefined);
  assert.ok(skipped.length <= 3, `${skipped.length} blocks are not run`);
  const front = EXAMPLES.filter((e) => e.file === "README.md" && !e.skip);
  assert.ok(front.length >= 3, `README.md runs only ${front.length} blocks`);
});

/** GitHub's anchors for a markdown file's headings (outside code blocks). */
function anchors(markdown: string): Set<string> {
  const found = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of withoutCode(markdown).split("\n")) {
    const heading = /^#+\s+(.*?)\s*$/.exec(line);
    if (!heading) continue;
    const slug = heading[1].toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "")
      .replace(/ /g, "-");
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    found.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return found;
}

/** The markdown with its fenced blocks blanked (lines kept) and code spans cut. */
function withoutCode(markdown: string): string {
  let fenced = false;
  return markdown.split("\n").map((line) => {
    if (/^```/.test(line)) {
      fenced = !fenced;
      return "";
    }
    return fenced ? "" : line.replace(/`[^`]*`/g, "``");
  }).join("\n");
}

test("README and docs: relative links lead to a file and, with #, a heading", () => {
  const broken: string[] = [];
  for (const [file, markdown] of TEXTS) {
    for (const match of withoutCode(markdown).matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1];
      if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
      const [path, anchor] = target.split("#", 2);
      const resolved = path === ""
        ? file
        : posix.normalize(posix.join(posix.dirname(file), path));
      const text = resolved === file ? markdown : TEXTS.get(resolved) ??
        (existsSync(join(ROOT, resolved)) && resolved.endsWith(".md")
          ? readFileSync(join(ROOT, resolved), "utf8")
          : undefined);
      if (!existsSync(join(ROOT, resolved))) {
        broken.push(`${file}: ${target} (no file ${resolved})`);
      } else if (anchor !== undefined) {
        if (text === undefined || !anchors(text).has(anchor)) {
          broken.push(`${file}: ${target} (no heading #${anchor})`);
        }
      }
    }
  }
  assert.deepEqual(broken, []);
});

if (runtime === "deno") {
  test("README examples type-check (the ones not run too)", async () => {
    const { dir } = await prepare();
    await tool(process.execPath, [
      "check",
      "--quiet",
      ...EXAMPLES.filter((e) => e.extension === "ts").map((e) =>
        join(dir, `${e.name}.ts`)
      ),
    ], dir);
  }, { timeoutMs: TOOL_LIMIT_MS });
}

test("connect() with no argument connects to REDIS_URL", async () => {
  assert.equal(defaultUrl(), url);
  const key = `readme-env-${crypto.randomUUID()}`;
  {
    await using redis = await connect();
    await redis.send("SET", key, "here", "EX", 60);
  }
  await using direct = await connect(url);
  assert.equal(await direct.send("GETDEL", key), "here");
  const saved = process.env.REDIS_URL;
  try {
    delete process.env.REDIS_URL;
    assert.equal(defaultUrl(), DEFAULT_URL);
    process.env.REDIS_URL = "";
    assert.equal(defaultUrl(), DEFAULT_URL);
  } finally {
    process.env.REDIS_URL = saved;
  }
});

if (runtime === "deno") {
  test("connect() on Deno without env permission: the default URL, no prompt", async () => {
    const { dir } = await prepare();
    const script = join(dir, "env_probe.ts");
    await writeFile(
      script,
      `import { defaultUrl } from ${
        JSON.stringify(pathToFileURL(join(ROOT, "src/connect/env.ts")).href)
      };\nconsole.log(defaultUrl());\n`,
    );
    const printed = await new Promise<string>((resolve, reject) => {
      // Some permission flag: with none, Deno's node:child_process runs a
      // Deno child with -A.
      execFile(process.execPath, ["run", `--allow-read=${dir}`, script], {
        cwd: dirname(script),
        timeout: TOOL_LIMIT_MS,
        env: { ...process.env, NO_COLOR: "1", REDIS_URL: url },
      }, (error, stdout, stderr) => {
        if (error) reject(new Error(`${error.message}\n${stderr}`));
        else resolve(stdout.trim());
      });
    });
    assert.equal(printed, DEFAULT_URL);
  });
}

test("README examples: temporary files removed", async () => {
  if (preparing === undefined) return;
  const { dir } = await preparing;
  await rm(dir, { recursive: true, force: true });
});
