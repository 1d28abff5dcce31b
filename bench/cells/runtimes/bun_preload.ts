/**
 * Bun preload of the runtimes cell's child
 * (`bun --preload ./bench/cells/runtimes/bun_preload.ts ...`):
 * Bun does not resolve Deno's `npm:` specifiers (`npm:ioredis@5.4.1`), so
 * this plugin resolves each one as the bare `name@version`, which Bun's
 * auto-install fetches into its global cache (no `node_modules` needed).
 * The benchmark's code stays the same on both runtimes.
 *
 * @module
 */

interface BunPluginBuild {
  onResolve(
    constraints: { filter: RegExp; namespace?: string },
    callback: (args: { path: string; importer: string }) => { path: string },
  ): void;
}

interface BunGlobal {
  plugin(options: {
    name: string;
    setup(build: BunPluginBuild): void;
  }): void;
  resolveSync(specifier: string, from: string): string;
}

const bun = (globalThis as { Bun?: BunGlobal }).Bun;
if (bun === undefined) {
  throw new Error("bench/cells/runtimes/bun_preload.ts is for Bun");
}

bun.plugin({
  name: "npm-specifiers",
  setup(build) {
    // Bun reads "npm:x@1" as the path "x@1" in the namespace "npm".
    build.onResolve({ filter: /.*/, namespace: "npm" }, (args) => ({
      path: bun.resolveSync(args.path.replace(/^npm:/, ""), args.importer),
    }));
  },
});
