import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { initForTest, newTestCacheWithPods, newTestCacheWithPodsMetrics } from "../../layers/index.ts"
import { CacheStore } from "../../src/cache/CacheStore.ts"
import {
  CacheWriter,
  DiscoveryEvent,
  MetricCache,
  MetricValue,
  ModelCache,
  PodCache,
  RequestTracker,
  RoutingContext
} from "../../src/index.ts"
import { makeAdapter, makePod } from "../support/fixtures.ts"
import { capturedLogs } from "../support/capturedLogs.ts"

describe("Cache services", () => {
  it.effect("getPod returns the very object added", () =>
    Effect.gen(function* () {
      const pod = makePod({ name: "p1", model: "m1" })
      const writer = yield* CacheWriter
      yield* writer.apply(DiscoveryEvent.PodAdded({ pod }))
      const pods = yield* PodCache
      assert.strictEqual(yield* pods.getPod("p1", "default"), pod)
      const error = yield* Effect.flip(pods.getPod("p1", "other"))
      assert.strictEqual(error._tag, "PodNotFound")
      assert.strictEqual(error.key, "other/p1")
    }).pipe(Effect.provide(initForTest))
  )

  it.effect("reads are lazy: the same Effect value reads the state anew", () =>
    Effect.gen(function* () {
      const writer = yield* CacheWriter
      const models = yield* ModelCache
      const listModels = models.listModels
      const hasM1 = models.hasModel("m1")
      assert.deepStrictEqual(yield* listModels, [])
      assert.isFalse(yield* hasM1)
      yield* writer.apply(DiscoveryEvent.PodAdded({ pod: makePod({ name: "p1", model: "m1" }) }))
      assert.deepStrictEqual(yield* listModels, ["m1"])
      assert.isTrue(yield* hasM1)
    }).pipe(Effect.provide(initForTest))
  )

  it.effect("listPodsByModel fails with ModelNotFound carrying the model", () =>
    Effect.gen(function* () {
      const pods = yield* PodCache
      const error = yield* Effect.flip(pods.listPodsByModel("nope"))
      assert.strictEqual(error._tag, "ModelNotFound")
      assert.strictEqual(error.model, "nope")
    }).pipe(Effect.provide(initForTest))
  )

  it.effect("listModelsByPod lists the base model, then adapters", () =>
    Effect.gen(function* () {
      const writer = yield* CacheWriter
      yield* writer.applyAll([
        DiscoveryEvent.PodAdded({ pod: makePod({ name: "p1", model: "base" }) }),
        DiscoveryEvent.AdapterAdded({ adapter: makeAdapter("lora-a", ["p1"]) })
      ])
      const models = yield* ModelCache
      assert.deepStrictEqual(yield* models.listModelsByPod("p1", "default"), ["base", "lora-a"])
      const error = yield* Effect.flip(models.listModelsByPod("p2", "default"))
      assert.strictEqual(error.key, "default/p2")
    }).pipe(Effect.provide(initForTest))
  )

  it.effect("metrics by pod and by pod-model, with typed misses", () =>
    Effect.gen(function* () {
      const metrics = yield* MetricCache
      const value = yield* metrics.getMetricValueByPod("p1", "default", "gpu_cache_usage_perc")
      assert.deepStrictEqual(value, MetricValue.simple(0.5))
      const missing = yield* Effect.flip(metrics.getMetricValueByPod("p1", "default", "nope"))
      assert.strictEqual(missing._tag, "MetricNotFound")
      const noPod = yield* Effect.flip(metrics.getMetricValueByPod("p9", "default", "nope"))
      assert.strictEqual(noPod._tag, "PodNotFound")
      const noModelMetric = yield* Effect.flip(metrics.getMetricValueByPodModel("p1", "default", "m", "x"))
      assert.strictEqual(noModelMetric._tag, "MetricNotFound")
    }).pipe(
      Effect.provide(
        newTestCacheWithPodsMetrics([makePod({ name: "p1" })], "m", {
          p1: { gpu_cache_usage_perc: MetricValue.simple(0.5) }
        })
      )
    )
  )

  it.effect("a routed request counts running on its pod, and gives it back once", () =>
    Effect.gen(function* () {
      const pods = yield* PodCache
      const tracker = yield* RequestTracker
      const metrics = yield* MetricCache
      const store = yield* CacheStore
      const [pod] = (yield* pods.listPodsByModel("m")).all()
      const running = metrics.getMetricValueByPod("p1", "default", "realtime_num_requests_running")
      const first = RoutingContext.make({ model: "m", requestId: "r1" }).setTargetPod(pod!)
      const second = RoutingContext.make({ model: "m", requestId: "r2" }).setTargetPod(pod!)
      const term = yield* tracker.addRequestCount(first, "r1", "m")
      yield* tracker.addRequestCount(second, "r2", "m")
      assert.deepStrictEqual(yield* running, MetricValue.simple(2))
      assert.strictEqual(store.pendingRequests("m"), 2)
      // A second done of r1 must not take r2's count.
      yield* tracker.doneRequestCount(first, "r1", "m", term)
      yield* tracker.doneRequestCount(first, "r1", "m", term)
      assert.deepStrictEqual(yield* running, MetricValue.simple(1))
      assert.strictEqual(store.pendingRequests("m"), 1)
      yield* tracker.doneRequestTrace(second, "r2", "m", 10, 20, term)
      assert.deepStrictEqual(yield* running, MetricValue.simple(0))
      assert.strictEqual(store.pendingRequests("m"), 0)
    }).pipe(Effect.provide(newTestCacheWithPods([makePod({ name: "p1" })], "m")))
  )

  it.effect("listPodsByModel groups the model's pods by deployment label, in order of first appearance", () =>
    Effect.gen(function* () {
      const pods = yield* PodCache
      const list = yield* pods.listPodsByModel("m")
      assert.strictEqual(list.len, 4)
      assert.deepStrictEqual(list.indexes(), ["web", "", "api"])
      assert.deepStrictEqual(
        list.listByIndex("web").map((pod) => pod.metadata?.name),
        ["a", "c"]
      )
      assert.deepStrictEqual(
        list.listByIndex("").map((pod) => pod.metadata?.name),
        ["b"]
      )
      assert.deepStrictEqual(list.listByIndex("none"), [])
    }).pipe(
      Effect.provide(
        newTestCacheWithPods(
          [
            makePod({ name: "a", ip: "10.0.0.1", labels: { "app.kubernetes.io/name": "web" } }),
            makePod({ name: "b", ip: "10.0.0.2" }),
            makePod({ name: "c", ip: "10.0.0.3", labels: { "app.kubernetes.io/name": "web" } }),
            makePod({ name: "d", ip: "10.0.0.4", labels: { "app.kubernetes.io/name": "api" } })
          ],
          "m"
        )
      )
    )
  )

  it.effect("a malformed object is logged and skipped, never thrown", () => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      const writer = yield* CacheWriter
      yield* writer.applyAll([
        DiscoveryEvent.PodAdded({ pod: { metadata: { labels: { "model.aibrix.ai/name": "m" } } } }),
        DiscoveryEvent.PodAdded({ pod: makePod({ name: "p1", model: "m" }) })
      ])
      const pods = yield* PodCache
      assert.strictEqual((yield* pods.listPods).length, 1)
      assert.strictEqual(logs.lines.length, 1)
      assert.strictEqual(logs.lines[0]?.level, "Warn")
      assert.match(logs.lines[0]?.message ?? "", /skipped PodAdded: malformed pod/)
    }).pipe(Effect.provide(initForTest), Effect.provide(logs.layer))
  })
})
