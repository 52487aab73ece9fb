/**
 * The PromQL metrics of the catalogue against a real Prometheus that scrapes
 * simulated engines every second under `job="pods"`.
 *
 * The queries select a pod's series by `instance="<podIP>:8000"`. Prometheus
 * names a target `host:port` of where it scrapes, and every simulator listens
 * on 127.0.0.1 on a port of its own; so the pods get distinct IPs (127.0.0.2,
 * 127.0.0.3) and the generated configuration relabels each simulator's target
 * to `instance="<its pod's IP>:8000"`, as a Kubernetes scrape config does for
 * real pods. (Port 8000 itself may be taken by anything on a shared machine.)
 * The engine scrape of those pods is not the subject here; it runs rarely.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schedule } from "effect"
import { newTestCacheWithPods, withMetricRefresh } from "../../layers/index.ts"
import { EngineSimulator, type RequestShape } from "../../src/demo/EngineSimulator.ts"
import { CacheWriter, DiscoveryEvent, MetricCache, MetricValue, type PromQLResult } from "../../src/index.ts"
import { promQLMetrics } from "../../src/metrics/MetricCatalogue.ts"
import { MetricRefresh } from "../../src/metrics/MetricRefresh.ts"
import { defaultScrapeOptions } from "../../src/metrics/MetricRefreshConfig.ts"
import { makeAdapter } from "../support/fixtures.ts"
import { startPrometheus } from "../support/prometheusServer.ts"
import { podOf } from "../support/simulatedPods.ts"

const MODEL = "llama-3-8b"
const ADAPTER = "lora-a"

const fast: RequestShape = {
  promptTokens: 100,
  generationTokens: 50,
  queueSeconds: 0.01,
  ttftSeconds: 0.05,
  tpotSeconds: 0.02
}
const slow: RequestShape = {
  promptTokens: 1000,
  generationTokens: 200,
  queueSeconds: 0.2,
  ttftSeconds: 2,
  tpotSeconds: 0.2
}

/** The first finite number of a result; undefined when it has none (no data yet, or NaN). */
const numberOf = (result: PromQLResult): number | undefined => {
  const values =
    result.resultType === "vector"
      ? result.result.map((sample) => sample.value[1])
      : result.resultType === "scalar"
        ? [result.result[1]]
        : []
  return values.map(Number).find(Number.isFinite)
}

/** The `instance` labels of a result's series (aggregations drop it). */
const instancesOf = (result: PromQLResult): ReadonlyArray<string | undefined> =>
  result.resultType === "vector" ? result.result.map((sample) => sample.metric.instance) : []

interface Read {
  readonly pod: string
  readonly model: string | undefined
  readonly metric: string
}

/** Every value the catalogue promises: pod metrics per pod, pod-model metrics per model of the pod. */
const reads: ReadonlyArray<Read> = promQLMetrics.flatMap((metric): ReadonlyArray<Read> => {
  if (metric.scope === "pod") return ["pod-a", "pod-b"].map((pod) => ({ pod, model: undefined, metric: metric.name }))
  return [
    { pod: "pod-a", model: MODEL, metric: metric.name },
    { pod: "pod-a", model: ADAPTER, metric: metric.name },
    { pod: "pod-b", model: MODEL, metric: metric.name }
  ]
})

const resultOf = (read: Read) =>
  MetricCache.use((metrics) =>
    read.model === undefined
      ? metrics.getMetricValueByPod(read.pod, "default", read.metric)
      : metrics.getMetricValueByPodModel(read.pod, "default", read.model, read.metric)
  ).pipe(
    Effect.map((value) => (MetricValue.isPrometheus(value) ? value.result : undefined)),
    Effect.orElseSucceed(() => undefined)
  )

const valueAt = (pod: string, metric: string, model?: string) =>
  resultOf({ pod, model, metric }).pipe(Effect.map((result) => (result === undefined ? undefined : numberOf(result))))

describe("PromQL metrics from a real Prometheus", () => {
  it.live(
    "every catalogue PromQL metric comes back as a value for the right pod and model",
    () =>
      Effect.gen(function* () {
        const a = yield* EngineSimulator.scoped({ models: [MODEL, ADAPTER] })
        const b = yield* EngineSimulator.scoped({ models: [MODEL] })
        const prometheus = yield* startPrometheus({
          job: "pods",
          targets: [
            { address: `127.0.0.1:${a.port}`, instance: "127.0.0.2:8000" },
            { address: `127.0.0.1:${b.port}`, instance: "127.0.0.3:8000" }
          ]
        })
        // Requests keep finishing, so rates and increases have something to show.
        const traffic = yield* Effect.forkChild(
          Effect.forever(
            Effect.sync(() => {
              a.metrics.completeRequests(MODEL, 3, fast)
              a.metrics.completeRequests(ADAPTER, 1, fast)
              b.metrics.completeRequests(MODEL, 2, slow)
            }).pipe(Effect.andThen(Effect.sleep("250 millis")))
          )
        )
        const layer = withMetricRefresh(
          newTestCacheWithPods([podOf("pod-a", a, "127.0.0.2"), podOf("pod-b", b, "127.0.0.3")], MODEL),
          {
            scrape: { ...defaultScrapeOptions, intervalMs: 60_000, timeoutMs: 200 },
            promql: { prometheus: { endpoint: prometheus.url }, intervalMs: 1000, timeoutMs: 5000, concurrency: 8 }
          }
        )
        yield* Effect.gen(function* () {
          const writer = yield* CacheWriter
          yield* writer.apply(DiscoveryEvent.AdapterAdded({ adapter: makeAdapter(ADAPTER, ["pod-a"]) }))
          // Prometheus applies its targets about 5 s after start, and rates need two scrapes.
          const missing = Effect.filter(reads, (read) =>
            resultOf(read).pipe(Effect.map((result) => result === undefined || numberOf(result) === undefined))
          )
          yield* missing.pipe(
            Effect.filterOrFail(
              (left) => left.length === 0,
              (left) => left
            ),
            Effect.retry({ schedule: Schedule.spaced("500 millis"), times: 90 }),
            Effect.catch((left) =>
              Effect.sync(() => assert.fail(`no value for ${JSON.stringify(left)}\nprometheus: ${prometheus.log()}`))
            )
          )
          for (const read of reads) {
            const result = (yield* resultOf(read))!
            const expected = read.pod === "pod-a" ? "127.0.0.2:8000" : "127.0.0.3:8000"
            for (const instance of instancesOf(result)) {
              if (instance !== undefined) assert.strictEqual(instance, expected, `${read.metric} of ${read.pod}`)
            }
          }
          const smaller = (metric: string, model?: string) =>
            Effect.gen(function* () {
              const fastPod = (yield* valueAt("pod-a", metric, model))!
              const slowPod = (yield* valueAt("pod-b", metric, model))!
              assert.isBelow(fastPod, slowPod, `${metric}: pod-a ${fastPod}, pod-b ${slowPod}`)
            })
          yield* smaller("p95_ttft_5m_pod")
          yield* smaller("avg_ttft_5m_pod")
          yield* smaller("p95_tpot_5m_pod")
          yield* smaller("avg_tpot_pod_5m")
          yield* smaller("avg_e2e_latency_pod")
          yield* smaller("p95_ttft_5m", MODEL)
          yield* smaller("avg_prompt_toks_per_req", MODEL)
          yield* smaller("avg_generation_toks_per_req", MODEL)
          const tpot = (yield* valueAt("pod-a", "avg_tpot_pod_5m"))!
          assert.isBelow(tpot, 0.1, "the mean time per output token divides by the count")
          const promql = (yield* MetricRefresh.use((refresh) => refresh.statistics)).promql!
          assert.isAtLeast(promql.cycles, 2)
        }).pipe(Effect.provide(layer))
        yield* Fiber.interrupt(traffic)
      }),
    90_000
  )
})
