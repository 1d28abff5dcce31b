/**
 * The data of a chaos run (`run.ts`) and what its oracle (`oracle.ts`)
 * makes of it.
 *
 * @module
 */

/** How a chaos run goes: its workers, its locks, how long it injects faults. */
export interface ChaosConfig {
  /** Worker processes alive at any time. */
  workers: number;
  permits: number;
  leaseMs: number;
  waiterTtlMs: number;
  /** Fault-free lead-in. */
  quietMs: number;
  /** Faults are started during this long. */
  faultsMs: number;
  maxFaults: number;
  /** Fault-free tail before the workers stop (everything must recover). */
  tailMs: number;
  /** Every n-th worker polls instead of blocking. */
  pollingEvery: number;
}

export type Lock = "semaphore" | "mutex";
export const LOCKS: readonly Lock[] = ["semaphore", "mutex"];

/** One JSON line of a worker (`worker.ts`), tagged with its worker. */
export type LogLine = Record<string, unknown> & { ev: string; w: string };

/** One worker process's life. */
export interface WorkerLife {
  w: string;
  pid: number;
  startedAt: number;
  /** When the injector SIGKILLed it. */
  killedAt?: number;
  exitedAt?: number;
  exit?: string;
  /** It exited in a way nobody asked for (crash, hang), with its stderr. */
  crash?: string;
}

/** One injected fault. */
export interface Fault {
  kind: string;
  at: number;
  /** When the fault was over (server back, SIGCONT sent, pause ended). */
  clearedAt: number;
  /** The primitive a holder fault hit (the victim's). */
  lock?: Lock;
  victim?: string;
}

/** The ids of the live holders Redis listed (`inspect()`) at `at`. */
export interface Sample {
  at: number;
  lock: Lock;
  ids: string[];
}

/** Every permit acquired at once after the run. */
export interface FinalCheck {
  ok: boolean;
  /** From the moment every worker was gone. */
  ms: number;
  boundMs: number;
  tokens: Partial<Record<Lock, number>>;
  error?: string;
}

export interface ChaosData {
  config: Record<string, number | string>;
  startedAt: number;
  endedAt: number;
  lines: LogLine[];
  workers: WorkerLife[];
  faults: Fault[];
  samples: Sample[];
  final: FinalCheck;
  redisVersion: string;
  runtime: string;
}

/** A lease as the logs tell it. */
export interface Hold {
  w: string;
  lock: Lock;
  token: number;
  id: string;
  askedAt: number;
  acquiredAt: number;
  /** End of the live part: release called, lost, local deadline, or death. */
  liveEnd: number;
  endedBy: "released" | "lost" | "deadline" | "killed" | "exited";
  lines: LogLine[];
}

export interface Recovery {
  kind: string;
  count: number;
  /** How long each fault lasted (until the server was back, SIGCONT...). */
  durations: number[];
  /** From the fault's end to the next acquisition. */
  fromClear: number[];
  /** From the fault's start to the first acquisition after its end. */
  fromFault: number[];
  none: number;
}

export interface ChaosReport {
  ok: boolean;
  violations: string[];
  holds: Hold[];
  acquisitions: Record<Lock, number>;
  maxLive: Record<Lock, number>;
  /** Over-admission episodes per primitive. */
  overAdmissions: Record<Lock, number>;
  tokenViolations: number;
  lost: Record<Lock, number>;
  recoveries: Recovery[];
  ghostSeconds: Record<string, number>;
  errors: { op: string; name: string; count: number; expected: boolean }[];
}
