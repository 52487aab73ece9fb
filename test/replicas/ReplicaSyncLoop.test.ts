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
import { isCollected } from "../support/garbage.ts"

type Answer = "ok" | "fail" | "hang"

/** A Redis whose rounds answer as `answer` says; the other replica runs `othersRunning` on the pod. */
const scriptedRedis = () => {
  const state = {
    answer: "ok" as Answer,
    othersRunning: 3,
    rounds: 0,
    unresponsive: [] as Array<string>,
    /** The SCAN step's cursor and the gateways outside the registry (AIBrix's) it meets. */
    cursor: "0",
    foreign: [] as Array<string>,
    /** Each round's hash writes: per pod, its uid and whether it is written whole. */
    writes: [] as Array<Array<string>>
  }
  const reply = (call: ScriptCall): unknown => {
    switch (call.script.name) {
      case "read replicas":
        return [
          state.cursor,
          1,
          "gateway-b",
          state.othersRunning > 0 ? `uid-p ${state.othersRunning}\n` : "",
          ...state.foreign
        ]
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
        for (const call of calls) {
          if (call.script.name !== "write pod hashes") continue
          // After the replica, TTL and update time: seven values per pod, the whole-write flag last.
          const pods = call.args.slice(3)
          for (let at = 0; at < pods.length; at += 7) state.writes.push([String(pods[at]), String(pods[at + 6])])
        }
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

describe("what the replica sync lets go", () => {
  it.effect(
    "a pod that left is forgotten by the next round: its entry goes, and back under its UID it is written whole",
    () =>
      Effect.gen(function* () {
        const { store, redis, sync } = setup()
        yield* sync.round
        yield* sync.round
        assert.deepStrictEqual(redis.state.writes, [
          ["uid-p", "1"],
          ["uid-p", "0"]
        ])
        const ref = (() => {
          const entry = store.podEntry("default", "p")!
          return new WeakRef(entry)
        })()
        store.apply(DiscoveryEvent.PodDeletedByKey({ key: "default/p" }))
        yield* sync.round
        assert.strictEqual(redis.state.writes.length, 2, "no hash of a pod that left")
        assert.isTrue(yield* Effect.promise(() => isCollected(ref)), "its entry")
        store.apply(DiscoveryEvent.PodAdded({ pod: makePod({ name: "p", model: "m", uid: "uid-p" }) }))
        yield* sync.round
        assert.deepStrictEqual(redis.state.writes.at(-1), ["uid-p", "1"], "its hash expired meanwhile: written whole")
      })
  )

  it.effect("a gateway outside the registry that stops writing is forgotten after a whole SCAN pass without it", () =>
    Effect.gen(function* () {
      const { redis, sync } = setup()
      redis.state.cursor = "17"
      redis.state.foreign = ["aibrix-go"]
      yield* sync.round
      assert.strictEqual(sync.statistics.replicas, 2, "our other replica and AIBrix's")
      redis.state.cursor = "0"
      redis.state.foreign = []
      yield* sync.round
      assert.strictEqual(sync.statistics.replicas, 2, "met in the pass that just ended")
      yield* sync.round
      assert.strictEqual(sync.statistics.replicas, 1, "a whole pass without it")
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
