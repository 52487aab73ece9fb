/**
 * An in-memory Redis for unit tests: it keeps what was SET (value, TTL, when),
 * one entry per round trip, and can be taken down to play an outage.
 */
import { Clock, Effect, Layer } from "effect"
import { Redis, RedisWriteError } from "../../src/trace/Redis.ts"

export interface StoredValue {
  readonly value: string
  readonly ttlSeconds: number
  /** Clock time of the write, in ms. */
  readonly at: number
}

/** One `setWithExpiry` call: one round trip. */
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

  readonly service: Redis["Service"] = {
    setWithExpiry: (entries, ttlSeconds) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) => {
        if (this.defectOnce) {
          this.defectOnce = false
          return Effect.die(new Error("boom"))
        }
        if (this.hung) return Effect.never
        const keys = entries.map((entry) => entry.key)
        this.roundTrips.push({ at, keys, ok: !this.down })
        if (this.down) return Effect.fail(new RedisWriteError({ reason: "connection refused" }))
        const store = Effect.sync(() => {
          for (const entry of entries) {
            this.values.set(entry.key, { value: entry.value, ttlSeconds, at })
            this.setCounts.set(entry.key, (this.setCounts.get(entry.key) ?? 0) + 1)
          }
          this.events.push(`set ${entries.length}`)
        })
        return this.latencyMs === 0 ? store : Effect.delay(store, this.latencyMs)
      })
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
