/**
 * The refresh against simulated engines on loopback, over real HTTP with the
 * undici client, on the real clock. Waits count each pod's scrapes, not time.
 */
import type { V1Pod } from "@kubernetes/client-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { newTestCacheWithPods, withMetricRefresh } from "../../layers/index.ts"
import { EngineBehavior, EngineSimulator } from "../../src/demo/EngineSimulator.ts"
import { CacheWriter, DiscoveryEvent, MetricCache, MetricValue } from "../../src/index.ts"
import { defaultScrapeOptions, type ScrapeOptions } from "../../src/metrics/MetricRefreshConfig.ts"
import { scrapesFromNow, scrapesOf, statistics, until } from "../support/refreshStatistics.ts"
import { podOf } from "../support/simulatedPods.ts"

const MODEL = "llama-3-8b"

const runningOf = (pod: string, model: string) =>
  MetricCache.use((metrics) => metrics.getMetricValueByPodModel(pod, "default", model, "num_requests_running"))

const refreshing = (pods: ReadonlyArray<V1Pod>, scrape: Partial<ScrapeOptions> = {}) =>
  withMetricRefresh(newTestCacheWithPods(pods, MODEL), {
    scrape: { ...defaultScrapeOptions, ...scrape },
    promql: undefined
  })

/** Waits (real time) until the engine has no connection open; fails after `withinMs`. */
const closedWithin = (engine: EngineSimulator, withinMs: number) =>
  Effect.gen(function* () {
    const deadline = Date.now() + withinMs
    while (engine.openConnections > 0) {
      assert.isBelow(Date.now(), deadline, "the engine's connection was closed")
      yield* Effect.sleep(10)
    }
  })

describe("engine refresh against simulated engines", () => {
  it.live(
    "values appear within two scrapes and follow changes, per pod and model",
    () =>
      Effect.gen(function* () {
        const a = yield* EngineSimulator.scoped({ models: [MODEL, "lora-a"] })
        const b = yield* EngineSimulator.scoped({ models: [MODEL] })
        const c = yield* EngineSimulator.scoped({ models: ["qwen-7b"] })
        a.metrics.setGauge(MODEL, "num_requests_running", 3)
        a.metrics.setGauge("lora-a", "num_requests_running", 1)
        b.metrics.setGauge(MODEL, "num_requests_running", 5)
        c.metrics.setGauge("qwen-7b", "gpu_cache_usage_perc", 0.5)
        a.metrics.setLora({ maxLora: 2, running: ["lora-a"], waiting: [] })
        a.metrics.completeRequests(MODEL, 4)
        yield* Effect.gen(function* () {
          yield* scrapesFromNow(2)
          assert.deepStrictEqual(yield* runningOf("pod-a", MODEL), MetricValue.simple(3))
          assert.deepStrictEqual(yield* runningOf("pod-a", "lora-a"), MetricValue.simple(1))
          assert.deepStrictEqual(yield* runningOf("pod-b", MODEL), MetricValue.simple(5))
          const metrics = yield* MetricCache
          assert.deepStrictEqual(
            yield* metrics.getMetricValueByPodModel("pod-c", "default", "qwen-7b", "gpu_cache_usage_perc"),
            MetricValue.simple(0.5)
          )
          assert.deepStrictEqual(
            yield* metrics.getMetricValueByPod("pod-a", "default", "running_lora_adapters"),
            MetricValue.label("lora-a")
          )
          const latency = yield* metrics.getMetricValueByPodModel(
            "pod-a",
            "default",
            MODEL,
            "e2e_request_latency_seconds"
          )
          assert.isTrue(MetricValue.isHistogram(latency) && latency.count === 4)

          a.metrics.setGauge(MODEL, "num_requests_running", 9)
          b.behave(EngineBehavior.fail(500))
          yield* scrapesFromNow(2, ["default/pod-a"])
          yield* until(({ engine }) => engine.pods.find((pod) => pod.key === "default/pod-b")!.outcomes.status >= 1)
          assert.deepStrictEqual(yield* runningOf("pod-a", MODEL), MetricValue.simple(9))
          assert.deepStrictEqual(
            yield* runningOf("pod-b", MODEL),
            MetricValue.simple(5),
            "a failing engine keeps its values"
          )
          const { engine } = yield* statistics
          assert.isAtLeast(engine.pods.find((pod) => pod.key === "default/pod-b")!.outcomes.status, 1)
          assert.strictEqual(engine.outcomes.malformed + engine.outcomes.timeout + engine.outcomes.transport, 0)
        }).pipe(Effect.provide(refreshing([podOf("pod-a", a), podOf("pod-b", b), podOf("pod-c", c)])))
      }),
    60_000
  )

  it.live(
    "each engine is scraped over one kept-alive connection",
    () =>
      Effect.gen(function* () {
        const a = yield* EngineSimulator.scoped({ models: [MODEL] })
        const b = yield* EngineSimulator.scoped({ models: [MODEL] })
        yield* Effect.gen(function* () {
          yield* scrapesFromNow(10)
          assert.isAtLeast(a.scrapes, 10)
          assert.isAtLeast(b.scrapes, 10)
          assert.strictEqual(a.connections, 1)
          assert.strictEqual(b.connections, 1)
        }).pipe(Effect.provide(refreshing([podOf("pod-a", a), podOf("pod-b", b)])))
      }),
    60_000
  )

  it.live(
    "a hung engine costs only its own freshness: the others keep updating at their interval",
    () =>
      Effect.gen(function* () {
        const hung = yield* EngineSimulator.scoped({ models: [MODEL] })
        const healthy = yield* EngineSimulator.scoped({ models: [MODEL] })
        const corrupt = yield* EngineSimulator.scoped({ models: [MODEL] })
        hung.behave(EngineBehavior.hang)
        corrupt.behave(EngineBehavior.corrupt("truncate"))
        yield* Effect.gen(function* () {
          yield* scrapesFromNow(1, ["default/healthy"])
          for (const running of [1, 2, 3]) {
            healthy.metrics.setGauge(MODEL, "num_requests_running", running)
            yield* scrapesFromNow(2, ["default/healthy"])
            assert.deepStrictEqual(yield* runningOf("healthy", MODEL), MetricValue.simple(running))
          }
          yield* until(({ engine }) => engine.pods.find((pod) => pod.key === "default/hung")!.outcomes.timeout >= 3)
          const { engine } = yield* statistics
          const pod = (key: string) => engine.pods.find((pod) => pod.key === key)!
          assert.strictEqual(pod("default/hung").outcomes.ok, 0)
          assert.strictEqual(pod("default/hung").failures, pod("default/hung").outcomes.timeout)
          assert.isTrue(pod("default/hung").stale, "never scraped well: stale")
          assert.isAtLeast(pod("default/corrupt").outcomes.truncated, 1, "a body cut in a label set is cut short")
          assert.strictEqual(pod("default/healthy").outcomes.timeout, 0)
          // The healthy pod was scraped at its interval while the hung one timed out and backed off.
          assert.isAbove(scrapesOf(pod("default/healthy").outcomes), 2 * scrapesOf(pod("default/hung").outcomes))
          const missing = yield* Effect.flip(runningOf("hung", MODEL))
          assert.strictEqual(missing._tag, "MetricNotFound", "it never answered")
        }).pipe(
          Effect.provide(
            refreshing([podOf("hung", hung), podOf("healthy", healthy), podOf("corrupt", corrupt)], { timeoutMs: 300 })
          )
        )
      }),
    60_000
  )

  it.live(
    "a pod removed from the store takes its metrics and its connection with it, and the fiber ends with the scope",
    () =>
      Effect.gen(function* () {
        const kept = yield* EngineSimulator.scoped({ models: [MODEL] })
        const removed = yield* EngineSimulator.scoped({ models: [MODEL] })
        yield* Effect.scoped(
          Effect.gen(function* () {
            const context = yield* Layer.build(refreshing([podOf("kept", kept), podOf("removed", removed)]))
            yield* Effect.gen(function* () {
              yield* scrapesFromNow(2)
              assert.isTrue(MetricValue.isSimple(yield* runningOf("removed", MODEL)))
              const writer = yield* CacheWriter
              yield* writer.apply(DiscoveryEvent.PodDeletedByKey({ key: "default/removed" }))
              // The fleet is followed once an interval: one scrape of the pod that left may still be under way.
              yield* scrapesFromNow(2, ["default/kept"])
              const scrapesAfterRemoval = removed.scrapes
              yield* scrapesFromNow(3, ["default/kept"])
              assert.strictEqual(removed.scrapes, scrapesAfterRemoval, "no scrape of a pod that left the store")
              assert.strictEqual((yield* Effect.flip(runningOf("removed", MODEL)))._tag, "PodNotFound")
              assert.deepStrictEqual(
                (yield* statistics).engine.pods.map((pod) => pod.key),
                ["default/kept"]
              )
              yield* closedWithin(removed, 2_000)
              assert.strictEqual(kept.openConnections, 1, "the pod that stays keeps its connection")
            }).pipe(Effect.provideContext(context))
          })
        )
        const scrapes = kept.scrapes
        assert.isAtLeast(scrapes, 6)
        yield* Effect.sleep(300)
        assert.strictEqual(kept.scrapes, scrapes, "no scrape after the layer's scope closed")
      }),
    60_000
  )
})
