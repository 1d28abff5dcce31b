/**
 * The oracle of the chaos run (`run.ts`): from the JSON lines of every
 * worker, the fault log and Redis-side samples of the holders, it checks that
 * no more than N live holders ever overlapped, that fencing tokens only went
 * up, that every permit was acquirable afterwards and that callers saw only
 * the errors they asked for; it measures recovery per fault kind and the
 * permit-seconds held by nobody alive. Pure functions, no I/O.
 *
 * @module
 */
import {
  type ChaosData,
  type ChaosReport,
  type Fault,
  type Hold,
  type Lock,
  LOCKS,
  type LogLine,
  type Recovery,
} from "./types.ts";

const num = (value: unknown) => Number(value);

/** Joins `acq`, `dl` and `end` lines into holds with their live interval. */
export function buildHolds(data: ChaosData): Hold[] {
  const lives = new Map(data.workers.map((life) => [life.w, life]));
  const byKey = new Map<string, Hold & { deadlineAt: number; end?: LogLine }>();
  for (const line of data.lines) {
    const key = `${line.w}|${line.id}`;
    if (line.ev === "acq") {
      byKey.set(key, {
        w: line.w,
        lock: line.lock as Lock,
        token: num(line.token),
        id: String(line.id),
        askedAt: num(line.askedAt),
        acquiredAt: num(line.acquiredAt),
        deadlineAt: num(line.deadlineAt),
        liveEnd: Infinity,
        endedBy: "exited",
        lines: [line],
      });
      continue;
    }
    const hold = byKey.get(key);
    if (hold === undefined || (line.ev !== "dl" && line.ev !== "end")) continue;
    hold.lines.push(line);
    hold.deadlineAt = Math.max(hold.deadlineAt, num(line.deadlineAt));
    if (line.ev === "end") hold.end = line;
  }
  const holds: Hold[] = [];
  for (const hold of byKey.values()) {
    const life = lives.get(hold.w);
    const ends: [number, Hold["endedBy"]][] = [[hold.deadlineAt, "deadline"]];
    if (hold.end !== undefined) {
      ends.push([num(hold.end.releasedAt), "released"]);
      if (hold.end.lostAt !== undefined) {
        ends.push([num(hold.end.lostAt), "lost"]);
      }
    } else if (life?.killedAt !== undefined) {
      ends.push([life.killedAt, "killed"]);
    } else ends.push([life?.exitedAt ?? data.endedAt, "exited"]);
    ends.sort((a, b) => a[0] - b[0]);
    const { end: _end, deadlineAt: _deadline, ...rest } = hold;
    holds.push({ ...rest, liveEnd: ends[0][0], endedBy: ends[0][1] });
  }
  return holds.sort((a, b) => a.acquiredAt - b.acquiredAt || a.token - b.token);
}

/** Over-admission episodes: more than `limit` live holds at once. */
export function overAdmissions(
  holds: Hold[],
  limit: number,
): { max: number; episodes: Hold[][] } {
  // Ends before starts at the same millisecond: [acquiredAt, liveEnd).
  const events = holds.flatMap((hold) => [
    { at: hold.acquiredAt, delta: 1, hold },
    { at: hold.liveEnd, delta: -1, hold },
  ]).sort((a, b) => a.at - b.at || a.delta - b.delta);
  const live = new Set<Hold>();
  let max = 0;
  const episodes: Hold[][] = [];
  for (const { delta, hold } of events) {
    if (delta < 0) {
      live.delete(hold);
      continue;
    }
    if (hold.liveEnd <= hold.acquiredAt) continue; // never live
    live.add(hold);
    max = Math.max(max, live.size);
    if (live.size > limit) episodes.push([...live]);
  }
  return { max, episodes };
}

/** Fencing: unique tokens; a token taken before another was asked is smaller. */
export function tokenViolations(holds: Hold[], lock: Lock): string[] {
  const out: string[] = [];
  const seen = new Map<number, Hold>();
  for (const hold of holds) {
    const other = seen.get(hold.token);
    if (other) {
      out.push(`${lock}: token ${hold.token} twice (${other.w}, ${hold.w})`);
    }
    seen.set(hold.token, hold);
  }
  if (lock === "mutex") {
    for (let i = 1; i < holds.length; i++) {
      if (holds[i].token <= holds[i - 1].token) {
        out.push(
          `mutex: token ${holds[i].token} (${holds[i].w}) acquired after ${
            holds[i - 1].token
          } (${holds[i - 1].w})`,
        );
      }
    }
  }
  const byAsk = [...holds].sort((a, b) => a.askedAt - b.askedAt);
  let next = 0;
  let max: Hold | undefined;
  for (const hold of byAsk) {
    while (next < holds.length && holds[next].acquiredAt < hold.askedAt) {
      if (!max || holds[next].token > max.token) max = holds[next];
      next++;
    }
    if (max && hold.token <= max.token) {
      out.push(
        `${lock}: token ${hold.token} (${hold.w}, asked at ${hold.askedAt}) not above ${max.token} (${max.w}, acquired at ${max.acquiredAt})`,
      );
    }
  }
  return out;
}

/** Next acquisition of `lock` after `at` (ms), or undefined. */
function nextAcquisition(starts: number[], at: number): number | undefined {
  let lo = 0;
  let hi = starts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (starts[mid] <= at) lo = mid + 1;
    else hi = mid;
  }
  return lo < starts.length ? starts[lo] - at : undefined;
}

/** Recovery per fault kind (holder faults split by the victim's primitive). */
export function recoveries(holds: Hold[], faults: Fault[]): Recovery[] {
  const starts = Object.fromEntries(LOCKS.map((lock) => [
    lock,
    holds.filter((h) => h.lock === lock).map((h) => h.acquiredAt),
  ])) as Record<Lock, number[]>;
  const byKind = new Map<string, Recovery>();
  for (const fault of faults) {
    const kind = fault.lock ? `${fault.kind} (${fault.lock})` : fault.kind;
    let entry = byKind.get(kind);
    if (!entry) {
      entry = {
        kind,
        count: 0,
        durations: [],
        fromClear: [],
        fromFault: [],
        none: 0,
      };
      byKind.set(kind, entry);
    }
    entry.count++;
    const locks = fault.lock ? [fault.lock] : LOCKS;
    const after = (at: number) => {
      const waits = locks.map((lock) => nextAcquisition(starts[lock], at));
      return waits.some((w) => w === undefined)
        ? undefined
        : Math.max(...(waits as number[]));
    };
    // An acquisition that resolves during the fault was granted before it.
    const fromClear = after(fault.clearedAt);
    const duration = fault.clearedAt - fault.at;
    entry.durations.push(duration);
    if (fromClear === undefined) entry.none++;
    else {
      entry.fromClear.push(fromClear);
      entry.fromFault.push(duration + fromClear);
    }
  }
  return [...byKind.values()].sort((a, b) => a.kind.localeCompare(b.kind));
}

/**
 * Permit-seconds Redis counted as held while the logs say nobody alive held
 * them, by cause, integrated over the samples (gaps capped at 250 ms).
 */
export function ghostSeconds(
  holds: Hold[],
  data: ChaosData,
): Record<string, number> {
  const byId = new Map(holds.map((hold) => [hold.id, hold]));
  const lives = new Map(data.workers.map((life) => [life.w, life]));
  const out: Record<string, number> = {
    "dead holder (SIGKILLed)": 0,
    "granted, never taken up": 0,
    "frozen or lost holder": 0,
    "release in flight": 0,
  };
  for (const lock of LOCKS) {
    const samples = data.samples.filter((s) => s.lock === lock);
    for (let i = 0; i < samples.length; i++) {
      const { at, ids } = samples[i];
      const dt = Math.min(250, (samples[i + 1]?.at ?? at + 100) - at) / 1000;
      for (const id of ids) {
        const hold = byId.get(id);
        if (hold === undefined) out["granted, never taken up"] += dt;
        else if (at < hold.liveEnd || hold.acquiredAt > at) continue;
        else if (hold.endedBy === "killed") {
          out["dead holder (SIGKILLed)"] += dt;
        } else if (hold.endedBy === "released") out["release in flight"] += dt;
        else if (lives.get(hold.w)?.crash) out["dead holder (SIGKILLed)"] += dt;
        else out["frozen or lost holder"] += dt;
      }
    }
  }
  return out;
}

const EXPECTED_ERRORS: Record<string, string[]> = {
  acquire: ["TimeoutError", "AbortError"],
  release: ["LockLostError"],
  connect: ["ConnectionError"],
  create: ["ConnectionError", "RedisUnavailableError"],
};

/** Everything the oracle checks and measures. */
export function analyze(data: ChaosData): ChaosReport {
  const violations: string[] = [];
  const holds = buildHolds(data);
  const permits = Number(data.config.permits);
  const acquisitions = { semaphore: 0, mutex: 0 };
  const maxLive = { semaphore: 0, mutex: 0 };
  const lost = { semaphore: 0, mutex: 0 };
  const overAdmitted = { semaphore: 0, mutex: 0 };
  let tokenBad = 0;
  for (const lock of LOCKS) {
    const mine = holds.filter((hold) => hold.lock === lock);
    acquisitions[lock] = mine.length;
    lost[lock] = mine.filter((hold) =>
      hold.lines.some((l) =>
        l.ev === "end" && l.lostAt !== undefined
      )
    ).length;
    const limit = lock === "mutex" ? 1 : permits;
    const { max, episodes } = overAdmissions(mine, limit);
    maxLive[lock] = max;
    overAdmitted[lock] = episodes.length;
    for (const episode of episodes.slice(0, 5)) {
      violations.push(
        `over-admission on the ${lock}: ${episode.length} live holders > ${limit}:\n` +
          episode.map((h) =>
            `    ${h.w} token ${h.token} live ${h.acquiredAt}..${h.liveEnd} (${h.endedBy}): ${
              h.lines.map((l) => JSON.stringify(l)).join(" ")
            }`
          ).join("\n"),
      );
    }
    const bad = tokenViolations(mine, lock);
    tokenBad += bad.length;
    violations.push(...bad.slice(0, 10));
    const above = data.final.tokens[lock];
    const top = Math.max(0, ...mine.map((hold) => hold.token));
    if (above !== undefined && above <= top) {
      violations.push(
        `${lock}: token ${above} after the run is not above ${top}`,
      );
      tokenBad++;
    }
  }
  // A lease the server dropped while this process still counted on it (a
  // release that was in flight past the deadline may rightly find it ended).
  for (const hold of holds) {
    const end = hold.lines.find((l) => l.ev === "end");
    if (end?.error === "LockLostError" && end.live === true) {
      const left = Math.round(num(end.deadlineAt) - num(end.settledAt));
      if (left > 100) {
        violations.push(
          `${hold.lock}: release() answered the lease had ended ${left} ms before its local deadline: ${
            JSON.stringify(end)
          }`,
        );
      }
    }
  }
  if (!data.final.ok) {
    violations.push(
      `permits not all acquirable ${data.final.ms} ms after the run (bound ${data.final.boundMs} ms)${
        data.final.error ? `: ${data.final.error}` : ""
      }`,
    );
  }
  for (const life of data.workers) {
    if (!life.crash) continue;
    const at = life.exitedAt ?? data.endedAt;
    const before = data.faults.filter((f) => f.at <= at).at(-1);
    const last = data.lines.filter((l) => l.w === life.w).at(-1);
    violations.push(
      `worker ${life.w} (pid ${life.pid}) ${life.crash}; at +${
        ((at - data.startedAt) / 1000).toFixed(1)
      } s, ${
        before
          ? `${
            at - before.clearedAt
          } ms after the end of fault "${before.kind}" (+${
            ((before.at - data.startedAt) / 1000).toFixed(1)
          } s)`
          : "before any fault"
      }; its last line: ${JSON.stringify(last)}`,
    );
  }
  const counts = new Map<string, number>();
  for (const line of data.lines) {
    if (line.ev !== "err") continue;
    const key = `${line.op}|${line.name}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const errors = [...counts].map(([key, count]) => {
    const [op, name] = key.split("|");
    const expected = (EXPECTED_ERRORS[op] ?? []).includes(name);
    if (!expected && (op === "acquire" || op === "release")) {
      const sample = data.lines.find((l) =>
        l.ev === "err" && l.op === op && l.name === name
      );
      violations.push(
        `${op}() rejected ${count} times with ${name}: ${
          JSON.stringify(sample)
        }`,
      );
    }
    return { op, name, count, expected };
  }).sort((a, b) => a.op.localeCompare(b.op) || b.count - a.count);
  return {
    ok: violations.length === 0,
    violations,
    holds,
    acquisitions,
    maxLive,
    overAdmissions: overAdmitted,
    tokenViolations: tokenBad,
    lost,
    recoveries: recoveries(holds, data.faults),
    ghostSeconds: ghostSeconds(holds, data),
    errors,
  };
}
