/**
 * The replica sync's schedule and faults, with TestClock and a Redis that
 * answers as the test says: a round every 100 ms, never two in flight, and the
 * others' counts dropped once no round has succeeded for the TTL.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Result } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { TestClock } from "effect/testing"
import { newTestCacheWithPods } from "../../layers/index.ts"
import { parse } from "../../src/exposition/Parser.ts"
import { replicaSyncLayer } from "../../src/replicas/ReplicaSyncLayers.ts"
import { withFreshRegistry } from "../support/metricRegistry.ts"
import { FleetStore, REALTIME_RUNNING_METRIC } from "../../src/store/FleetStore.ts"
import { DiscoveryEvent } from "../../src/store/DiscoveryEvent.ts"
import { ReplicaSync } from "../../src/replicas/ReplicaSync.ts"
import { Redis, RedisCommandError, type ScriptCall } from "../../src/trace/Redis.ts"
import { makePod } from "../support/fixtures.ts"

type Answer = "ok" | "fail" | "hang"

/** A Redis whose rounds answer as `answer` says; the other replica runs `othersRunning` on the pod. */
const scriptedRedis = () => {
  const state = { answer: "ok" as Answer, othersRunning: 3, rounds: 0, unresponsive: [] as Array<string> }
  const reply = (call: ScriptCall): unknown => {
    switch (call.script.name) {
      case "read replicas":
        return ["0", 1, "gateway-b", state.othersRunning > 0 ? `uid-p ${state.othersRunning}\n` : ""]
      case "read pod hashes":
        return []
      default:
        return 1
    }
  }
  const service: Redis["Service"] = {
    setWithExpiry: () => Effect.void,
    runScripts: (calls) =>
      Effect.suspend(() => {
        if (calls.some((call) => call.script.name === "announce replica")) state.rounds++
        if (state.answer === "hang") return Effect.never
        if (state.answer === "fail") return Effect.fail(new RedisCommandError({ reason: "connection refused" }))
        return Effect.succeed(calls.map(reply))
      }),
    reportUnresponsive: (reason) => Effect.sync(() => void state.unresponsive.push(reason))
  }
  return { state, service }
}

const setup = () => {
  const store = new FleetStore()
  store.apply(DiscoveryEvent.PodAdded({ pod: makePod({ name: "p", model: "m", uid: "uid-p" }) }))
  const redis = scriptedRedis()
  const sync = new ReplicaSync(store, redis.service, {
    replicaId: "gateway-a",
    interval: Duration.millis(100),
    ttl: Duration.millis(500)
  })
  const realtime = () => {
    const value = store.podEntry("default", "p")?.podMetrics.get(REALTIME_RUNNING_METRIC)
    return value?._tag === "Simple" ? value.value : undefined
  }
  return { store, redis, sync, realtime }
}

describe("the replica sync's rounds", () => {
  it.effect("one round every 100 ms; each good round sets the others' count", () =>
    Effect.gen(function* () {
      const { redis, sync, realtime } = setup()
      const fiber = yield* Effect.forkChild(sync.run)
      yield* TestClock.adjust(0)
      assert.strictEqual(redis.state.rounds, 1)
      assert.strictEqual(realtime(), 3)
      redis.state.othersRunning = 5
      yield* TestClock.adjust(1_000)
      assert.strictEqual(redis.state.rounds, 11)
      assert.strictEqual(realtime(), 5)
      yield* Fiber.interrupt(fiber)
    })
  )

  it.effect("failing rounds keep the last counts for the TTL, then this replica's own only", () =>
    Effect.gen(function* () {
      const { redis, sync, realtime } = setup()
      const fiber = yield* Effect.forkChild(sync.run)
      yield* TestClock.adjust(0)
      assert.strictEqual(realtime(), 3)
      redis.state.answer = "fail"
      yield* TestClock.adjust(400)
      assert.strictEqual(realtime(), 3, "the last good snapshot, within the TTL")
      yield* TestClock.adjust(200)
      assert.strictEqual(realtime(), 0, "on its own counts")
      redis.state.answer = "ok"
      yield* TestClock.adjust(100)
      assert.strictEqual(realtime(), 3)
      yield* Fiber.interrupt(fiber)
    })
  )

  it.effect(
    "a round that hangs: no other round meanwhile; after the TTL the others' counts go, and Redis's health is told",
    () =>
      Effect.gen(function* () {
        const { redis, sync, realtime } = setup()
        const fiber = yield* Effect.forkChild(sync.run)
        yield* TestClock.adjust(0)
        redis.state.answer = "hang"
        yield* TestClock.adjust(100)
        const rounds = redis.state.rounds
        yield* TestClock.adjust(450)
        assert.strictEqual(realtime(), 3)
        yield* TestClock.adjust(100)
        assert.strictEqual(realtime(), 0)
        assert.strictEqual(redis.state.unresponsive.length, 1)
        yield* TestClock.adjust(5_000)
        assert.strictEqual(redis.state.rounds, rounds, "never two rounds in flight")
        yield* Fiber.interrupt(fiber)
      })
  )

  it.effect("the goodbye takes the keys out and sets the others' counts to 0", () =>
    Effect.gen(function* () {
      const { redis, sync, realtime } = setup()
      yield* sync.round
      assert.strictEqual(realtime(), 3)
      const calls: Array<string> = []
      const service = redis.service
      const recording = new ReplicaSync(
        setup().store,
        {
          ...service,
          runScripts: (scripts) => {
            calls.push(...scripts.map((call) => `${call.script.name} ${call.keys.join(",")}`))
            return service.runScripts(scripts)
          }
        },
        { replicaId: "gateway-a", interval: Duration.millis(100), ttl: Duration.millis(500) }
      )
      yield* recording.goodbye
      assert.deepStrictEqual(calls, [
        "replica goodbye aibrix-cache:replicas,aibrix-cache:replica:gateway-a,aibrix:pod:gateway-a:default:p"
      ])
      yield* sync.goodbye
      assert.strictEqual(realtime(), 0)
    })
  )
})

describe("the replica sync's families", () => {
  it.effect("rounds, failures and the other replicas seen are in the layer's registry", () =>
    Effect.gen(function* () {
      const redis = scriptedRedis()
      const cache = newTestCacheWithPods([makePod({ name: "p", model: "m", uid: "uid-p" })], "m")
      const layer = replicaSyncLayer({ replicaId: "gateway-a" }).pipe(
        Layer.provide(Layer.succeed(Redis, redis.service)),
        Layer.provideMerge(cache)
      )
      yield* Layer.build(layer)
      yield* TestClock.adjust(250)
      redis.state.answer = "fail"
      yield* TestClock.adjust(100)
      const families = Result.getOrThrow(parse(yield* PrometheusMetrics.format())).families
      const value = (name: string) => families.get(name)?.samples[0]?.value
      assert.strictEqual(value("aibrix_cache_replica_sync_rounds_total"), 4)
      assert.strictEqual(value("aibrix_cache_replica_sync_failures_total"), 1)
      assert.strictEqual(value("aibrix_cache_replica_sync_peers"), 1)
    }).pipe(Effect.scoped, withFreshRegistry)
  )
})
