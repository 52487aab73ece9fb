import { assert, describe, it } from "@effect/vitest"
import { Config, ConfigProvider, Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import type { Redis as IORedis } from "ioredis"
import { newTestCacheWithPods, withRequestTrace } from "../../layers/index.ts"
import { type CacheServices, Redis, RequestTracker, TraceFlush } from "../../src/index.ts"
import { traceKey } from "../../src/trace/TraceWindow.ts"
import { makePod } from "../support/fixtures.ts"
import { captureLogs } from "../support/capturedLogs.ts"
import { eventually, readAll, readerClient, redisOptions } from "../support/redisClient.ts"
import { freePort, redisServer } from "../support/redisServer.ts"

/** 2025-01-01T00:00:00Z, on a 10 s boundary. */
const BASE = Date.UTC(2025, 0, 1)
const BASE_S = BASE / 1000

const withEnv = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))

const cache = () => newTestCacheWithPods([makePod({ name: "p1" }), makePod({ name: "p2" })], "llama")

/** Adds `count` requests to the model and finishes every other one with token sizes. */
const requests = (prefix: string, model: string, count: number) =>
  Effect.gen(function* () {
    const tracker = yield* RequestTracker
    for (let i = 0; i < count; i++) {
      const id = `${prefix}-${i}`
      const term = yield* tracker.addRequestCount(undefined, id, model)
      if (i % 2 === 0) yield* tracker.doneRequestTrace(undefined, id, model, 20, 1024, term)
    }
  })

const hasKeys = (reader: IORedis, keys: ReadonlyArray<string>) =>
  Effect.map(readAll(reader), (stored) => keys.every((key) => stored.has(key)))

const parse = (value: string | undefined): Record<string, number> => JSON.parse(value ?? "{}") as Record<string, number>

describe("withRequestTrace (real redis-server)", () => {
  it.effect("TraceFlush.layer writes to the Redis of its options, layerConfig to that of its configs", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(BASE + 4_000)
      const server = yield* redisServer()
      const reader = yield* readerClient(server)
      const redis = redisOptions(server)
      const flushes = [
        ["plain", TraceFlush.layer({ redis })],
        [
          "config",
          TraceFlush.layerConfig({
            redis: {
              host: Config.succeed(server.host),
              port: Config.succeed(server.port),
              password: Config.succeed(undefined)
            }
          })
        ]
      ] as const
      for (const [model, flush] of flushes) {
        yield* Effect.gen(function* () {
          yield* requests(model, model, 1)
          yield* TestClock.adjust(10_000)
          assert.isTrue(yield* eventually(hasKeys(reader, [traceKey(model, BASE_S + 10)])))
        }).pipe(Effect.provide(flush.pipe(Layer.provideMerge(cache()))))
        yield* TestClock.setTime(BASE + 4_000)
      }
    }).pipe(Effect.scoped)
  )

  it.effect("writes each window under its key, with its JSON and a 600 s TTL", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(BASE + 4_000)
      const server = yield* redisServer()
      const reader = yield* readerClient(server)
      const env = { REDIS_HOST: server.host, REDIS_PORT: String(server.port) }
      yield* Effect.gen(function* () {
        yield* requests("a", "llama", 3)
        yield* requests("b", "lora-1", 1)
        yield* TestClock.adjust(6_000) // :10
        const keys = [traceKey("llama", BASE_S + 10), traceKey("lora-1", BASE_S + 10)]
        assert.isTrue(yield* eventually(hasKeys(reader, keys)))
      }).pipe(Effect.provide(withRequestTrace(cache())), withEnv(env))
      const stored = yield* readAll(reader)
      assert.deepStrictEqual([...stored.keys()], [traceKey("llama", BASE_S + 10), traceKey("lora-1", BASE_S + 10)])
      // Two llama requests are still pending: the third finished with its tokens.
      assert.strictEqual(
        stored.get(traceKey("llama", BASE_S + 10)),
        `{"42:100":2,"meta_interval_sec":10,"meta_pending_reqs":1,"meta_precision":10,"meta_total_reqs":3,"meta_v":3}`
      )
      // lora-1 has no pod, so nothing is pending for it.
      assert.strictEqual(
        stored.get(traceKey("lora-1", BASE_S + 10)),
        `{"42:100":1,"meta_interval_sec":10,"meta_pending_reqs":0,"meta_precision":10,"meta_total_reqs":1,"meta_v":3}`
      )
      for (const key of stored.keys()) {
        const ttl = yield* Effect.promise(() => reader.ttl(key))
        assert.isTrue(ttl > 580 && ttl <= 600, `${key} ttl ${ttl}`)
      }
    }).pipe(Effect.scoped)
  )

  it.effect(
    "delivers every window written before, during and after an outage, each once",
    () =>
      Effect.gen(function* () {
        yield* TestClock.setTime(BASE + 1_000)
        const server = yield* redisServer()
        const reader = yield* readerClient(server)
        const logs: Array<string> = []
        const failures = () => logs.filter((line) => line.includes("could not write")).length
        const expected: Array<string> = []
        let seconds = 10
        let added = 0
        /** Requests, then 10 s on: the flush on the next boundary writes them under its ts. */
        const interval = (count: number) =>
          Effect.gen(function* () {
            yield* requests(`r${seconds}`, "llama", count)
            added += count
            yield* TestClock.adjust(10_000)
            seconds += 10
            expected.push(traceKey("llama", BASE_S + seconds))
          })
        const redis = Redis.layer(redisOptions(server))
        const body: Effect.Effect<void, never, CacheServices> = Effect.gen(function* () {
          yield* TestClock.adjust(9_000) // :10, nothing open yet
          yield* interval(2) // :20
          yield* interval(3) // :30
          assert.isTrue(yield* eventually(hasKeys(reader, expected)), "written before the outage")
          yield* Effect.promise(() => server.stop({ save: true })) // a restart keeps the data
          yield* interval(4) // :40 fails
          yield* interval(5) // :50 fails
          assert.isTrue(yield* eventually(Effect.sync(() => failures() === 2)), "two failed flushes")
          yield* Effect.promise(() => server.start())
          // Flush on until the client is back and everything is in.
          let rounds = 0
          while (!(yield* hasKeys(reader, expected)) && rounds++ < 100) {
            yield* interval(1)
            yield* eventually(hasKeys(reader, expected), 300)
          }
          yield* requests("last", "llama", 2) // left open: the flush at shutdown writes it
          added += 2
        })
        yield* body.pipe(Effect.provide(withRequestTrace(cache(), redis)), captureLogs(logs))
        const last = traceKey("llama", BASE_S + seconds + 10)
        const stored = yield* readAll(reader)
        assert.deepStrictEqual([...stored.keys()].sort(), [...expected, last].sort())
        let total = 0
        for (const value of stored.values()) total += parse(value)["meta_total_reqs"] ?? 0
        assert.strictEqual(total, added)
        assert.strictEqual(parse(stored.get(traceKey("llama", BASE_S + 40))).meta_total_reqs, 4)
        assert.strictEqual(parse(stored.get(traceKey("llama", BASE_S + 50))).meta_total_reqs, 5)
        assert.strictEqual(parse(stored.get(last)).meta_total_reqs, 2)
      }).pipe(Effect.scoped),
    60_000
  )

  it.effect("fails to build with a typed error naming the address when Redis does not answer", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(freePort)
      const error = yield* Effect.flip(
        Layer.build(withRequestTrace(cache())).pipe(
          Effect.scoped,
          withEnv({ REDIS_HOST: "127.0.0.1", REDIS_PORT: String(port) })
        )
      )
      assert.strictEqual(error._tag, "RedisConnectionError")
      assert.include(error.message, `127.0.0.1:${port}`)
    })
  )
})
