/**
 * Where a new connection goes: a fixed address, or one resolved anew for
 * every connection (the current primary, per the sentinels).
 *
 * @module
 */

/** A server's address. */
export interface Target {
  hostname: string;
  port: number;
}

/** Resolves the address a new connection should use. */
export interface TargetResolver {
  /** The address to connect to now. */
  resolve(signal: AbortSignal): Promise<Target>;
  /**
   * Only a primary will do: the handshake checks `ROLE`, and a `READONLY`
   * reply drops the connection (its successor resolves again).
   */
  readonly primaryOnly: boolean;
}

/** Always the same address. */
export function fixedTarget(target: Target): TargetResolver {
  return { primaryOnly: false, resolve: () => Promise.resolve(target) };
}
