import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { initForTest, newTestCacheWithPods, newTestCacheWithPodsMetrics } from "../../layers/index.ts"
import { CacheWriter, DiscoveryEvent, MetricCache, MetricValue, ModelCache, PodCache } from "../../src/index.ts"
import { makePod } from "../support/fixtures.ts"

describe("test layers", () => {
  it.effect("two builds of initForTest are two independent stores", () =>
    Effect.gen(function* () {
      const addPod = Effect.gen(function* () {
        const writer = yield* CacheWriter
        yield* writer.apply(DiscoveryEvent.PodAdded({ pod: makePod({ name: "p1", model: "m" }) }))
      })
      const models = ModelCache.use((cache) => cache.listModels)
      yield* addPod.pipe(Effect.provide(initForTest))
      assert.deepStrictEqual(yield* models.pipe(Effect.provide(initForTest)), [])
    })
  )

  it.effect("one build serves every service from one store", () =>
    Effect.gen(function* () {
      const writer = yield* CacheWriter
      yield* writer.apply(DiscoveryEvent.PodAdded({ pod: makePod({ name: "p1", model: "m" }) }))
      const pods = yield* PodCache
      const models = yield* ModelCache
      assert.strictEqual((yield* pods.listPodsByModel("m")).len, 1)
      assert.deepStrictEqual(yield* models.listModels, ["m"])
    }).pipe(Effect.provide(initForTest))
  )

  it.effect("newTestCacheWithPods labels each pod with the model and keeps its other labels", () => {
    const pod = makePod({ name: "p1", labels: { "app.kubernetes.io/name": "deploy" } })
    const other = makePod({ name: "p2", namespace: "ns2" })
    return Effect.gen(function* () {
      const pods = yield* PodCache
      const list = yield* pods.listPodsByModel("llama")
      assert.strictEqual(list.len, 2)
      const found = yield* pods.getPod("p1", "default")
      assert.strictEqual(found, pod)
      assert.deepStrictEqual(found.metadata?.labels, {
        "app.kubernetes.io/name": "deploy",
        "model.aibrix.ai/name": "llama"
      })
      assert.strictEqual(yield* pods.getPod("p2", "ns2"), other)
    }).pipe(Effect.provide(newTestCacheWithPods([pod, other], "llama")))
  })

  it.effect("newTestCacheWithPodsMetrics sets pod-scope metrics by pod name", () =>
    Effect.gen(function* () {
      const metrics = yield* MetricCache
      assert.deepStrictEqual(
        yield* metrics.getMetricValueByPod("p1", "default", "num_requests_running"),
        MetricValue.simple(4)
      )
      const error = yield* Effect.flip(metrics.getMetricValueByPod("p2", "default", "num_requests_running"))
      assert.strictEqual(error._tag, "MetricNotFound")
    }).pipe(
      Effect.provide(
        newTestCacheWithPodsMetrics(
          [makePod({ name: "p1" }), makePod({ name: "p2" })],
          "m",
          new Map([["p1", new Map([["num_requests_running", MetricValue.simple(4)]])]])
        )
      )
    )
  )
})
