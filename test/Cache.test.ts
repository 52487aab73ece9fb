import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { initForTest, newTestCacheWithPods, newTestCacheWithPodsMetrics } from "../layers/index.ts"
import {
  CacheWriter,
  DiscoveryEvent,
  MetricCache,
  MetricValue,
  ModelCache,
  PodCache,
  RequestTracker,
  RoutingContext
} from "../src/index.ts"
import { makeAdapter, makePod } from "./fixtures.ts"
import { capturedLogs } from "./support/capturedLogs.ts"

describe("Cache services", () => {
  it.effect("getPod returns the very object added", () =>
    Effect.gen(function*() {
      const pod = makePod({ name: "p1", model: "m1" })
      const writer = yield* CacheWriter
      yield* writer.apply(DiscoveryEvent.PodAdded({ pod }))
      const pods = yield* PodCache
      assert.strictEqual(yield* pods.getPod("p1", "default"), pod)
      const error = yield* Effect.flip(pods.getPod("p1", "other"))
      assert.strictEqual(error._tag, "PodNotFound")
      assert.strictEqual(error.key, "other/p1")
    }).pipe(Effect.provide(initForTest)))

  it.effect("reads are lazy: the same Effect value reads the state anew", () =>
    Effect.gen(function*() {
      const writer = yield* CacheWriter
      const models = yield* ModelCache
      const listModels = models.listModels
      const hasM1 = models.hasModel("m1")
      assert.deepStrictEqual(yield* listModels, [])
      assert.isFalse(yield* hasM1)
      yield* writer.apply(DiscoveryEvent.PodAdded({ pod: makePod({ name: "p1", model: "m1" }) }))
      assert.deepStrictEqual(yield* listModels, ["m1"])
      assert.isTrue(yield* hasM1)
    }).pipe(Effect.provide(initForTest)))

  it.effect("listPodsByModel fails with ModelNotFound carrying the model", () =>
    Effect.gen(function*() {
      const pods = yield* PodCache
      const error = yield* Effect.flip(pods.listPodsByModel("nope"))
      assert.strictEqual(error._tag, "ModelNotFound")
      assert.strictEqual(error.model, "nope")
    }).pipe(Effect.provide(initForTest)))

  it.effect("listModelsByPod lists the base model, then adapters", () =>
    Effect.gen(function*() {
      const writer = yield* CacheWriter
      yield* writer.applyAll([
        DiscoveryEvent.PodAdded({ pod: makePod({ name: "p1", model: "base" }) }),
        DiscoveryEvent.AdapterAdded({ adapter: makeAdapter("lora-a", ["p1"]) })
      ])
      const models = yield* ModelCache
      assert.deepStrictEqual(yield* models.listModelsByPod("p1", "default"), ["base", "lora-a"])
      const error = yield* Effect.flip(models.listModelsByPod("p2", "default"))
      assert.strictEqual(error.key, "default/p2")
    }).pipe(Effect.provide(initForTest)))

  it.effect("metrics by pod and by pod-model, with typed misses", () =>
    Effect.gen(function*() {
      const metrics = yield* MetricCache
      const value = yield* metrics.getMetricValueByPod("p1", "default", "gpu_cache_usage_perc")
      assert.deepStrictEqual(value, MetricValue.simple(0.5))
      const missing = yield* Effect.flip(metrics.getMetricValueByPod("p1", "default", "nope"))
      assert.strictEqual(missing._tag, "MetricNotFound")
      const noPod = yield* Effect.flip(metrics.getMetricValueByPod("p9", "default", "nope"))
      assert.strictEqual(noPod._tag, "PodNotFound")
      const noModelMetric = yield* Effect.flip(metrics.getMetricValueByPodModel("p1", "default", "m", "x"))
      assert.strictEqual(noModelMetric._tag, "MetricNotFound")
    }).pipe(Effect.provide(newTestCacheWithPodsMetrics(
      [makePod({ name: "p1" })],
      "m",
      { p1: { gpu_cache_usage_perc: MetricValue.simple(0.5) } }
    ))))

  it.effect("a routed request counts running on its pod, and gives it back once", () =>
    Effect.gen(function*() {
      const pods = yield* PodCache
      const tracker = yield* RequestTracker
      const metrics = yield* MetricCache
      const [pod] = (yield* pods.listPodsByModel("m")).all()
      const ctx = RoutingContext.make({ model: "m", requestId: "r1" }).setTargetPod(pod!)
      const term = yield* tracker.addRequestCount(ctx, "r1", "m")
      const running = yield* metrics.getMetricValueByPod("p1", "default", "realtime_num_requests_running")
      assert.deepStrictEqual(running, MetricValue.simple(1))
      yield* tracker.doneRequestCount(ctx, "r1", "m", term)
      yield* tracker.doneRequestCount(ctx, "r1", "m", term)
      const after = yield* metrics.getMetricValueByPod("p1", "default", "realtime_num_requests_running")
      assert.deepStrictEqual(after, MetricValue.simple(0))
    }).pipe(Effect.provide(newTestCacheWithPods([makePod({ name: "p1" })], "m"))))

  it.effect("a malformed object is logged and skipped, never thrown", () => {
    const logs = capturedLogs()
    return Effect.gen(function*() {
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
