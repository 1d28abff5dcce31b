/**
 * Checks the import graph of the whole repository (every `.ts` file but
 * `node_modules/`, `npm/` and dot folders) and exits with code 1 when it
 * finds:
 *
 * - an import that the table of units does not allow ({@linkcode RULES}):
 *   a unit is a folder (`src/locks/`, `tests/`, ...; its subfolders
 *   included) or a file at the root of `src/` or of the repository
 *   (`src/errors.ts`, `mod.ts`, ...), and each may import only the units
 *   its row names. A file whose unit has no row fails too: a new folder or
 *   root file takes its place in the table first;
 * - a cycle between units (the imports that {@linkcode EXCEPTIONS} allows
 *   left out: a known, temporary, cycle). The table itself must be
 *   free of cycles, so a new one fails twice: as an import not allowed and
 *   as a cycle;
 * - an import cycle between files, printed as `a.ts -> b.ts -> a.ts` (for
 *   each strongly connected component, the shortest cycle through each of
 *   its files, each printed once);
 * - a dangling import: a relative specifier that names no existing file;
 * - an exception that no import uses any more (remove it);
 * - a table in `ARCHITECTURE.md` (between the
 *   `<!-- import rules: ... -->` and `<!-- end of import rules -->`
 *   lines) that says other than {@linkcode RULES} and
 *   {@linkcode EXCEPTIONS}: `--table` prints the table to paste there.
 *
 * Type-only imports (`import type`, `export type ... from`) count: they
 * vanish at run time, but still show a layering problem. A file of
 * published code (`src/`, `cli/`, `mod.ts`, `cli.ts`) over
 * {@linkcode MAX_LINES} lines is a warning, printed and not failed: the cap
 * is a hint, not a rule that decides the design.
 *
 * It follows relative specifiers (`./`, `../`) of static `import`/`export
 * ... from`, side-effect `import "./x.ts"` and dynamic `import("./x.ts")`,
 * found by a small scanner that skips comments, strings, template literals
 * (their `${}` parts are code) and regular expression literals, so JSDoc
 * examples and code held in strings do not count. Bare, `node:`, `npm:`,
 * `jsr:` and URL specifiers are ignored. It is a scanner, not a parser (a
 * `/` right after `)` is taken for a division). No dependencies, only
 * `node:` built-ins: it also runs as is under Bun, and under Node >= 22.6
 * with `--experimental-strip-types` (Node 20: through a loader such as tsx).
 *
 * ```sh
 * deno run --allow-read tools/check_imports.ts          # the whole repository
 * deno run --allow-read tools/check_imports.ts bench    # problems of files under bench/ only
 * deno run --allow-read tools/check_imports.ts --table  # the table, for ARCHITECTURE.md
 * ```
 *
 * @module
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** Longest file of published code, in lines, before a warning. */
const MAX_LINES = 400;
/** What {@linkcode MAX_LINES} is about: published code. */
const CAPPED = ["src/", "cli/", "mod.ts", "cli.ts"];

/** Any unit: what `tests/` may import. */
const ANY = "any unit";

/**
 * Which unit may import which, besides itself: the one place these rules
 * live (`ARCHITECTURE.md` shows them, checked against this). Bottom up.
 */
const RULES: ReadonlyArray<readonly [unit: string, mayImport: string[]]> = [
  ["src/errors.ts", []],
  ["src/observe.ts", ["src/errors.ts"]],
  ["src/_internal/", ["src/errors.ts"]],
  ["src/resp/", ["src/errors.ts"]],
  ["src/transport/", ["src/_internal/", "src/errors.ts"]],
  ["src/client/", [
    "src/_internal/",
    "src/errors.ts",
    "src/resp/",
    "src/transport/",
  ]],
  ["src/topologies/", [
    "src/_internal/",
    "src/errors.ts",
    "src/resp/",
    "src/client/",
  ]],
  ["src/connect/", ["src/transport/", "src/client/", "src/topologies/"]],
  ["src/locks/", [
    "src/_internal/",
    "src/errors.ts",
    "src/observe.ts",
    "src/resp/",
    "src/client/",
  ]],
  ["src/events/", [
    "src/_internal/",
    "src/errors.ts",
    "src/client/",
    "src/locks/",
  ]],
  ["src/redlock/", [
    "src/_internal/",
    "src/errors.ts",
    "src/observe.ts",
    "src/client/",
    "src/locks/",
  ]],
  ["src/fencing.ts", [
    "src/_internal/",
    "src/errors.ts",
    "src/client/",
    "src/locks/",
  ]],
  ["src/inspect.ts", [
    "src/_internal/",
    "src/errors.ts",
    "src/client/",
    "src/locks/",
  ]],
  ["src/inspect_event.ts", [
    "src/errors.ts",
    "src/client/",
    "src/locks/",
    "src/events/",
  ]],
  ["src/admin.ts", ["src/inspect.ts", "src/inspect_event.ts"]],
  ["src/otel/", ["src/observe.ts"]],
  ["src/otel.ts", ["src/observe.ts", "src/otel/"]],
  ["mod.ts", [
    "src/errors.ts",
    "src/observe.ts",
    "src/resp/",
    "src/client/",
    "src/topologies/",
    "src/connect/",
    "src/locks/",
    "src/events/",
    "src/redlock/",
    "src/fencing.ts",
  ]],
  ["cli/", ["mod.ts", "src/admin.ts"]],
  ["cli.ts", ["mod.ts", "cli/"]],
  ["harness/", ["mod.ts", "src/topologies/"]],
  ["bench/", ["mod.ts", "src/admin.ts", "src/transport/", "harness/"]],
  ["demo/", ["mod.ts", "src/admin.ts", "harness/"]],
  ["tests/", [ANY]],
  ["tools/", []],
];

/** An import the table does not allow, allowed for now. */
interface Exception {
  /** The importing unit. */
  from: string;
  /** The imported unit. */
  to: string;
  /** The only file imports it covers: `importer -> imported`. */
  imports: string[];
  /** What removes it. */
  until: string;
}

/** The known exceptions, each temporary. None today. */
const EXCEPTIONS: readonly Exception[] = [];

/** The lines around the table in `ARCHITECTURE.md`. */
const TABLE_START = "<!-- import rules: tools/check_imports.ts --table -->";
const TABLE_END = "<!-- end of import rules -->";

/** The unit of a file: its folder under the root or under `src/`, or itself. */
function unitOf(path: string): string {
  const parts = path.split("/");
  if (parts[0] === "src") {
    return parts.length > 2 ? `src/${parts[1]}/` : path;
  }
  return parts.length > 1 ? `${parts[0]}/` : path;
}

function walk(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "node_modules" && entry.name !== "npm") {
        walk(path, out);
      }
    } else if (entry.isFile() && entry.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

/** Words after which a `/` starts a regular expression, not a division. */
const BEFORE_REGEX = new Set([
  "return",
  "typeof",
  "instanceof",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "case",
  "do",
  "else",
  "yield",
  "await",
]);

/**
 * `source` as code alone: comments and regular expressions become a
 * space, each string (and template literal without `${}`) becomes
 * `"N"`, N its index in `strings`, and the text of a template literal
 * with `${}` is dropped (its `${}` parts are kept as code).
 */
function scan(source: string): { code: string; strings: string[] } {
  const strings: string[] = [];
  let code = "";
  let i = 0;
  const n = source.length;
  /** The last word or punctuation of `code`. */
  const lastToken = (): string => {
    let end = code.length;
    while (end > 0 && /\s/.test(code[end - 1])) end--;
    let start = end;
    while (start > 0 && /\w/.test(code[start - 1])) start--;
    return start < end ? code.slice(start, end) : code.slice(end - 1, end);
  };
  const readQuoted = (quote: string): string => {
    let text = "";
    for (i++; i < n && source[i] !== quote && source[i] !== "\n"; i++) {
      if (source[i] === "\\") i++;
      text += source[i];
    }
    i++;
    return text;
  };
  const readTemplate = (): void => {
    let text = "";
    let parts = 0;
    for (i++; i < n && source[i] !== "`"; i++) {
      if (source[i] === "\\") {
        text += source[++i];
      } else if (source[i] === "$" && source[i + 1] === "{") {
        parts++;
        i += 2;
        code += " ";
        readCode(true);
        code += " ";
        i--; // the loop steps over the closing brace
      } else text += source[i];
    }
    i++;
    if (parts === 0) {
      code += `"${strings.length}"`;
      strings.push(text);
    }
  };
  const readRegex = (): boolean => {
    let j = i + 1;
    let inClass = false;
    for (; j < n && source[j] !== "\n"; j++) {
      if (source[j] === "\\") j++;
      else if (source[j] === "[") inClass = true;
      else if (source[j] === "]") inClass = false;
      else if (source[j] === "/" && !inClass) break;
    }
    if (j >= n || source[j] !== "/") return false; // not one: a division
    for (j++; j < n && /[a-z]/.test(source[j]); j++);
    i = j;
    code += " ";
    return true;
  };
  /** Code up to the end, or (`inBraces`) to the `}` that closes a `${`. */
  const readCode = (inBraces: boolean): void => {
    let depth = 0;
    while (i < n) {
      const c = source[i];
      if (c === "/" && source[i + 1] === "/") {
        while (i < n && source[i] !== "\n") i++;
      } else if (c === "/" && source[i + 1] === "*") {
        const end = source.indexOf("*/", i + 2);
        i = end < 0 ? n : end + 2;
        code += " ";
      } else if (c === '"' || c === "'") {
        code += `"${strings.length}"`;
        strings.push(readQuoted(c));
      } else if (c === "`") {
        readTemplate();
      } else if (c === "/") {
        const before = lastToken();
        const regex = before === "" || BEFORE_REGEX.has(before) ||
          !/^[\w)\]}"]$/.test(before.slice(-1));
        if (!regex || !readRegex()) {
          code += c;
          i++;
        }
      } else {
        if (c === "{") depth++;
        if (c === "}" && depth-- === 0 && inBraces) {
          i++;
          return;
        }
        code += c;
        i++;
      }
    }
  };
  readCode(false);
  return { code, strings };
}

/** `from "./x.ts"` (import/export), `import "./x.ts"`, `import("./x.ts")`. */
const SPECIFIER = /(?:\bfrom|\bimport)\s*(?:\(\s*)?"(\d+)"/g;

/** Relative specifiers in one file's source. */
function specifiers(source: string): string[] {
  const { code, strings } = scan(source);
  return [...code.matchAll(SPECIFIER)]
    .map((m) => strings[Number(m[1])])
    .filter((spec) => /^\.\.?\//.test(spec));
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

/** Every cycle of `graph`, each as `a -> b -> a` (smallest node first). */
function cyclesOf(graph: Map<string, string[]>): string[] {
  const cycles = new Set<string>();
  for (const scc of tarjan(graph)) {
    const members = new Set(scc);
    if (scc.length === 1 && !graph.get(scc[0])?.includes(scc[0])) continue;
    for (const start of scc) {
      const cycle = shortestCycle(graph, members, start).slice(0, -1);
      const k = cycle.indexOf([...cycle].sort()[0]); // rotate: smallest first
      const canon = [...cycle.slice(k), ...cycle.slice(0, k)];
      cycles.add([...canon, canon[0]].join(" -> "));
    }
  }
  return [...cycles].sort();
}

/** What is wrong with the table itself (a cycle, an unknown unit). */
function tableProblems(): string[] {
  const units = new Set(RULES.map(([unit]) => unit));
  const problems: string[] = [];
  const graph = new Map<string, string[]>();
  for (const [unit, may] of RULES) {
    for (const to of may) {
      if (to !== ANY && !units.has(to)) {
        problems.push(`table: ${unit} may import ${to}, which has no row`);
      }
    }
    graph.set(unit, may.filter((to) => to !== ANY));
  }
  for (const c of cyclesOf(graph)) problems.push(`table: cycle ${c}`);
  for (const e of EXCEPTIONS) {
    if (!units.has(e.from) || !units.has(e.to)) {
      problems.push(`table: exception ${e.from} -> ${e.to} names no row`);
    }
  }
  return problems;
}

/** The table as Markdown (what `--table` prints). */
function markdownTable(): string {
  const rows = RULES.map(([unit, may]) => {
    const allowed = may.length === 0
      ? "nothing"
      : may.map((to) => to === ANY ? ANY : `\`${to}\``).join(", ");
    const extra = EXCEPTIONS.filter((e) => e.from === unit).map((e) =>
      `; TEMPORARY: \`${e.to}\` from ${
        e.imports.map((i) => `\`${i.split(" -> ")[0].slice(e.from.length)}\``)
          .join(" and ")
      } only, until "${e.until}"`
    ).join("");
    return [`\`${unit}\``, allowed + extra];
  });
  const header = ["unit", "may import (besides itself)"];
  const widths = header.map((h, c) =>
    Math.max(h.length, ...rows.map((r) => [...r[c]].length))
  );
  const line = (cells: string[]) =>
    `| ${
      cells.map((cell, c) => cell + " ".repeat(widths[c] - [...cell].length))
        .join(" | ")
    } |`;
  return [
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map(line),
  ].join("\n");
}

/** A Markdown table's cells, row by row, without its separator row. */
function cellsOf(table: string): string[][] {
  return table.split("\n")
    .filter((row) => row.trim().startsWith("|"))
    .map((row) => row.trim().slice(1, -1).split("|").map((c) => c.trim()))
    .filter((cells) => !cells.every((c) => /^:?-+:?$/.test(c)));
}

/** How `ARCHITECTURE.md`'s table differs from {@linkcode RULES}, if it does. */
function architectureProblem(root: string): string | undefined {
  const path = join(root, "ARCHITECTURE.md");
  const text = existsSync(path) ? readFileSync(path, "utf8") : "";
  const start = text.indexOf(TABLE_START);
  const end = text.indexOf(TABLE_END, start);
  const fix =
    "run `deno run --allow-read tools/check_imports.ts --table` and paste its output there";
  if (start < 0 || end < 0) {
    return `ARCHITECTURE.md: no table between "${TABLE_START}" and "${TABLE_END}": ${fix}`;
  }
  const written = JSON.stringify(cellsOf(text.slice(start, end)));
  if (written !== JSON.stringify(cellsOf(markdownTable()))) {
    return `ARCHITECTURE.md: its table of import rules differs from tools/check_imports.ts: ${fix}`;
  }
  return undefined;
}

function main(args: string[]): number {
  if (args.includes("--table")) {
    console.log(markdownTable());
    return 0;
  }
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
  const scopeArg = args[0];
  const scope = scopeArg === undefined ? root : resolve(scopeArg);
  if (!existsSync(scope) || !statSync(scope).isDirectory()) {
    console.error(`check_imports: ${scopeArg} is not a directory`);
    return 1;
  }
  const rel = (p: string) => relative(root, p).split(sep).join("/");
  const inScope = (path: string) => {
    const full = resolve(root, path);
    return scope === root || full === scope || full.startsWith(scope + sep);
  };
  const files = walk(root).sort();
  const rules = new Map(RULES.map(([unit, may]) => [unit, new Set(may)]));
  const excused = new Map(
    EXCEPTIONS.flatMap((e) => e.imports.map((i) => [i, e] as const)),
  );
  const used = new Set<string>();
  const graph = new Map<string, string[]>();
  const unitGraph = new Map<string, Set<string>>();
  const problems: string[] = scope === root ? tableProblems() : [];
  const warnings: string[] = [];
  for (const file of files) {
    const path = rel(file);
    const source = readFileSync(file, "utf8");
    const lines = source.split("\n").length - (source.endsWith("\n") ? 1 : 0);
    if (lines > MAX_LINES && CAPPED.some((c) => path.startsWith(c))) {
      warnings.push(`over ${MAX_LINES} lines: ${path} (${lines})`);
    }
    const unit = unitOf(path);
    const may = rules.get(unit);
    if (!may && inScope(path)) {
      problems.push(`no row for ${unit} (${path}) in the table of units`);
    }
    const edges = new Set<string>();
    for (const spec of specifiers(source)) {
      const target = resolve(dirname(file), spec.split(/[?#]/)[0]);
      if (!existsSync(target) || !statSync(target).isFile()) {
        if (inScope(path)) {
          problems.push(`dangling import: ${path} imports "${spec}"`);
        }
        continue;
      }
      if (!target.startsWith(root + sep)) continue;
      const to = rel(target);
      edges.add(to);
      const toUnit = unitOf(to);
      if (toUnit === unit) continue;
      const edge = `${path} -> ${to}`;
      const exception = excused.get(edge);
      if (exception) {
        used.add(edge);
        continue; // left out of the unit graph too
      }
      if (!unitGraph.has(unit)) unitGraph.set(unit, new Set());
      unitGraph.get(unit)!.add(toUnit);
      if (may && !may.has(toUnit) && !may.has(ANY) && inScope(path)) {
        problems.push(`not allowed: ${unit} -> ${toUnit} (${edge})`);
      }
    }
    graph.set(path, [...edges].sort());
  }
  const unitCycles = cyclesOf(
    new Map([...unitGraph].map(([u, to]) => [u, [...to].sort()])),
  );
  for (const c of unitCycles) {
    if (c.split(" -> ").some((u) => inScope(u))) {
      problems.push(`cycle of units: ${c}`);
    }
  }
  for (const c of cyclesOf(graph)) {
    if (c.split(" -> ").some(inScope)) problems.push(`cycle: ${c}`);
  }
  if (scope === root) {
    for (const edge of excused.keys()) {
      if (!used.has(edge)) {
        problems.push(
          `exception no longer used: ${edge} (remove it from EXCEPTIONS)`,
        );
      }
    }
    const table = architectureProblem(root);
    if (table) problems.push(table);
  }
  for (const w of warnings) console.warn(`check_imports: warning: ${w}`);
  const where = scope === root ? "." : rel(scope);
  if (problems.length > 0) {
    console.error(`check_imports ${where}: ${problems.length} problem(s)`);
    for (const p of problems) console.error(`  ${p}`);
    return 1;
  }
  const units = new Set(files.map((f) => unitOf(rel(f))));
  console.log(
    `imports ${where}: ${files.length} files in ${units.size} units, every import allowed by the table, no cycle (${
      EXCEPTIONS.length === 0
        ? "no temporary exception"
        : `${EXCEPTIONS.length} temporary exception(s): ${
          EXCEPTIONS.map((e) => `${e.from} -> ${e.to}`).join(", ")
        }`
    })`,
  );
  return 0;
}

process.exitCode = main(process.argv.slice(2));
