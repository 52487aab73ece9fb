/**
 * What the replica sync keeps in Redis and the scripts that write and read it.
 *
 * - AIBrix's layout, for every gateway (ours and AIBrix's Go gateways alike):
 *   one hash per replica and tracked pod, `aibrix:pod:<replica>:<namespace>:<pod>`,
 *   with the fields `gateway_instance_id`, `pod_uid`, `pod_name`, `namespace`,
 *   `node_name`, `requests_running`, `seq`, `update_time`, living 500 ms.
 * - Ours beside it, so that reading the other replicas costs one key each
 *   instead of one per pod: a registry of the live replicas (a sorted set,
 *   scored by when each one's entry expires, on the server's clock) and each
 *   replica's counts in one string, `<pod uid> <running>` per line.
 *
 * A round is one pipeline: announce (registry and counts), write the hashes
 * (1,000 pods per script run), read (the live replicas' counts and one bounded
 * SCAN step over the hashes, which finds gateways that are not in the registry:
 * AIBrix's), and read those gateways' hashes of our pods (1,000 per run).
 */
import { redisScript, type ScriptCall } from "../trace/Redis.ts"

/** The prefix of AIBrix's per-pod hashes. */
export const HASH_PREFIX = "aibrix:pod:"
export const REGISTRY_KEY = "aibrix-cache:replicas"
const COUNTS_PREFIX = "aibrix-cache:replica:"
/** How long the registry itself lives without a replica announcing itself. */
const REGISTRY_TTL_MS = 60_000
/** Pods per script run, and keys per SCAN step: bounded batches. */
export const BATCH = 1_000

/** AIBrix's key of a replica's hash for a pod. */
export const podHashKey = (replica: string, namespace: string, pod: string): string =>
  `${HASH_PREFIX}${replica}:${namespace}:${pod}`

export const countsKey = (replica: string): string => `${COUNTS_PREFIX}${replica}`

// The server's clock in ms, the same for every replica.
const NOW_LUA = `local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`

/** KEYS: registry, this replica's counts. ARGV: replica, TTL ms, counts. */
const announceScript = redisScript(
  "announce replica",
  `${NOW_LUA}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ${REGISTRY_TTL_MS})
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
return 1`
)

/**
 * KEYS: the pods' hashes. ARGV: replica, TTL ms, update time, then per pod
 * uid, name, namespace, node, running, seq and whether any of them changed
 * since this replica last wrote it ('1' or '0'). An unchanged hash that is
 * still there only gets its TTL and update time; any other is written whole.
 */
const writeScript = redisScript(
  "write pod hashes",
  `for i, key in ipairs(KEYS) do
  local at = 3 + (i - 1) * 7
  if ARGV[at + 7] == '1' or redis.call('PEXPIRE', key, ARGV[2]) == 0 then
    redis.call('HSET', key, 'gateway_instance_id', ARGV[1], 'pod_uid', ARGV[at + 1], 'pod_name', ARGV[at + 2],
      'namespace', ARGV[at + 3], 'node_name', ARGV[at + 4], 'requests_running', ARGV[at + 5], 'seq', ARGV[at + 6],
      'update_time', ARGV[3])
    redis.call('PEXPIRE', key, ARGV[2])
  else
    redis.call('HSET', key, 'update_time', ARGV[3])
  end
end
return #KEYS`
)

/**
 * KEYS: registry. ARGV: replica, SCAN cursor, SCAN count. Replies the next
 * cursor, the number of other live replicas, each one's id and counts, then
 * the gateways seen in this SCAN step that are neither live replicas nor this one.
 */
const readScript = redisScript(
  "read replicas",
  `${NOW_LUA}
local ours = { [ARGV[1]] = true }
local out = { '', 0 }
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
  if not ours[id] then
    ours[id] = true
    out[#out + 1] = id
    out[#out + 1] = redis.call('GET', '${COUNTS_PREFIX}' .. id) or ''
  end
end
out[2] = (#out - 2) / 2
local step = redis.call('SCAN', ARGV[2], 'MATCH', '${HASH_PREFIX}*', 'COUNT', ARGV[3], 'TYPE', 'hash')
out[1] = step[1]
for _, key in ipairs(step[2]) do
  local gateway = string.match(string.sub(key, ${HASH_PREFIX.length + 1}), '^(.+):[^:]+:[^:]+$')
  if gateway and not ours[gateway] then
    ours[gateway] = true
    out[#out + 1] = gateway
  end
end
return out`
)

/** KEYS: hashes of other gateways. Replies each one's pod uid and running count ('' when missing). */
const readHashesScript = redisScript(
  "read pod hashes",
  `local out = {}
for _, key in ipairs(KEYS) do
  local fields = redis.pcall('HMGET', key, 'pod_uid', 'requests_running')
  if type(fields) ~= 'table' or fields.err then fields = {} end
  out[#out + 1] = fields[1] or ''
  out[#out + 1] = fields[2] or ''
end
return out`
)

/** KEYS: registry, this replica's counts, its hashes. ARGV: replica. */
const goodbyeScript = redisScript(
  "replica goodbye",
  `redis.call('ZREM', KEYS[1], ARGV[1])
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
return 1`
)

/** One pod as this replica writes it. */
export interface PodSnapshot {
  readonly uid: string
  readonly name: string
  readonly namespace: string
  readonly node: string
  readonly running: number
  readonly completed: number
}

const chunks = <A>(items: ReadonlyArray<A>): ReadonlyArray<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let at = 0; at < items.length; at += BATCH) out.push(items.slice(at, at + BATCH))
  return out
}

/** This replica's counts as one string: `<uid> <running>` per pod that runs something. */
export const countsOf = (pods: ReadonlyArray<PodSnapshot>): string => {
  let text = ""
  for (const pod of pods) if (pod.running > 0) text += `${pod.uid} ${pod.running}\n`
  return text
}

export const announceCall = (replica: string, ttlMs: number, counts: string): ScriptCall => ({
  script: announceScript,
  keys: [REGISTRY_KEY, countsKey(replica)],
  args: [replica, ttlMs, counts]
})

/**
 * The script runs that write the pods' hashes, `BATCH` pods each; `changed`
 * tells which pods differ from what this replica last wrote (default: all).
 */
export const writeCalls = (
  replica: string,
  ttlMs: number,
  updateTime: string,
  pods: ReadonlyArray<PodSnapshot>,
  changed: (pod: PodSnapshot) => boolean = () => true
): ReadonlyArray<ScriptCall> =>
  chunks(pods).map((batch) => {
    const args: Array<string | number> = [replica, ttlMs, updateTime]
    for (const pod of batch) {
      args.push(pod.uid, pod.name, pod.namespace, pod.node, pod.running, pod.completed, changed(pod) ? "1" : "0")
    }
    return {
      script: writeScript,
      keys: batch.map((pod) => podHashKey(replica, pod.namespace, pod.name)),
      args
    }
  })

export const readCall = (replica: string, cursor: string): ScriptCall => ({
  script: readScript,
  keys: [REGISTRY_KEY],
  args: [replica, cursor, BATCH]
})

/** The script runs that read these hashes, `BATCH` each. */
export const readHashesCalls = (keys: ReadonlyArray<string>): ReadonlyArray<ScriptCall> =>
  chunks(keys).map((batch) => ({ script: readHashesScript, keys: batch, args: [] }))

/** The script runs that take this replica out at once: registry, counts and hashes. */
export const goodbyeCalls = (replica: string, hashKeys: ReadonlyArray<string>): ReadonlyArray<ScriptCall> => {
  const batches = chunks(hashKeys)
  return (batches.length === 0 ? [[]] : batches).map((batch, i) => ({
    script: goodbyeScript,
    keys: i === 0 ? [REGISTRY_KEY, countsKey(replica), ...batch] : [REGISTRY_KEY, ...batch],
    args: [replica]
  }))
}

// ---- replies ----------------------------------------------------------------

const text = (value: unknown): string =>
  typeof value === "string" ? value : value instanceof Uint8Array ? Buffer.from(value).toString() : String(value ?? "")

/** What the read script found. */
export interface ReadReply {
  readonly cursor: string
  /** The other live replicas' counts, by replica. */
  readonly counts: ReadonlyMap<string, string>
  /** Gateways whose hashes the SCAN step met and that are not in the registry. */
  readonly foreign: ReadonlyArray<string>
}

export const decodeRead = (reply: unknown): ReadReply => {
  const values = Array.isArray(reply) ? reply : []
  const live = Number(values[1] ?? 0)
  const counts = new Map<string, string>()
  for (let i = 0; i < live; i++) counts.set(text(values[2 + 2 * i]), text(values[3 + 2 * i]))
  return { cursor: text(values[0] ?? "0") || "0", counts, foreign: values.slice(2 + 2 * live).map(text) }
}

/** The uid and running count of each hash read, in the order of the keys. */
export const decodeHashes = (reply: unknown): ReadonlyArray<readonly [uid: string, running: number]> => {
  const values = Array.isArray(reply) ? reply : []
  const out: Array<readonly [string, number]> = []
  for (let i = 0; i + 1 < values.length; i += 2) {
    const running = Number(text(values[i + 1]))
    out.push([text(values[i]), Number.isFinite(running) && running > 0 ? running : 0])
  }
  return out
}

/** Adds each `<uid> <running>` line of a replica's counts to `into`. */
export const addCounts = (counts: string, into: Map<string, number>): void => {
  for (const line of counts.split("\n")) {
    const space = line.indexOf(" ")
    if (space <= 0) continue
    const running = Number(line.slice(space + 1))
    if (!Number.isFinite(running) || running <= 0) continue
    const uid = line.slice(0, space)
    into.set(uid, (into.get(uid) ?? 0) + running)
  }
}
