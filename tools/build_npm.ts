/**
 * `deno task build:npm`: the npm package of @redsync/core, built from the
 * same sources as the JSR one, into `npm/` (gitignored). Then
 * `cd npm && npm pack` makes `redsync-core-VERSION.tgz`.
 *
 * What it writes:
 *
 * - `esm/`: ES modules for Node 20+ (and Bun, Deno), bundled by esbuild
 *   (`npx -y esbuild@0.24.0`, the esbuild `tests/run.ts` uses), one file per
 *   entry point (`mod.js`, `admin.js`, `transport.js`, `cli.js`, `otel.js`) and chunks for the code
 *   they share (`--splitting`), so that the entry points share one copy
 *   of each class (an error from `./cli` is `instanceof` the one from `.`).
 * - `cjs/`: the same as CommonJS (`*.cjs`), for `require()`. esbuild cannot
 *   split CommonJS, so each entry point is whole there; `import` and
 *   `require` of the package load different copies (the usual dual-package
 *   hazard: use one or the other in one program). `cli.ts` runs `main()` at
 *   top level under `if (import.meta.main)`, which CommonJS cannot hold: it is
 *   built with `import.meta.main` false, so `require("@redsync/core/cli")`
 *   gives `main` without running it.
 * - `types/` (`.d.ts`) and `cjs/types/` (the same as `.d.cts`): declarations
 *   made file by file by TypeScript's `transpileDeclaration` (isolated
 *   declarations, no type check: JSR's "no slow types" rule already makes
 *   every exported type explicit), with relative `.ts` specifiers rewritten to
 *   `.js` (`.cjs`). A whole-program `tsc --declaration` would need Deno's and
 *   Node's type definitions for the runtime-specific transports.
 * - `bin/redsync.js`: the CLI (`#!/usr/bin/env node`; runs `main()` from
 *   `esm/cli.js`), installed as `redsync`.
 * - `package.json` (name and version from `deno.json`, `type: module`,
 *   `exports` with `types`/`import`/`require`, `typesVersions` for
 *   TypeScript's old `node` resolution, `engines: node >= 20`, no
 *   dependencies), `README.md`, `docs/`, `LICENSE`. `npx @arethetypeswrong/cli` on
 *   the tarball finds no problem.
 *
 * Why esbuild and not `@deno/dnt`: dnt comes from JSR, which CI cannot reach
 * (only the npm registry), and it rewrites `Deno.*` through shims that would
 * add dependencies; esbuild is already how the tests run on Node, and the
 * sources need nothing from it but TypeScript stripping and the lowering of
 * `await using` for Node 20. Runtime detection stays at run time
 * (`src/transport/mod.ts`): Node gets `node:net`/`node:tls`.
 *
 * ```sh
 * deno task build:npm                 # into npm/
 * deno task build:npm --out /tmp/pkg  # elsewhere (emptied first)
 * cd npm && npm pack
 * ```
 *
 * @module
 */
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
// 5.6: from 5.7 to 5.9, transpileDeclaration writes a computed method such as
// `[Symbol.asyncDispose](): Promise<void>` twice (once as a property), which
// consumers' tsc rejects as a duplicate identifier.
import ts from "npm:typescript@5.6.3";

const ESBUILD = "esbuild@0.24.0";
const ROOT = new URL("../", import.meta.url);
/** `npm/`, or the directory after `--out` (`tests/npm_package_test.ts`). */
const OUT = outDir(Deno.args);

/** Entry points: `exports` key, output name, source. */
const ENTRIES = [
  { key: ".", name: "mod", source: "mod.ts" },
  { key: "./transport", name: "transport", source: "src/transport/mod.ts" },
  { key: "./cli", name: "cli", source: "cli.ts" },
  { key: "./otel", name: "otel", source: "src/otel.ts" },
  { key: "./admin", name: "admin", source: "src/admin.ts" },
] as const;

interface DenoJson {
  name: string;
  version: string;
  license: string;
}

const BIN = `#!/usr/bin/env node
// The redsync CLI (cli.ts of @redsync/core): see \`redsync --help\`.
import process from "node:process";
import { main } from "../esm/cli.js";

const code = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
});
// Flush before exiting: stdout may be a pipe.
await new Promise((resolve) => process.stdout.write("", resolve));
await new Promise((resolve) => process.stderr.write("", resolve));
process.exit(code);
`;

function outDir(args: string[]): URL {
  const at = args.indexOf("--out");
  if (at === -1) return new URL("npm/", ROOT);
  const dir = args[at + 1];
  if (dir === undefined) throw new Error("--out needs a directory");
  return pathToFileURL(`${resolve(dir)}/`);
}

function path(url: URL): string {
  return fileURLToPath(url);
}

async function run(command: string, args: string[]): Promise<void> {
  const { code } = await new Deno.Command(command, {
    args,
    cwd: path(ROOT),
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  if (code !== 0) {
    throw new Error(`${command} ${args.join(" ")} failed (exit code ${code})`);
  }
}

/** esbuild, bundling for Node 20 (`await using` and the like lowered). */
function esbuild(args: string[]): Promise<void> {
  return run("npx", [
    "-y",
    ESBUILD,
    "--bundle",
    "--platform=node",
    "--target=node20",
    "--keep-names",
    "--log-level=warning",
    ...args,
  ]);
}

async function bundle(): Promise<void> {
  const entries = ENTRIES.map((e) => `${e.name}=./${e.source}`);
  await esbuild([
    ...entries,
    "--format=esm",
    "--splitting",
    "--chunk-names=chunks/[name]-[hash]",
    `--outdir=${path(new URL("esm/", OUT))}`,
  ]);
  await esbuild([
    ...entries,
    "--format=cjs",
    "--define:import.meta.main=false",
    "--out-extension:.js=.cjs",
    `--outdir=${path(new URL("cjs/", OUT))}`,
  ]);
}

/**
 * Rewrites relative `./x.ts` module specifiers to `./x${extension}`, and
 * collects them (as written) in `found`.
 */
function rewriteSpecifiers(
  extension: string,
  found: string[],
): ts.TransformerFactory<ts.SourceFile | ts.Bundle> {
  return (context) => {
    const f = context.factory;
    const rewrite = (literal: ts.StringLiteral): ts.StringLiteral => {
      const text = literal.text;
      if (!/^\.\.?\/.*\.ts$/.test(text)) return literal;
      found.push(text);
      return f.createStringLiteral(text.slice(0, -3) + extension);
    };
    const visit = (node: ts.Node): ts.Node => {
      if (
        ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)
      ) {
        return f.updateImportDeclaration(
          node,
          node.modifiers,
          node.importClause,
          rewrite(node.moduleSpecifier),
          node.attributes,
        );
      }
      if (
        ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined &&
        ts.isStringLiteral(node.moduleSpecifier)
      ) {
        return f.updateExportDeclaration(
          node,
          node.modifiers,
          node.isTypeOnly,
          node.exportClause,
          rewrite(node.moduleSpecifier),
          node.attributes,
        );
      }
      if (
        ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) &&
        ts.isStringLiteral(node.argument.literal)
      ) {
        return f.updateImportTypeNode(
          node,
          f.updateLiteralTypeNode(
            node.argument,
            rewrite(node.argument.literal),
          ),
          node.attributes,
          node.qualifier,
          node.typeArguments,
          node.isTypeOf,
        );
      }
      return ts.visitEachChild(node, visit, context);
    };
    return (root) => ts.visitNode(root, visit) as ts.SourceFile | ts.Bundle;
  };
}

/**
 * `AsyncDisposable` and `Symbol.asyncDispose` are declared by TypeScript's
 * `esnext.disposable` lib (5.2+), which `target: es2022` and the default
 * libs leave out (as do Node's types before @types/node 20.4): a declaration
 * file that names them references that lib, so a consumer's `tsc` accepts
 * the package's types under those settings (`tests/npm_package_test.ts`).
 */
function withDisposableLib(declaration: string): string {
  return /\bAsyncDisposable\b|\basyncDispose\b/.test(declaration)
    ? `/// <reference lib="esnext.disposable" />\n${declaration}`
    : declaration;
}

/**
 * Declarations, file by file, of the entry points and of every file their
 * declarations import (internal files that no public type mentions are left
 * out): `types/**.d.ts` and `cjs/types/**.d.cts`.
 */
async function declarations(): Promise<void> {
  const problems: string[] = [];
  const targets = [
    { dir: new URL("types/", OUT), extension: ".js", suffix: ".d.ts" },
    { dir: new URL("cjs/types/", OUT), extension: ".cjs", suffix: ".d.cts" },
  ];
  const queue: string[] = ENTRIES.map((entry) => entry.source);
  const seen = new Set(queue);
  while (queue.length > 0) {
    const file = queue.shift()!;
    const text = await Deno.readTextFile(new URL(file, ROOT));
    const found: string[] = [];
    for (const target of targets) {
      const result = ts.transpileDeclaration(text, {
        fileName: file,
        reportDiagnostics: true,
        compilerOptions: {
          allowImportingTsExtensions: true,
          isolatedDeclarations: true,
          strict: true,
          target: ts.ScriptTarget.ES2022,
          module: ts.ModuleKind.NodeNext,
        },
        transformers: {
          afterDeclarations: [rewriteSpecifiers(target.extension, found)],
        },
      });
      for (const diagnostic of result.diagnostics ?? []) {
        const message = ts.flattenDiagnosticMessageText(
          diagnostic.messageText,
          "\n",
        );
        const where = diagnostic.file && diagnostic.start !== undefined
          ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
          : undefined;
        problems.push(
          `${file}${where ? `:${where.line + 1}:${where.character + 1}` : ""}` +
            `: ${message}`,
        );
      }
      const out = new URL(file.replace(/\.ts$/, target.suffix), target.dir);
      await Deno.mkdir(new URL("./", out), { recursive: true });
      await Deno.writeTextFile(out, withDisposableLib(result.outputText));
    }
    for (const specifier of found) {
      const next = path(new URL(specifier, new URL(file, ROOT))).slice(
        path(ROOT).length,
      );
      if (!seen.has(next)) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  // Not fatal: TypeScript writes `any` where it could not tell the type.
  // JSR's slow-types check keeps the public API explicit; what lands here is
  // internal (e.g. a parameter whose default is another field).
  if (problems.length > 0) {
    console.warn(
      `warning: ${problems.length / targets.length} declaration(s) typed ` +
        `\`any\` (isolated declarations need an explicit type):\n  ${
          [...new Set(problems)].join("\n  ")
        }`,
    );
  }
}

function packageJson(meta: DenoJson): Record<string, unknown> {
  const exports: Record<string, unknown> = {};
  for (const entry of ENTRIES) {
    const types = entry.source.replace(/\.ts$/, "");
    exports[entry.key] = {
      import: {
        types: `./types/${types}.d.ts`,
        default: `./esm/${entry.name}.js`,
      },
      require: {
        types: `./cjs/types/${types}.d.cts`,
        default: `./cjs/${entry.name}.cjs`,
      },
    };
  }
  exports["./package.json"] = "./package.json";
  // For TypeScript's old `moduleResolution: node`, which ignores `exports`.
  const typesVersions: Record<string, string[]> = {};
  for (const entry of ENTRIES) {
    if (entry.key === ".") continue;
    typesVersions[entry.key.slice(2)] = [
      `./types/${entry.source.replace(/\.ts$/, ".d.ts")}`,
    ];
  }
  return {
    name: meta.name,
    version: meta.version,
    description:
      "Distributed synchronization primitives on Redis: mutex, counting " +
      "semaphore, events; leases, fencing tokens, AbortSignal, await using; " +
      "its own RESP2/RESP3 client. Zero dependencies.",
    keywords: ["redis", "lock", "mutex", "semaphore", "redlock", "distributed"],
    license: meta.license,
    homepage: `https://jsr.io/${meta.name}`,
    type: "module",
    main: "./cjs/mod.cjs",
    module: "./esm/mod.js",
    types: "./types/mod.d.ts",
    typesVersions: { "*": typesVersions },
    exports,
    bin: { redsync: "./bin/redsync.js" },
    files: ["esm/", "cjs/", "types/", "bin/", "docs/", "README.md", "LICENSE"],
    engines: { node: ">=20" },
    dependencies: {},
  };
}

/** Empties OUT, only if it is empty or an earlier build of this package. */
async function clearOut(name: string): Promise<void> {
  let entries: string[];
  try {
    entries = [...Deno.readDirSync(OUT)].map((entry) => entry.name);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  if (entries.length === 0) return;
  let previous: string | undefined;
  try {
    previous = JSON.parse(
      await Deno.readTextFile(new URL("package.json", OUT)),
    ).name;
  } catch {
    // not a build of ours
  }
  if (previous !== name) {
    throw new Error(
      `${path(OUT)} is not empty and holds no earlier build of ${name}: ` +
        `not removing it`,
    );
  }
  await Deno.remove(OUT, { recursive: true });
}

async function main(): Promise<void> {
  const meta = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", ROOT)),
  ) as DenoJson;
  await clearOut(meta.name);
  await Deno.mkdir(OUT, { recursive: true });
  await bundle();
  await declarations();
  await Deno.mkdir(new URL("bin/", OUT), { recursive: true });
  const bin = new URL("bin/redsync.js", OUT);
  await Deno.writeTextFile(bin, BIN);
  await Deno.chmod(bin, 0o755);
  for (const file of ["README.md", "LICENSE"]) {
    await Deno.copyFile(new URL(file, ROOT), new URL(file, OUT));
  }
  // The README links to docs/: ship them, so the links work in the package.
  await Deno.mkdir(new URL("docs/", OUT), { recursive: true });
  for await (const entry of Deno.readDir(new URL("docs/", ROOT))) {
    if (entry.isFile && entry.name.endsWith(".md")) {
      const name = `docs/${entry.name}`;
      await Deno.copyFile(new URL(name, ROOT), new URL(name, OUT));
    }
  }
  await Deno.writeTextFile(
    new URL("package.json", OUT),
    JSON.stringify(packageJson(meta), null, 2) + "\n",
  );
  console.log(`${path(OUT)}: ${meta.name}@${meta.version} (npm pack there)`);
}

await main();
