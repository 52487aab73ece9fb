import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, type Layer } from "effect"
import { TestClock } from "effect/testing"
import { initForTest, newTestCacheWithPods, withRequestTrace } from "../../layers/index.ts"
import { type CacheServices, RequestTracker } from "../../src/index.ts"
import { CacheStore } from "../../src/cache/CacheStore.ts"
import { FleetStore } from "../../src/store/FleetStore.ts"
import {
  FINAL_FLUSH_TIMEOUT_MS,
  firstTickAt,
  TRACE_TTL_SECONDS,
  TraceFlusher,
  tsOf
} from "../../src/trace/internal/TraceFlusher.ts"
import { RequestTrace } from "../../src/trace/RequestTrace.ts"
import { TraceBacklog } from "../../src/trace/TraceBacklog.ts"
import { traceKey } from "../../src/trace/TraceWindow.ts"
import { makePod } from "../support/fixtures.ts"
import { captureLogs } from "../support/capturedLogs.ts"
import { MemoryRedis } from "../support/memoryRedis.ts"

/** 2025-01-01T00:00:00Z, on a 10 s boundary. */
const BASE = Date.UTC(2025, 0, 1)
const BASE_S = BASE / 1000
const keyAt = (model: string, seconds: number) => traceKey(model, BASE_S + seconds)

/** Runs `body` with the cache layer traced to `redis`; the scope (and the last flush) ends with it. */
const traced = <A, E>(
  redis: MemoryRedis,
  body: Effect.Effect<A, E, CacheServices>,
  cache: Layer.Layer<CacheServices> = initForTest
) => body.pipe(Effect.provide(withRequestTrace(cache, redis.layer)))

const add = (requestId: string, model: string) =>
  RequestTracker.use((tracker) => tracker.addRequestCount(undefined, requestId, model))

const done = (requestId: string, model: string, term: number, input: number, output: number) =>
  RequestTracker.use((tracker) => tracker.doneRequestTrace(undefined, requestId, model, input, output, term))

describe("flush timing", () => {
  it("first flush: at the next boundary, or at once within 500 ms past one", () => {
    assert.strictEqual(firstTickAt(BASE + 3_200), BASE + 10_000)
    assert.strictEqual(firstTickAt(BASE + 10_000), BASE + 10_000)
    assert.strictEqual(firstTickAt(BASE + 10_500), BASE + 10_000)
    assert.strictEqual(firstTickAt(BASE + 10_501), BASE + 20_000)
    assert.strictEqual(tsOf(BASE + 19_999), BASE_S + 10)
  })

  it.effect("starting at :03.2, the first write is at :10", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(BASE + 3_200)
      const redis = new MemoryRedis()
      yield* traced(
        redis,
        Effect.gen(function* () {
          yield* add("r1", "m")
          yield* TestClock.adjust(6_799)
          assert.deepStrictEqual(redis.roundTrips, [])
          yield* TestClock.adjust(1)
          assert.deepStrictEqual(redis.roundTrips, [{ at: BASE + 10_000, keys: [keyAt("m", 10)], ok: true }])
        })
      )
    })
  )

  it.effect("starting at :10.3, the first write is at once", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(BASE + 10_300)
      const redis = new MemoryRedis()
      yield* traced(
        redis,
        Effect.gen(function* () {
          yield* add("r1", "m")
          yield* TestClock.adjust(0)
          assert.deepStrictEqual(redis.roundTrips, [{ at: BASE + 10_300, keys: [keyAt("m", 10)], ok: true }])
          yield* add("r2", "m")
          yield* TestClock.adjust(9_699)
          assert.strictEqual(redis.roundTrips.length, 1)
          yield* TestClock.adjust(1)
          assert.deepStrictEqual(redis.roundTrips[1], { at: BASE + 20_000, keys: [keyAt("m", 20)], ok: true })
        })
      )
    })
  )

  it.effect("writes once per 10 s on the boundary, every open model in one round trip", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(BASE + 1_000)
      const redis = new MemoryRedis()
      yield* traced(
        redis,
        Effect.gen(function* () {
          for (let interval = 1; interval <= 5; interval++) {
            yield* add(`a${interval}`, "m-a")
            yield* add(`b${interval}`, "m-b")
            yield* TestClock.adjust(10_000)
          }
        })
      )
      assert.deepStrictEqual(
        redis.roundTrips.map((trip) => trip.at - BASE),
        [10_000, 20_000, 30_000, 40_000, 50_000]
      )
      assert.deepStrictEqual(redis.roundTrips[0]!.keys, [keyAt("m-a", 10), keyAt("m-b", 10)])
      assert.deepStrictEqual(redis.roundTrips[4]!.keys, [keyAt("m-a", 50), keyAt("m-b", 50)])
      for (const stored of redis.values.values()) assert.strictEqual(stored.ttlSeconds, TRACE_TTL_SECONDS)
    })
  )

  it.effect("skips a flush when no window is open", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(BASE + 5_000)
      const redis = new MemoryRedis()
      yield* traced(
        redis,
        Effect.gen(function* () {
          yield* add("r1", "m")
          yield* TestClock.adjust(5_000) // :10 written
          yield* TestClock.adjust(20_000) // :20 and :30: idle
          assert.strictEqual(redis.roundTrips.length, 1)
          yield* add("r2", "m")
          yield* TestClock.adjust(10_000) // :40
          assert.deepStrictEqual(
            redis.roundTrips.map((trip) => trip.keys),
            [[keyAt("m", 10)], [keyAt("m", 40)]]
          )
        })
      )
      assert.strictEqual(redis.roundTrips.length, 2) // nothing open at shutdown either
    })
  )

  it.effect("keeps to the boundaries when a write is slow, and never writes one ts twice", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(BASE + 9_000)
      const redis = new MemoryRedis()
      yield* traced(
        redis,
        Effect.gen(function* () {
          redis.latencyMs = 3_000
          yield* add("r1", "m")
          yield* TestClock.adjust(1_000) // :10, written by :13
          yield* add("r2", "m")
          yield* TestClock.adjust(10_000) // :20, on time
          redis.latencyMs = 12_000
          yield* add("r3", "m")
          yield* TestClock.adjust(10_000) // :30, written by :42
          redis.latencyMs = 0
          yield* add("r4", "m")
          yield* TestClock.adjust(12_000) // :42: the :40 flush, late; then :50 on time
          yield* add("r5", "m")
          yield* TestClock.adjust(8_000)
        })
      )
      assert.deepStrictEqual(
        redis.roundTrips.map((trip) => [trip.at - BASE, trip.keys[0]]),
        [
          [10_000, keyAt("m", 10)],
          [20_000, keyAt("m", 20)],
          [30_000, keyAt("m", 30)],
          [42_000, keyAt("m", 40)],
          [50_000, keyAt("m", 50)]
        ]
      )
    })
  )
})

describe("flush contents", () => {
  it.effect("writes the spec's example JSON byte for byte", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(BASE + 1_000)
      const redis = new MemoryRedis()
      yield* traced(
        redis,
        Effect.gen(function* () {
          // Two requests still pending from the first window...
          yield* add("r1", "m")
          yield* add("r2", "m")
          yield* TestClock.adjust(9_000)
          // ...and one added and finished in the second: 2^0.1 tokens is bucket 1.
          const term = yield* add("r3", "m")
          yield* done("r3", "m", term, 2 ** 0.1, 2 ** 0.1)
          yield* TestClock.adjust(10_000)
        }),
        newTestCacheWithPods([makePod({ name: "p1" })], "m")
      )
      assert.strictEqual(
        redis.values.get(keyAt("m", 10))?.value,
        `{"meta_interval_sec":10,"meta_pending_reqs":2,"meta_precision":10,"meta_total_reqs":2,"meta_v":3}`
      )
      assert.strictEqual(
        redis.values.get(keyAt("m", 20))?.value,
        `{"1:1":1,"meta_interval_sec":10,"meta_pending_reqs":2,"meta_precision":10,"meta_total_reqs":1,"meta_v":3}`
      )
    })
  )

  it.effect("a done with a term from before a flush does not complete a request of the new window", () =>
    Effect.gen(function* () {
      const store = new FleetStore()
      const flusher = new TraceFlusher(store, new RequestTrace(1), new MemoryRedis().service)
      store.setTraceRecorder(flusher.trace)
      const old = store.addRequest(undefined, "r1", "m", 0)
      yield* flusher.flush(BASE_S + 10)
      const fresh = store.addRequest(undefined, "r2", "m", 0)
      assert.notStrictEqual(fresh, old)
      store.doneRequest("r1", old, { input: 20, output: 1024 })
      const window = flusher.trace.windows.get("m")
      assert.strictEqual(window?.completed, 0)
      assert.strictEqual(window?.total, 1)
      // Its token sizes still count, in the window open now.
      assert.deepStrictEqual(Object.fromEntries(window?.bucketCounts() ?? []), { "42:100": 1 })
      store.doneRequest("r2", fresh, undefined)
      assert.strictEqual(window?.completed, 1)
    })
  )
})

describe("flush failures", () => {
  it.effect("keeps failed windows with their own ts and writes them first, in one round trip, once Redis is back", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(BASE + 1_000)
      const redis = new MemoryRedis()
      const logs: Array<string> = []
      yield* traced(
        redis,
        Effect.gen(function* () {
          yield* add("r0", "m")
          yield* TestClock.adjust(9_000) // :10 written
          redis.down = true
          for (let interval = 2; interval <= 4; interval++) {
            yield* add(`r${interval}`, "m")
            yield* add(`s${interval}`, "other")
            yield* TestClock.adjust(10_000) // :20, :30, :40 fail
          }
          redis.down = false
          yield* add("r5", "m")
          yield* TestClock.adjust(10_000) // :50 writes everything
        })
      ).pipe(captureLogs(logs))
      const trips = redis.roundTrips
      assert.deepStrictEqual(
        trips.map((trip) => trip.ok),
        [true, false, false, false, true]
      )
      assert.deepStrictEqual(trips[4]!.keys, [
        keyAt("m", 20),
        keyAt("other", 20),
        keyAt("m", 30),
        keyAt("other", 30),
        keyAt("m", 40),
        keyAt("other", 40),
        keyAt("m", 50)
      ])
      for (const count of redis.setCounts.values()) assert.strictEqual(count, 1)
      const failures = logs.filter((line) => line.includes("could not write"))
      assert.strictEqual(failures.length, 3)
      assert.include(failures[2]!, "connection refused")
      assert.include(failures[2]!, "6 kept for the next flush")
    })
  )

  it.effect("keeps at most 60 windows per model, dropping and counting the oldest", () =>
    Effect.gen(function* () {
      const store = new FleetStore()
      const redis = new MemoryRedis()
      const flusher = new TraceFlusher(store, new RequestTrace(1), redis.service, { backlog: new TraceBacklog() })
      store.setTraceRecorder(flusher.trace)
      const logs: Array<string> = []
      redis.down = true
      for (let tick = 1; tick <= 65; tick++) {
        store.addRequest(undefined, `r${tick}`, "m", 0)
        yield* flusher.flush(BASE_S + tick * 10).pipe(captureLogs(logs))
      }
      assert.deepStrictEqual(flusher.statistics, {
        ticks: 65,
        skipped: 0,
        failed: 65,
        written: 0,
        backlog: 60,
        dropped: 5
      })
      assert.include(logs[60]!, "1 oldest dropped (1 in all)")
      redis.down = false
      // The window of :60 is as old as its key's life by :660: dropped, not written.
      yield* flusher.flush(BASE_S + 660)
      const written = redis.writes[0]!.keys
      assert.strictEqual(written.length, 59)
      assert.strictEqual(written[0], keyAt("m", 70))
      assert.strictEqual(written[58], keyAt("m", 650))
      assert.deepStrictEqual(flusher.statistics, {
        ticks: 66,
        skipped: 0,
        failed: 65,
        written: 59,
        backlog: 0,
        dropped: 6
      })
    })
  )

  it.effect("a model gone quiet during an outage leaves no window behind once its keys would have expired", () =>
    Effect.gen(function* () {
      const store = new FleetStore()
      const redis = new MemoryRedis()
      const flusher = new TraceFlusher(store, new RequestTrace(1), redis.service, { backlog: new TraceBacklog() })
      store.setTraceRecorder(flusher.trace)
      redis.down = true
      store.addRequest(undefined, "gone-1", "gone", 0)
      yield* flusher.flush(BASE_S + 10).pipe(captureLogs([]))
      for (let tick = 2; tick <= 62; tick++) {
        store.addRequest(undefined, `live-${tick}`, "live", 0)
        yield* flusher.flush(BASE_S + tick * 10).pipe(captureLogs([]))
      }
      // By :620 the window of :10 (and the live model's of :20) are as old as their keys' life.
      assert.strictEqual(flusher.statistics.backlog, 60)
      assert.strictEqual(flusher.statistics.dropped, 2)
      redis.down = false
      yield* flusher.flush(BASE_S + 630)
      assert.isFalse(redis.writes[0]!.keys.some((key) => key.startsWith("aibrix:gone_")))
    })
  )

  it.effect("survives a defect in one flush and writes its windows at the next", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(BASE + 1_000)
      const redis = new MemoryRedis()
      const logs: Array<string> = []
      yield* traced(
        redis,
        Effect.gen(function* () {
          redis.defectOnce = true
          yield* add("r1", "m")
          yield* TestClock.adjust(9_000) // :10 dies
          yield* add("r2", "m")
          yield* TestClock.adjust(10_000) // :20
        })
      ).pipe(captureLogs(logs))
      assert.deepStrictEqual(redis.writes[0]!.keys, [keyAt("m", 10), keyAt("m", 20)])
      assert.isTrue(logs.some((line) => line.startsWith("Error") && line.includes("boom")))
    })
  )
})

describe("shutdown", () => {
  it.effect("flushes the open windows under the next tick's ts, then quits Redis, and turns the trace off", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(BASE + 1_000)
      const redis = new MemoryRedis()
      const store = yield* traced(
        redis,
        Effect.gen(function* () {
          yield* add("r1", "m")
          yield* TestClock.adjust(9_000) // :10
          yield* add("r2", "m")
          yield* TestClock.adjust(5_000) // :15, then the scope closes
          return yield* CacheStore
        })
      )
      assert.deepStrictEqual(
        redis.roundTrips.map((trip) => [trip.at - BASE, trip.keys]),
        [
          [10_000, [keyAt("m", 10)]],
          [15_000, [keyAt("m", 20)]]
        ]
      )
      assert.deepStrictEqual(redis.events, ["connect", "set 1", "set 1", "quit"])
      assert.strictEqual(store.addRequest(undefined, "r3", "m", 0), 0)
    })
  )

  it.effect("waits at most 3 s for a Redis that does not answer, then lets the service stop", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(BASE + 1_000)
      const redis = new MemoryRedis()
      const lines: Array<string> = []
      const fiber = yield* Effect.forkChild(
        traced(
          redis,
          Effect.gen(function* () {
            yield* add("r1", "m")
            redis.hung = true
          })
        ).pipe(captureLogs(lines))
      )
      yield* TestClock.adjust(FINAL_FLUSH_TIMEOUT_MS - 1)
      assert.isUndefined(fiber.pollUnsafe(), "still waiting for Redis")
      yield* TestClock.adjust(1)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(redis.events, ["connect", "quit"])
      assert.isTrue(
        lines.some((line) => line.includes("last flush got no answer from Redis within 3000 ms; 1 windows are lost")),
        lines.join("\n")
      )
    })
  )

  it.effect("the last flush, failing, says the windows are lost and how many requests they held", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(BASE + 1_000)
      const redis = new MemoryRedis()
      const lines: Array<string> = []
      yield* traced(
        redis,
        Effect.gen(function* () {
          redis.down = true
          yield* add("r1", "m")
          yield* add("r2", "m")
          yield* TestClock.adjust(9_000) // :10 fails, kept
          yield* add("r3", "other")
        })
      ).pipe(captureLogs(lines))
      const kept = lines.filter((line) => line.includes("kept for the next flush"))
      assert.strictEqual(kept.length, 1, lines.join("\n"))
      const last = lines.filter((line) => line.includes("last flush"))
      assert.strictEqual(last.length, 1, lines.join("\n"))
      assert.include(last[0]!, "could not write 2 windows")
      assert.include(last[0]!, "they are lost (3 requests)")
      assert.notInclude(last[0]!, "kept")
    })
  )

  it.effect("never overwrites the key of a flush that just ran", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(BASE + 5_000)
      const redis = new MemoryRedis()
      yield* traced(
        redis,
        Effect.gen(function* () {
          yield* add("r1", "m")
          yield* TestClock.adjust(5_000) // :10 written, and the scope closes at :10 itself
          yield* add("r2", "m")
        })
      )
      assert.deepStrictEqual(
        redis.roundTrips.map((trip) => trip.keys),
        [[keyAt("m", 10)], [keyAt("m", 20)]]
      )
    })
  )

  it.effect("writes the backlog too when Redis is back by shutdown", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(BASE + 1_000)
      const redis = new MemoryRedis()
      yield* traced(
        redis,
        Effect.gen(function* () {
          redis.down = true
          yield* add("r1", "m")
          yield* TestClock.adjust(9_000) // :10 fails
          redis.down = false
          yield* add("r2", "m")
        })
      ).pipe(captureLogs([]))
      assert.deepStrictEqual(
        redis.writes.map((trip) => trip.keys),
        [[keyAt("m", 10), keyAt("m", 20)]]
      )
    })
  )
})

describe("concurrency", () => {
  it.effect("requests added and finished by many fibers across flushes: none lost, none counted twice", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(BASE + 2_500)
      const redis = new MemoryRedis()
      const workers = 8
      const perWorker = 150
      let adds = 0
      let traces = 0
      let finished = 0
      yield* traced(
        redis,
        Effect.gen(function* () {
          const tracker = yield* RequestTracker
          const worker = (w: number) =>
            Effect.gen(function* () {
              for (let i = 0; i < perWorker; i++) {
                const id = `w${w}-r${i}`
                const model = `m${(w + i) % 3}`
                const term = yield* tracker.addRequestCount(undefined, id, model)
                adds++
                // Hold the request for a while: many straddle a flush.
                yield* Effect.sleep((i * 337 + w * 101) % 1_700)
                if (i % 4 === 0) {
                  yield* tracker.doneRequestCount(undefined, id, model, term)
                } else {
                  yield* tracker.doneRequestTrace(
                    undefined,
                    id,
                    model,
                    1 + ((i * 31) % 5_000),
                    1 + ((i * 17) % 900),
                    term
                  )
                  traces++
                }
              }
              finished++
            })
          const fibers = yield* Effect.forEach(
            Array.from({ length: workers }, (_, w) => w),
            (w) => Effect.forkChild(worker(w))
          )
          while (finished < workers) yield* TestClock.adjust(250)
          yield* Fiber.joinAll(fibers)
        })
      )
      const windows = redis.windows()
      assert.isAbove(redis.writes.length, 10)
      let totals = 0
      let buckets = 0
      for (const { counts } of windows) {
        for (const [key, count] of Object.entries(counts)) {
          if (key === "meta_total_reqs") totals += count
          else if (!key.startsWith("meta_")) buckets += count
        }
      }
      assert.strictEqual(adds, workers * perWorker)
      assert.strictEqual(totals, adds)
      assert.strictEqual(buckets, traces)
      for (const count of redis.setCounts.values()) assert.strictEqual(count, 1)
    })
  )
})
