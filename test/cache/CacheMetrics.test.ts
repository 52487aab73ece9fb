import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Metric, Result, Scope } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { newTestCacheWithPods } from "../../layers/index.ts"
import * as CacheMetrics from "../../src/cache/CacheMetrics.ts"
import { makeReadinessSignal } from "../../src/cache/CacheReadiness.ts"
import { parse } from "../../src/exposition/Parser.ts"
import { makePod } from "../support/fixtures.ts"
import { withFreshRegistry } from "../support/metricRegistry.ts"

/** The families of the registry in the current context, as a scrape reads them. */
const scrape = Effect.map(PrometheusMetrics.format(), (page) => Result.getOrThrow(parse(page)).families)

/** A store with these pods and its families, under these metric attributes. */
const observedCache = (pods: number, attributes: Metric.Metric.AttributeSet) =>
  CacheMetrics.layer.pipe(
    Layer.provideMerge(
      newTestCacheWithPods(
        Array.from({ length: pods }, (_, i) => makePod({ name: `p${i}`, ready: i % 2 === 0 })),
        "m1"
      )
    ),
    Layer.provide(Layer.succeed(Metric.CurrentMetricAttributes, attributes))
  )

describe("the cache's families in the metric registry", () => {
  it.effect("two caches in one registry tell their series apart by the attributes each is built under", () =>
    Effect.gen(function* () {
      yield* Layer.build(observedCache(3, { cache: "a" }))
      yield* Layer.build(observedCache(1, { cache: "b" }))
      const pods = (yield* scrape).get("aibrix_cache_pods")!.samples
      const value = (cache: string, ready: string) =>
        pods.find((sample) => sample.labels["cache"] === cache && sample.labels["ready"] === ready)?.value
      assert.strictEqual(pods.length, 4)
      assert.strictEqual(value("a", "true"), 2)
      assert.strictEqual(value("a", "false"), 1)
      assert.strictEqual(value("b", "true"), 1)
      assert.strictEqual(value("b", "false"), 0)
    }).pipe(Effect.scoped, withFreshRegistry)
  )

  it.effect("the store's series leave the registry when the layer's scope closes", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      yield* Layer.buildWithScope(observedCache(2, {}), scope)
      assert.strictEqual((yield* scrape).get("aibrix_cache_models")?.samples[0]?.value, 1)
      yield* Scope.close(scope, Exit.void)
      const families = yield* scrape
      assert.isFalse(families.has("aibrix_cache_pods"))
      assert.isFalse(families.has("aibrix_cache_models"))
    }).pipe(withFreshRegistry)
  )

  it.effect("ready is 0 until the source raises its readiness signal", () =>
    Effect.gen(function* () {
      const signal = yield* makeReadinessSignal
      assert.strictEqual((yield* scrape).get("aibrix_cache_ready")?.samples[0]?.value, 0)
      yield* signal.markReady
      assert.strictEqual((yield* scrape).get("aibrix_cache_ready")?.samples[0]?.value, 1)
    }).pipe(withFreshRegistry)
  )
})
