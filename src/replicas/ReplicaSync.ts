/**
 * Gateway replicas that share their running counts through Redis (spec §8).
 * Every 100 ms one round trip writes this replica's counts (AIBrix's per-pod
 * hashes, and our one-key summary) and reads the others'; each tracked pod's
 * `realtime_num_requests_running` becomes this replica's own count, always
 * fresh, plus the others' latest for the same pod UID. The request path never
 * waits on Redis: it reads the store, which a round updates when it ends.
 *
 * Redis down or slow: at most one round is in flight; once no round has
 * succeeded for the TTL (500 ms), the others' counts are dropped and this
 * replica works on its own, and Redis's health says so in the log (once each
 * way). A replica that stops takes its keys out; one killed without a goodbye
 * drops out when they expire.
 */
import { Clock, Duration, Effect, Fiber, Option } from "effect"
import type { FleetStore, PodEntry } from "../store/FleetStore.ts"
import { namespaceOf } from "../store/Pod.ts"
import type { Redis } from "../trace/Redis.ts"
import {
  addCounts,
  announceCall,
  countsOf,
  decodeHashes,
  decodeRead,
  goodbyeCalls,
  type PodSnapshot,
  podHashKey,
  readCall,
  readHashesCalls,
  writeCalls
} from "./ReplicaScripts.ts"

export interface ReplicaSyncSettings {
  /** This replica's id in Redis. */
  readonly replicaId: string
  /** Between the starts of two rounds. */
  readonly interval: Duration.Duration
  /** How long this replica's keys live unless written again; the others' counts are dropped after as long without a round. */
  readonly ttl: Duration.Duration
}

/** How long the goodbye at shutdown may wait for Redis. */
const GOODBYE_TIMEOUT = Duration.millis(500)

/** `HH:MM:SS.mmm` in local time, as AIBrix writes `update_time`. */
const clockTime = (millis: number): string => {
  const date = new Date(millis)
  const two = (n: number) => String(n).padStart(2, "0")
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, "0")}`
}

const snapshotOf = (entry: PodEntry): PodSnapshot => ({
  uid: entry.uid,
  name: entry.pod.metadata.name,
  namespace: namespaceOf(entry.pod),
  node: entry.pod.spec?.nodeName ?? "",
  running: entry.running,
  completed: entry.completed
})

/** What of a pod's hash changes from round to round. */
const signature = (pod: PodSnapshot): string =>
  `${pod.name}\u0000${pod.namespace}\u0000${pod.node}\u0000${pod.running}\u0000${pod.completed}`

/**
 * The gateways found in the hashes that are not ours (AIBrix's Go gateways):
 * those the SCAN met in its current pass or its last whole one.
 */
class ForeignGateways {
  #previous = new Set<string>()
  #current = new Set<string>()

  get known(): ReadonlyArray<string> {
    return [...new Set([...this.#previous, ...this.#current])]
  }

  /** What one SCAN step met; the pass ends when the cursor is back at 0. */
  met(gateways: ReadonlyArray<string>, cursor: string): void {
    for (const gateway of gateways) this.#current.add(gateway)
    if (cursor !== "0") return
    this.#previous = this.#current
    this.#current = new Set()
  }

  /** A gateway that turned out to be one of ours. */
  forget(gateway: string): void {
    this.#previous.delete(gateway)
    this.#current.delete(gateway)
  }
}

/** What a round learned: the others' running counts by pod UID. */
type RemoteCounts = ReadonlyMap<string, number>

export class ReplicaSync {
  readonly #store: FleetStore
  readonly #redis: Redis["Service"]
  readonly #settings: ReplicaSyncSettings
  readonly #ttlMs: number
  readonly #foreign = new ForeignGateways()
  #cursor = "0"
  /** What the last good round wrote of each pod (by UID), so that unchanged hashes are only kept alive. */
  #written = new Map<string, string>()
  #lastGoodAt: number | undefined
  #rounds = 0
  #failures = 0
  /** Other replicas seen in the last good round, ours and AIBrix's. */
  #replicas = 0

  constructor(store: FleetStore, redis: Redis["Service"], settings: ReplicaSyncSettings) {
    this.#store = store
    this.#redis = redis
    this.#settings = settings
    this.#ttlMs = Duration.toMillis(settings.ttl)
  }

  /** Rounds sent, rounds failed, and the other replicas seen by the last good round. */
  get statistics(): { readonly rounds: number; readonly failures: number; readonly replicas: number } {
    return { rounds: this.#rounds, failures: this.#failures, replicas: this.#replicas }
  }

  /** One round trip: write this replica's counts, read the others'; the store is updated when it ends. */
  readonly round: Effect.Effect<void> = Effect.gen({ self: this }, function* () {
    const now = yield* Clock.currentTimeMillis
    const { replicaId } = this.#settings
    const pods = Array.from(this.#store.podEntries(), snapshotOf)
    const foreign = this.#foreign.known
    const foreignKeys: Array<readonly [gateway: string, uid: string, key: string]> = []
    for (const gateway of foreign) {
      for (const pod of pods) foreignKeys.push([gateway, pod.uid, podHashKey(gateway, pod.namespace, pod.name)])
    }
    const written = this.#written
    const signatures = new Map(pods.map((pod) => [pod.uid, signature(pod)]))
    const writes = writeCalls(
      replicaId,
      this.#ttlMs,
      clockTime(now),
      pods,
      (pod) => written.get(pod.uid) !== signatures.get(pod.uid)
    )
    const calls = [
      announceCall(replicaId, this.#ttlMs, countsOf(pods)),
      ...writes,
      readCall(replicaId, this.#cursor),
      ...readHashesCalls(foreignKeys.map(([, , key]) => key))
    ]
    this.#rounds++
    const replies = yield* Effect.result(this.#redis.runScripts(calls))
    if (replies._tag === "Failure") {
      this.#failures++
      // What landed is unknown: the next round writes every hash whole.
      this.#written = new Map()
      return yield* this.#dropIfStale
    }
    this.#written = signatures
    const read = decodeRead(replies.success[1 + writes.length])
    const remote = new Map<string, number>()
    for (const counts of read.counts.values()) addCounts(counts, remote)
    for (const gateway of read.counts.keys()) this.#foreign.forget(gateway)
    const hashes = replies.success.slice(2 + writes.length).flatMap(decodeHashes)
    hashes.forEach(([uid, running], i) => {
      const [gateway, podUid] = foreignKeys[i]!
      if (running > 0 && uid === podUid && !read.counts.has(gateway)) remote.set(uid, (remote.get(uid) ?? 0) + running)
    })
    this.#foreign.met(read.foreign, read.cursor)
    this.#cursor = read.cursor
    this.#replicas = read.counts.size + this.#foreign.known.length
    this.#lastGoodAt = yield* Clock.currentTimeMillis
    this.#apply(remote)
  })

  /** Sets every tracked pod's remote count (0 for a pod no other replica runs anything on). */
  #apply(remote: RemoteCounts): void {
    for (const entry of this.#store.podEntries()) this.#store.setRemoteRunning(entry, remote.get(entry.uid) ?? 0)
  }

  /** Once no round has succeeded for the TTL, this replica goes on its own counts. */
  readonly #dropIfStale: Effect.Effect<void> = Effect.gen({ self: this }, function* () {
    const now = yield* Clock.currentTimeMillis
    if (this.#lastGoodAt !== undefined && now - this.#lastGoodAt <= this.#ttlMs) return
    this.#apply(new Map())
  })

  /**
   * Rounds every interval, for ever; at most one in flight. A round that has
   * not ended within the TTL tells Redis's health and drops the others' counts,
   * then is waited for before the next one starts.
   */
  readonly run: Effect.Effect<never> = Effect.gen({ self: this }, function* () {
    const intervalMs = Duration.toMillis(this.#settings.interval)
    while (true) {
      const startedAt = yield* Clock.currentTimeMillis
      const round = yield* Effect.forkChild(this.round)
      const ended = yield* Fiber.await(round).pipe(Effect.timeoutOption(this.#settings.ttl))
      if (Option.isNone(ended)) {
        yield* this.#redis.reportUnresponsive(`no answer to the replica sync within ${this.#ttlMs} ms`)
        yield* this.#dropIfStale
        yield* Fiber.await(round)
      }
      const elapsed = (yield* Clock.currentTimeMillis) - startedAt
      if (elapsed < intervalMs) yield* Effect.sleep(intervalMs - elapsed)
    }
  })

  /** At shutdown: takes this replica's keys out at once (the others stop counting it), and its pods' remote counts to 0. */
  readonly goodbye: Effect.Effect<void> = Effect.suspend(() => {
    const keys = Array.from(this.#store.podEntries(), (entry) =>
      podHashKey(this.#settings.replicaId, namespaceOf(entry.pod), entry.pod.metadata.name)
    )
    this.#apply(new Map())
    return this.#redis
      .runScripts(goodbyeCalls(this.#settings.replicaId, keys))
      .pipe(Effect.timeoutOption(GOODBYE_TIMEOUT), Effect.ignore)
  })
}
