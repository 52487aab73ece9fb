/**
 * How the AIBrix GPU optimizer's `GatewayLoadReader` (Python,
 * `gpu_optimizer/load_monitor/load_reader.py`) finds and reads a model's trace
 * windows, rule by rule: SCAN `aibrix:<model>_request_trace_*`, keep the keys
 * ending in `_<digits>` (warning on the others), GET each, and parse it as a
 * `dict` whose keys are `meta_*` or `"<int>:<int>"` with integer counts.
 * Whatever it would reject makes `readTraces` fail.
 */
import type { Redis as IORedis } from "ioredis"

export interface LoadProfile {
  readonly ts: number
  /** Completed requests by bucket (`"<i>:<o>"`). */
  readonly records: ReadonlyMap<string, number>
  readonly totalRequests: number
  readonly pendingRequests: number
}

export interface ReadTraces {
  readonly profiles: ReadonlyArray<LoadProfile>
  /** The reader's "Unexpected <key> from Redis" warnings. */
  readonly unexpectedKeys: ReadonlyArray<string>
}

const parseProfile = (key: string, ts: number, text: string): LoadProfile => {
  const profile: unknown = JSON.parse(text)
  if (typeof profile !== "object" || profile === null || Array.isArray(profile)) {
    throw new Error(`Load profile is not a dictionary, raw: ${text}`)
  }
  const entries = Object.entries(profile as Record<string, unknown>)
  const meta = new Map(entries.filter(([name]) => name.startsWith("meta_")))
  const version = Number(meta.get("meta_v") ?? 1)
  const records = new Map<string, number>()
  for (const [name, value] of entries) {
    if (name.startsWith("meta_")) continue
    if (!/^\d+:\d+$/.test(name)) throw new Error(`${key}: Unexpected load profile key ${name}, expect "int:int".`)
    if (!Number.isInteger(value) || value === 0)
      throw new Error(`${key}: Load profile value is not an integer: ${value}`)
    records.set(name, value as number)
  }
  const completed = [...records.values()].reduce((a, b) => a + b, 0)
  return {
    ts,
    records,
    totalRequests: version >= 3 ? Number(meta.get("meta_total_reqs") ?? 0) : completed,
    pendingRequests: version >= 3 ? Number(meta.get("meta_pending_reqs") ?? 0) : 0
  }
}

/** Every window of the model the reader would find at start (its `read_first`), oldest first. */
export const readTraces = async (client: IORedis, model: string): Promise<ReadTraces> => {
  const prefix = `aibrix:${model}_request_trace_`
  const found: Array<readonly [string, number]> = []
  const unexpectedKeys: Array<string> = []
  let cursor = "0"
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`)
    cursor = next
    for (const key of keys) {
      const match = /(?:.*?)_(\d+)$/.exec(key)
      if (match === null) unexpectedKeys.push(key)
      else found.push([key, Number(match[1])])
    }
  } while (cursor !== "0")
  found.sort((a, b) => a[1] - b[1])
  const profiles: Array<LoadProfile> = []
  for (const [key, ts] of found) {
    const text = await client.get(key)
    if (text !== null) profiles.push(parseProfile(key, ts, text))
  }
  return { profiles, unexpectedKeys }
}
