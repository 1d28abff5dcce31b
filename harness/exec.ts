/**
 * Runs a command as one step of a test (an npm install, a build, a script),
 * within a time limit, with npm's chatter off; rejects with the end of its
 * output when it fails or overruns.
 *
 * @example
 * ```ts
 * import { runStep } from "./exec.ts";
 *
 * const { stdout } = await runStep("npm", ["--version"], ".", { limitMs: 30_000 });
 * ```
 *
 * @module
 */
import { execFile } from "node:child_process";
import process from "node:process";

/** What a step printed. */
export interface StepOutput {
  stdout: string;
  stderr: string;
}

/** How to run a step. */
export interface StepOptions {
  /** Variables set for it, over this process's environment. @default {{}} */
  env?: Record<string, string>;
  /** SIGKILLed and failed after this long. @default {120_000} */
  limitMs?: number;
}

/** Runs `file` with `args` in `cwd`; see the module. */
export function runStep(
  file: string,
  args: string[],
  cwd: string,
  options: StepOptions = {},
): Promise<StepOutput> {
  const { env = {}, limitMs = 120_000 } = options;
  return new Promise((resolve, reject) => {
    execFile(file, args, {
      cwd,
      env: {
        ...process.env,
        NO_COLOR: "1",
        npm_config_audit: "false",
        npm_config_fund: "false",
        npm_config_update_notifier: "false",
        ...env,
      },
      timeout: limitMs,
      killSignal: "SIGKILL",
      maxBuffer: 16 * 1024 * 1024,
    }, (error, stdout, stderr) => {
      if (error) {
        reject(
          new Error(
            `${file} ${args.join(" ")} (in ${cwd}) failed: ${error.message}\n` +
              `stdout: ${stdout.slice(-4_000)}\nstderr: ${
                stderr.slice(-4_000)
              }`,
          ),
        );
      } else resolve({ stdout, stderr });
    });
  });
}
