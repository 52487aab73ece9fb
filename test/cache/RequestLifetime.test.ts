/**
 * The lifetime of in-flight requests through the services, timed by TestClock:
 * released on the request path in the test layers, by the sweep fiber in a
 * live cache even when no request comes, within the lifetime plus one second,
 * its counts given back once and counted abandoned on the metrics page.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Layer, Result } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { TestClock } from "effect/testing"
import { newTestCacheWithPods, withRequestLifetime, withSource } from "../../layers/index.ts"
import * as CacheMetrics from "../../src/cache/CacheMetrics.ts"
import { CacheStore } from "../../src/cache/CacheStore.ts"
import { MetricCache, MetricValue, PodCache, RequestTracker, RoutingContext } from "../../src/index.ts"
import { REALTIME_RUNNING_METRIC } from "../../src/store/FleetStore.ts"
import { parse } from "../../src/exposition/Parser.ts"
import { DEFAULT_REQUEST_LIFETIME_MS } from "../../src/store/InFlightRequests.ts"
import { makePod } from "../support/fixtures.ts"
import { withFreshRegistry } from "../support/metricRegistry.ts"

const LIFETIME = 5_000

const withEnv = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))

const onePod = () => newTestCacheWithPods([makePod({ name: "p1" })], "m")

/** Adds a request routed to p1 through the services; returns its term. */
const addRouted = (requestId: string) =>
  Effect.gen(function* () {
    const [pod] = (yield* (yield* PodCache).listPodsByModel("m")).all()
    const ctx = RoutingContext.make({ model: "m", requestId }).setTargetPod(pod!)
    return yield* (yield* RequestTracker).addRequestCount(ctx, requestId, "m")
  })

const done = (requestId: string, term = 0) =>
  Effect.flatMap(RequestTracker, (tracker) => tracker.doneRequestCount(null, requestId, "m", term))

/** What the cache says of p1 and m: the running metric, running and pending counts. */
const counts = Effect.gen(function* () {
  const store = yield* CacheStore
  const running = yield* (yield* MetricCache).getMetricValueByPod("p1", "default", REALTIME_RUNNING_METRIC)
  assert.deepStrictEqual(running, MetricValue.simple(store.runningRequests("default/p1")))
  return { pending: store.pendingRequests("m"), running: store.runningRequests("default/p1") }
})

const abandonedOnPage = Effect.map(
  PrometheusMetrics.format(),
  (page) => Result.getOrThrow(parse(page)).families.get("aibrix_cache_requests_abandoned_total")?.samples[0]?.value
)

describe("request lifetime in the test layers (request path, TestClock)", () => {
  it.effect("an unfinished request counts until its lifetime and is released by the next request after it", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(1_000_123)
      yield* addRouted("lost")
      yield* TestClock.adjust(DEFAULT_REQUEST_LIFETIME_MS - 1)
      yield* addRouted("r2")
      assert.deepStrictEqual(yield* counts, { pending: 2, running: 2 })
      yield* TestClock.adjust(1_000)
      yield* addRouted("r3")
      assert.deepStrictEqual(yield* counts, { pending: 2, running: 2 })
      assert.strictEqual((yield* CacheStore).abandonedCount, 1)
      // Its done, late, is ignored; the others' still count.
      yield* done("lost")
      assert.deepStrictEqual(yield* counts, { pending: 2, running: 2 })
      yield* done("r2")
      yield* done("r3")
      assert.deepStrictEqual(yield* counts, { pending: 0, running: 0 })
    }).pipe(Effect.provide(onePod()))
  )
})

describe("request lifetime in a live cache (sweep fiber, TestClock)", () => {
  it.effect("an idle cache releases a request within its lifetime plus one second, never before", () =>
    Effect.gen(function* () {
      // One pod per request, each request added at another moment of the sweep's and the windows' phases.
      const pods = Array.from({ length: 80 }, (_, i) => makePod({ name: `p${i}`, ip: `10.0.0.${i}` }))
      yield* TestClock.setTime(10_000_000)
      const context = yield* Layer.build(withRequestLifetime(newTestCacheWithPods(pods, "m"), LIFETIME))
      yield* Effect.gen(function* () {
        const store = yield* CacheStore
        const tracker = yield* RequestTracker
        const addedAt: Array<number> = []
        for (const [i, pod] of pods.entries()) {
          addedAt.push(10_000_000 + i * 13)
          yield* TestClock.setTime(addedAt[i]!)
          yield* tracker.addRequestCount(
            RoutingContext.make({ model: "m", requestId: `r${i}` }).setTargetPod(pod),
            `r${i}`,
            "m"
          )
        }
        for (let now = 10_000_000 + LIFETIME - 100; now <= addedAt.at(-1)! + LIFETIME + 1_100; now += 20) {
          yield* TestClock.setTime(now)
          for (const [i, at] of addedAt.entries()) {
            const running = store.runningRequests(`default/p${i}`)
            if (now < at + LIFETIME) assert.strictEqual(running, 1, `r${i} added at ${at} released before ${now}`)
            if (now >= at + LIFETIME + 1_000)
              assert.strictEqual(running, 0, `r${i} added at ${at} still counts at ${now}`)
          }
        }
        assert.strictEqual(store.abandonedCount, pods.length)
      }).pipe(Effect.provideContext(context))
    }).pipe(Effect.scoped)
  )

  it.effect("an abandoned request is counted on the metrics page, once", () =>
    Effect.gen(function* () {
      const context = yield* Layer.build(
        CacheMetrics.layer.pipe(Layer.provideMerge(withRequestLifetime(onePod(), LIFETIME)))
      )
      yield* Effect.gen(function* () {
        assert.strictEqual(yield* abandonedOnPage, 0)
        yield* addRouted("lost")
        const term = yield* addRouted("finished")
        yield* done("finished", term)
        yield* TestClock.adjust(LIFETIME + 1_000)
        assert.strictEqual(yield* abandonedOnPage, 1)
        yield* done("lost")
        yield* TestClock.adjust(LIFETIME + 1_000)
        assert.strictEqual(yield* abandonedOnPage, 1)
      }).pipe(Effect.provideContext(context))
    }).pipe(Effect.scoped, withFreshRegistry)
  )

  it.effect("every live cache reads AIBRIX_REQUEST_MAX_LIFETIME_MS and sweeps", () =>
    Effect.gen(function* () {
      const context = yield* Layer.build(withSource(Layer.empty, onePod()))
      yield* Effect.gen(function* () {
        assert.strictEqual((yield* CacheStore).requestLifetimeMs, 2_500)
        yield* addRouted("lost")
        yield* TestClock.adjust(3_500)
        assert.deepStrictEqual(yield* counts, { pending: 0, running: 0 })
        assert.strictEqual(yield* abandonedOnPage, 1)
      }).pipe(Effect.provideContext(context))
    }).pipe(Effect.scoped, withFreshRegistry, withEnv({ AIBRIX_REQUEST_MAX_LIFETIME_MS: "2500" }))
  )
})

describe("AIBRIX_REQUEST_MAX_LIFETIME_MS", () => {
  const lifetimeOf = (env: Record<string, string>) =>
    Effect.gen(function* () {
      const context = yield* Layer.build(withRequestLifetime(onePod()))
      return Context.get(context, CacheStore).requestLifetimeMs
    }).pipe(Effect.scoped, withEnv(env))

  it.effect("defaults to one hour and accepts any positive number of milliseconds", () =>
    Effect.gen(function* () {
      assert.strictEqual(yield* lifetimeOf({}), 3_600_000)
      assert.strictEqual(yield* lifetimeOf({ AIBRIX_REQUEST_MAX_LIFETIME_MS: "1" }), 1)
      assert.strictEqual(yield* lifetimeOf({ AIBRIX_REQUEST_MAX_LIFETIME_MS: "86400000" }), 86_400_000)
      assert.strictEqual(yield* lifetimeOf({ AIBRIX_REQUEST_MAX_LIFETIME_MS: "1500.5" }), 1500.5)
    })
  )

  it.effect("a bad value fails the build, naming the variable and the value", () =>
    Effect.gen(function* () {
      for (const value of ["0", "-5", "abc", "10s", "1e999999"]) {
        const error = yield* Effect.flip(lifetimeOf({ AIBRIX_REQUEST_MAX_LIFETIME_MS: value }))
        assert.include(error.message, "AIBRIX_REQUEST_MAX_LIFETIME_MS")
        assert.include(error.message, JSON.stringify(value))
      }
    })
  )
})
