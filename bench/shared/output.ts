/**
 * What the bench's entry points write: the line that says where a run ran
 * (runtime, machine, load, time), and `deno fmt` over a file they wrote
 * (so that the project's `deno fmt --check` stays clean). Deno only.
 *
 * @module
 */
import { arch, cpus, loadavg, platform } from "node:os";

/** Runtime, platform, cores, load average and the time, in one line. */
export function runtimeLine(): string {
  const { deno, v8, typescript } = Deno.version;
  const runtime = `Deno ${deno} (V8 ${v8}, TypeScript ${typescript})`;
  const cpu = cpus();
  const load = loadavg().map((l) => l.toFixed(2)).join(" ");
  return `${runtime}; ${platform()} ${arch()}, ${cpu.length} cores (${
    cpu[0]?.model.trim() ?? "unknown CPU"
  }), load average at start ${load}; ${new Date().toISOString()}`;
}

/**
 * Runs `deno fmt` on a written file (a report, a chart): aligned tables,
 * wrapped prose. Best effort: a failure is printed, not thrown.
 */
export async function formatFile(file: URL): Promise<void> {
  try {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--quiet", file.pathname],
      stdout: "null",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    if (code !== 0) {
      console.error(
        `bench: deno fmt of ${file.pathname} failed: ${
          new TextDecoder().decode(stderr).trim()
        }`,
      );
    }
  } catch (error) {
    console.error(`bench: deno fmt of ${file.pathname} failed: ${error}`);
  }
}
