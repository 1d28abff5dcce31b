/**
 * `deno task chaos`: the chaos run ({@linkcode LONG}, about 4 minutes; see
 * `run.ts`), its report printed and written to `bench/results/chaos.md`;
 * exit code 1 on any violation.
 *
 * `CHAOS_QUICK=1` runs the short version instead ({@linkcode SHORT}, the
 * one `tests/chaos_test.ts` runs, about 40 s) and only prints its report;
 * `CHAOS_JSON=<file>` also writes the raw data (every log line, fault,
 * sample).
 *
 * @module
 */
import { mkdir, writeFile } from "node:fs/promises";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { formatFile } from "../shared/output.ts";
import { renderReport } from "./report.ts";
import { LONG, runChaos, SHORT } from "./run.ts";

const quick = process.env.CHAOS_QUICK === "1";
const { data, report } = await runChaos(quick ? SHORT : LONG);
const json = process.env.CHAOS_JSON;
if (json) await writeFile(json, JSON.stringify(data));
const markdown = renderReport(data, report);
console.log(markdown);
if (!quick) {
  const dir = new URL("../results/", import.meta.url);
  const out = new URL("chaos.md", dir);
  await mkdir(dir, { recursive: true });
  await writeFile(out, markdown);
  // Formatted as `deno fmt` wants it (`deno task check` checks every file).
  await formatFile(out);
  console.log(`written to ${fileURLToPath(out)}`);
}
if (!report.ok) process.exit(1);
