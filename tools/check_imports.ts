/**
 * Checks the import graph of `src/` (or of another directory given as the
 * first argument) and exits with code 1 when it finds:
 *
 * - an import cycle, printed as `a.ts -> b.ts -> a.ts` (for each strongly
 *   connected component, the shortest cycle through each of its files, each
 *   printed once). Type-only imports (`import type`, `export type ... from`)
 *   count too: they vanish at run time, but still show a layering problem;
 * - a file over {@link MAX_LINES} lines, unless listed in {@link ALLOW_LONG};
 * - a dangling import: a relative specifier that does not name an existing
 *   file.
 *
 * It follows relative specifiers (`./`, `../`) of static `import`/`export ...
 * from`, side-effect `import "./x.ts"` and dynamic `import("./x.ts")`, after
 * stripping comments (so JSDoc examples do not count). Bare, `node:`, `npm:`,
 * `jsr:` and URL specifiers are ignored. It is a scanner, not a parser (a regex
 * literal holding a quote could fool it). No dependencies, only `node:`
 * built-ins: it also runs as is under Bun, and under Node >= 22.6 with
 * `--experimental-strip-types` (Node 20: through a loader such as tsx).
 *
 * ```sh
 * deno run --allow-read tools/check_imports.ts          # checks src/
 * deno run --allow-read tools/check_imports.ts some/dir # checks some/dir
 * ```
 *
 * @module
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import process from "node:process";

/** Longest allowed file, in lines. */
const MAX_LINES = 400;
/** Justified exceptions to {@link MAX_LINES}: path under the root -> reason. */
const ALLOW_LONG: Record<string, string> = {};

/** Comments are dropped; strings are kept (so `"//"` inside one is safe). */
const COMMENT_OR_STRING =
  /("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`)|\/\*[\s\S]*?\*\/|\/\/[^\n]*/g;
/** `from "./x.ts"` (import/export), `import "./x.ts"`, `import("./x.ts")`. */
const SPECIFIER =
  /(?:\bfrom\s*|\bimport\s*(?:\(\s*)?)(["'`])(\.\.?\/[^"'`\n$]*)\1/g;

function walk(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, out);
    else if (entry.isFile() && entry.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

/** Relative specifiers in one file's source. */
function specifiers(source: string): string[] {
  const code = source.replace(COMMENT_OR_STRING, (_m, str) => str ?? " ");
  return [...code.matchAll(SPECIFIER)].map((m) => m[2]);
}

/** Strongly connected components (Tarjan), for a graph of sorted node ids. */
function tarjan(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], sccs: string[][] = [], onStack = new Set();
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      sccs.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return sccs;
}

/** Shortest cycle through `start` inside `scc` (BFS), e.g. [a, b, a]. */
function shortestCycle(
  graph: Map<string, string[]>,
  scc: Set<string>,
  start: string,
): string[] {
  const parent = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    for (const w of graph.get(queue[i]) ?? []) {
      if (!scc.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let v = queue[i]; v !== start; v = parent.get(v)!) path.unshift(v);
        return [start, ...path];
      }
      if (!parent.has(w)) {
        parent.set(w, queue[i]);
        queue.push(w);
      }
    }
  }
  return [];
}

function main(rootArg = "src"): number {
  const root = resolve(rootArg);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    console.error(`check_imports: ${rootArg} is not a directory`);
    return 1;
  }
  const rel = (p: string) => relative(root, p).split(sep).join("/");
  const files = walk(root).sort();
  const graph = new Map<string, string[]>();
  const problems: string[] = [];
  for (const file of files) {
    const source = readFileSync(file, "utf8");
    const lines = source.split("\n").length - (source.endsWith("\n") ? 1 : 0);
    if (lines > MAX_LINES && !(rel(file) in ALLOW_LONG)) {
      problems.push(`over ${MAX_LINES} lines: ${rel(file)} (${lines})`);
    }
    const edges = new Set<string>();
    for (const spec of specifiers(source)) {
      const target = resolve(dirname(file), spec.split(/[?#]/)[0]);
      if (!existsSync(target) || !statSync(target).isFile()) {
        problems.push(`dangling import: ${rel(file)} imports "${spec}"`);
      } else if (target.startsWith(root + sep)) edges.add(rel(target));
    }
    graph.set(rel(file), [...edges].sort());
  }
  const cycles = new Set<string>();
  for (const scc of tarjan(graph)) {
    const members = new Set(scc);
    if (scc.length === 1 && !graph.get(scc[0])!.includes(scc[0])) continue;
    for (const start of scc) {
      const cycle = shortestCycle(graph, members, start).slice(0, -1);
      const k = cycle.indexOf([...cycle].sort()[0]); // rotate: smallest first
      const canon = [...cycle.slice(k), ...cycle.slice(0, k)];
      cycles.add([...canon, canon[0]].join(" -> "));
    }
  }
  for (const c of [...cycles].sort()) problems.push(`cycle: ${c}`);
  if (problems.length > 0) {
    console.error(`check_imports ${rootArg}: ${problems.length} problem(s)`);
    for (const p of problems) console.error(`  ${p}`);
    return 1;
  }
  console.log(
    `imports: ${files.length} files, no cycle, none over ${MAX_LINES} lines`,
  );
  return 0;
}

process.exitCode = main(process.argv[2]);
