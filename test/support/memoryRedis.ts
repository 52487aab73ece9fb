/**
 * An in-memory Redis for unit tests: it keeps what was SET or merged (value,
 * TTL, when), one entry per round trip, and can be taken down to play an
 * outage. The trace's merge script runs as its TypeScript reference.
 */
import { Clock, Effect, Layer } from "effect"
import { Redis, RedisCommandError, RedisWriteError, type ScriptCall } from "../../src/trace/Redis.ts"
import { mergeParts, mergeScript } from "../../src/trace/TraceMerge.ts"

export interface StoredValue {
  readonly value: string
  readonly ttlSeconds: number
  /** Clock time of the write, in ms. */
  readonly at: number
}

/** One `setWithExpiry` or `runScripts` call: one round trip. */
export interface RoundTrip {
  readonly at: number
  readonly keys: ReadonlyArray<string>
  readonly ok: boolean
}

export class MemoryRedis {
  readonly values = new Map<string, StoredValue>()
  /** How many times each key was written successfully. */
  readonly setCounts = new Map<string, number>()
  readonly roundTrips: Array<RoundTrip> = []
  /** "connect", "set <n>", "quit", in order. */
  readonly events: Array<string> = []
  /** While true, every write fails. */
  down = false
  /** Makes the next write throw (a defect), once. */
  defectOnce = false
  /** Clock time each write takes. */
  latencyMs = 0
  /** While true, writes get no answer at all. */
  hung = false

  /** Each trace key's parts, by part id (the merge script's hash beside the key). */
  readonly parts = new Map<string, Map<string, string>>()

  /** One round trip over `keys`: fails while down, hangs while hung, dies once on `defectOnce`; else `write`. */
  #roundTrip<A, E>(keys: ReadonlyArray<string>, fail: () => E, write: (at: number) => A): Effect.Effect<A, E> {
    return Effect.flatMap(Clock.currentTimeMillis, (at) => {
      if (this.defectOnce) {
        this.defectOnce = false
        return Effect.die(new Error("boom"))
      }
      if (this.hung) return Effect.never
      this.roundTrips.push({ at, keys, ok: !this.down })
      if (this.down) return Effect.fail(fail())
      const store = Effect.sync(() => write(at))
      return this.latencyMs === 0 ? store : Effect.delay(store, this.latencyMs)
    })
  }

  #set(key: string, value: string, ttlSeconds: number, at: number): void {
    this.values.set(key, { value, ttlSeconds, at })
    this.setCounts.set(key, (this.setCounts.get(key) ?? 0) + 1)
  }

  /** The merge script, as the server runs it: each part replaces its own, each key holds the sum. */
  #merge(call: ScriptCall, at: number): number {
    const [partId, ttl, ...parts] = call.args as [string, number, ...Array<string>]
    parts.forEach((part, i) => {
      const key = call.keys[2 * i]!
      const partsKey = call.keys[2 * i + 1]!
      let byId = this.parts.get(partsKey)
      if (byId === undefined) {
        byId = new Map()
        this.parts.set(partsKey, byId)
      }
      byId.set(partId, part)
      this.#set(key, mergeParts([...byId.values()]), ttl, at)
    })
    return parts.length
  }

  readonly service: Redis["Service"] = {
    setWithExpiry: (entries, ttlSeconds) =>
      this.#roundTrip(
        entries.map((entry) => entry.key),
        () => new RedisWriteError({ reason: "connection refused" }),
        (at) => {
          for (const entry of entries) this.#set(entry.key, entry.value, ttlSeconds, at)
          this.events.push(`set ${entries.length}`)
        }
      ),
    runScripts: (calls) =>
      this.#roundTrip(
        calls.flatMap((call) => call.keys.filter((_, i) => i % 2 === 0)),
        () => new RedisCommandError({ reason: "connection refused" }),
        (at) => {
          const replies = calls.map((call) => {
            if (call.script.sha !== mergeScript.sha) throw new Error(`no fake for the script ${call.script.name}`)
            return this.#merge(call, at)
          })
          this.events.push(`set ${replies.reduce((a, b) => a + b, 0)}`)
          return replies
        }
      ),
    reportUnresponsive: () => Effect.void
  }

  /** The service for a layer's lifetime, recording connect and quit. */
  readonly layer: Layer.Layer<Redis> = Layer.effect(
    Redis,
    Effect.acquireRelease(
      Effect.sync(() => {
        this.events.push("connect")
        return this.service
      }),
      () => Effect.sync(() => this.events.push("quit"))
    )
  )

  /** The successful round trips. */
  get writes(): ReadonlyArray<RoundTrip> {
    return this.roundTrips.filter((trip) => trip.ok)
  }

  /** The stored windows, parsed. */
  windows(): ReadonlyArray<{ readonly key: string; readonly counts: Record<string, number> }> {
    return Array.from(this.values, ([key, stored]) => ({
      key,
      counts: JSON.parse(stored.value) as Record<string, number>
    }))
  }
}
