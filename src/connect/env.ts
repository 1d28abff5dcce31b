/**
 * The URL `connect()` uses when given none: `REDIS_URL` where the runtime
 * has an environment, else `redis://127.0.0.1:6379`. The one place that
 * reads the environment for the client.
 *
 * @module
 */

/** Where a client connects when neither a URL nor `REDIS_URL` says otherwise. */
export const DEFAULT_URL = "redis://127.0.0.1:6379";

interface Globals {
  Deno?: {
    env?: { get(name: string): string | undefined };
    permissions?: {
      querySync?(descriptor: { name: "env"; variable: string }): {
        state: string;
      };
    };
  };
  process?: { env?: Record<string, string | undefined> };
}

/**
 * `REDIS_URL` when it is set and not empty, else {@linkcode DEFAULT_URL}.
 * Deno: read only with env permission (`--allow-env`, or
 * `--allow-env=REDIS_URL`): without it, no prompt and the default. Bun and
 * Node: `process.env`. Elsewhere (a browser, a worker without `process`):
 * the default.
 */
export function defaultUrl(): string {
  return environmentVariable("REDIS_URL") || DEFAULT_URL;
}

/** One environment variable, or `undefined` where there is none to read. */
export function environmentVariable(name: string): string | undefined {
  const { Deno, process } = globalThis as Globals;
  try {
    if (typeof Deno === "object" && Deno !== null) {
      const state = Deno.permissions?.querySync?.({
        name: "env",
        variable: name,
      }).state;
      return state === "granted" ? Deno.env?.get(name) : undefined;
    }
    return process?.env?.[name];
  } catch {
    // An environment that refuses to be read (a sandbox): none.
    return undefined;
  }
}
