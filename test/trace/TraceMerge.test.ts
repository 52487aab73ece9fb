/**
 * Trace windows that add up: the merge script on a real redis-server, held to
 * its TypeScript reference, and two replicas' flushes summing in one key that
 * the GPU optimizer's reader still reads.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import { newTestCacheWithPods, withRequestTrace } from "../../layers/index.ts"
import { Redis, RequestTracker } from "../../src/index.ts"
import { TRACE_TTL_SECONDS } from "../../src/trace/internal/TraceFlusher.ts"
import { connectRedis, redisService } from "../../src/trace/Redis.ts"
import { mergeCalls, mergeParts, partsKey } from "../../src/trace/TraceMerge.ts"
import { traceKey, TraceWindow, windowJson } from "../../src/trace/TraceWindow.ts"
import { bucketOf } from "../../src/trace/TraceBucket.ts"
import { makePod } from "../support/fixtures.ts"
import { readTraces } from "../support/gatewayLoadReader.ts"
import { countRoundTrips, readerClient, redisOptions } from "../support/redisClient.ts"
import { redisServer } from "../support/redisServer.ts"

/** A window with these requests added, and these (input, output) token sizes finished. */
const window = (total: number, finished: ReadonlyArray<readonly [number, number]>): TraceWindow => {
  const w = new TraceWindow(1)
  w.total = total
  for (const [input, output] of finished) w.addToBucket(bucketOf(input, output))
  return w
}

/** A window's JSON; now and then with a field no window has today, which takes the script's general sort. */
const arbitraryPart = fc
  .record({
    total: fc.nat({ max: 10_000 }),
    pending: fc.nat({ max: 1_000 }),
    finished: fc.array(fc.tuple(fc.integer({ min: 1, max: 2 ** 40 }), fc.integer({ min: 1, max: 5_000 })), {
      maxLength: 40
    }),
    extra: fc.option(fc.constantFrom("meta_extra", "1234:5", "a_b"), { freq: 5 })
  })
  .map(({ total, pending, finished, extra }) => {
    const json = windowJson(window(total, finished), pending)
    return extra === null ? json : mergeParts([json.replace("{", `{"${extra}":1,`)])
  })

describe("mergeParts", () => {
  it("one part is itself, byte for byte", () => {
    const part = windowJson(
      window(3, [
        [20, 1024],
        [1, 1]
      ]),
      2
    )
    assert.strictEqual(mergeParts([part]), part)
  })

  it("adds buckets, total and pending; keeps the format's constants; keys in byte order", () => {
    const a = windowJson(
      window(3, [
        [20, 1024],
        [1, 1]
      ]),
      2
    )
    const b = windowJson(
      window(5, [
        [20, 1024],
        [1024, 2]
      ]),
      1
    )
    assert.strictEqual(
      mergeParts([a, b]),
      '{"0:0":1,"100:10":1,"42:100":2,"meta_interval_sec":10,"meta_pending_reqs":3,"meta_precision":10,"meta_total_reqs":8,"meta_v":3}'
    )
  })
})

describe("the merge script (real redis-server)", () => {
  it.live("computes what mergeParts does, for any parts", () =>
    Effect.gen(function* () {
      const server = yield* redisServer()
      const redis = redisService(yield* connectRedis(redisOptions(server)))
      const reader = yield* readerClient(server)
      let run = 0
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.array(arbitraryPart, { minLength: 1, maxLength: 5 }), async (parts) => {
            const key = traceKey(`model-${run++}`, 1_735_689_600)
            for (const [i, part] of parts.entries()) {
              await Effect.runPromise(
                redis.runScripts(mergeCalls([{ key, value: part }], `replica-${i}`, TRACE_TTL_SECONDS))
              )
            }
            assert.strictEqual(await reader.get(key), mergeParts(parts))
          }),
          { numRuns: 100 }
        )
      )
    }).pipe(Effect.scoped)
  )

  it.live("a part written again replaces itself; both keys live as long as a window", () =>
    Effect.gen(function* () {
      const server = yield* redisServer()
      const redis = redisService(yield* connectRedis(redisOptions(server)))
      const reader = yield* readerClient(server)
      const key = traceKey("llama", 1_735_689_600)
      const mine = windowJson(window(4, [[20, 1024]]), 1)
      const theirs = windowJson(window(6, [[20, 1024]]), 2)
      // A flush retried after a timeout sends its part again.
      yield* redis.runScripts(mergeCalls([{ key, value: mine }], "a", TRACE_TTL_SECONDS))
      yield* redis.runScripts(mergeCalls([{ key, value: theirs }], "b", TRACE_TTL_SECONDS))
      yield* redis.runScripts(mergeCalls([{ key, value: mine }], "a", TRACE_TTL_SECONDS))
      assert.strictEqual(yield* Effect.promise(() => reader.get(key)), mergeParts([mine, theirs]))
      assert.include(yield* Effect.promise(() => reader.get(key)), '"meta_total_reqs":10,')
      for (const stored of [key, partsKey(key)]) {
        const ttl = yield* Effect.promise(() => reader.ttl(stored))
        assert.isTrue(ttl > 590 && ttl <= TRACE_TTL_SECONDS, `${stored}: ${ttl}`)
      }
    }).pipe(Effect.scoped)
  )

  it.live("1,000 windows merge in one round trip, and again after Redis lost its scripts", () =>
    Effect.gen(function* () {
      const server = yield* redisServer()
      const connection = yield* connectRedis(redisOptions(server))
      const redis = redisService(connection)
      const reader = yield* readerClient(server)
      const callsOf = (part: string) =>
        mergeCalls(
          Array.from({ length: 1_000 }, (_, m) => ({ key: traceKey(`m${m}`, 10), value: part })),
          "a",
          600
        )
      const first = windowJson(window(2, [[10, 10]]), 0)
      const trips = countRoundTrips(connection.client)
      yield* redis.runScripts(callsOf(first))
      assert.strictEqual(trips.count, 1, "one round trip, the script loaded in it")
      yield* redis.runScripts(callsOf(first))
      assert.strictEqual(trips.count, 2, "one round trip")
      assert.strictEqual(yield* Effect.promise(() => reader.get(traceKey("m999", 10))), first)
      yield* Effect.promise(() => reader.script("FLUSH"))
      // Another window under the same part: only a run of the reloaded script puts it in the keys.
      const second = windowJson(window(3, [[10, 10]]), 1)
      yield* redis.runScripts(callsOf(second))
      for (const key of [traceKey("m0", 10), traceKey("m999", 10)]) {
        assert.strictEqual(yield* Effect.promise(() => reader.get(key)), second)
      }
    }).pipe(Effect.scoped)
  )
})

/** 2025-01-01T00:00:00Z, on a 10 s boundary. */
const BASE = Date.UTC(2025, 0, 1)

describe("two replicas' trace windows (real redis-server)", () => {
  it.effect("add up in one key per model and ts, which the GPU optimizer's reader reads", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(BASE + 1_000)
      const server = yield* redisServer()
      const reader = yield* readerClient(server)
      const redis = Redis.layer(redisOptions(server))
      const pods = [makePod({ name: "engine-0", model: "llama", ip: "10.0.0.1" })]
      const replica = (replicaId: string) => withRequestTrace(newTestCacheWithPods(pods, "llama"), redis, { replicaId })
      const requests = (prefix: string, count: number, finished: number) =>
        RequestTracker.use((tracker) =>
          Effect.gen(function* () {
            for (let i = 0; i < count; i++) {
              const term = yield* tracker.addRequestCount(undefined, `${prefix}-${i}`, "llama")
              if (i < finished) yield* tracker.doneRequestTrace(undefined, `${prefix}-${i}`, "llama", 20, 1024, term)
            }
          })
        )
      yield* Effect.gen(function* () {
        const a = yield* Layer.build(replica("gateway-a"))
        const b = yield* Layer.build(replica("gateway-b"))
        yield* requests("a", 3, 2).pipe(Effect.provideContext(a))
        yield* requests("b", 5, 1).pipe(Effect.provideContext(b))
        yield* TestClock.adjust(9_000) // :10, both flush
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 200)))
      }).pipe(Effect.scoped)
      const { profiles, unexpectedKeys } = yield* Effect.promise(() => readTraces(reader, "llama"))
      assert.deepStrictEqual(unexpectedKeys, [], "the parts are not in the reader's way")
      assert.strictEqual(profiles.length, 1)
      const profile = profiles[0]!
      assert.strictEqual(profile.ts, BASE / 1000 + 10)
      assert.strictEqual(profile.totalRequests, 8)
      assert.strictEqual(profile.pendingRequests, 5)
      assert.deepStrictEqual([...profile.records], [["42:100", 3]])
    }).pipe(Effect.scoped)
  )
})
