/**
 * What the refresh reads from the engines' pages and the PromQL loop, against
 * a mock HTTP layer on the TestClock. The schedules themselves (one per pod,
 * backoff, staleness) are in EngineSchedule.test.ts. Scrapes that answer at
 * once still resolve their bodies on the event loop, so the tests move the
 * clock in small steps with turns of the event loop between them, or wait for
 * the statistics to change; never for wall time.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Config, ConfigProvider, Effect, Exit, Layer } from "effect"
import type { HttpClientRequest } from "effect/http"
import { TestClock } from "effect/testing"
import { initForTest, newTestCacheWithPods, withMetricRefresh } from "../../layers/index.ts"
import { CacheWriter, DiscoveryEvent, MetricCache, MetricValue } from "../../src/index.ts"
import { MetricRefresh } from "../../src/metrics/MetricRefresh.ts"
import { defaultScrapeOptions, type PromQLOptions } from "../../src/metrics/MetricRefreshConfig.ts"
import { makePod } from "../support/fixtures.ts"
import {
  advance,
  enginePage,
  eventually,
  InFlight,
  MODEL,
  ok,
  pageOf,
  pod,
  quietTurns,
  recorder,
  refreshing,
  statistics
} from "../support/mockRefresh.ts"
import { type MockHandler, mockHttpLayer } from "../support/mockHttp.ts"

/** Every pod's first scrape: the schedules start spread over the first interval. */
const firstRound = advance(49)

/** Each pod's next scrape, an interval later. */
const nextRound = advance(50)

describe("engine pages", () => {
  it.effect("a page over the size limit is refused, declared or streamed, and not read past the limit", () => {
    let pulls = 0
    let cancelled = false
    const endless = () =>
      new ReadableStream<Uint8Array>({
        pull(controller) {
          pulls++
          controller.enqueue(new Uint8Array(256).fill(35))
        },
        cancel() {
          cancelled = true
        }
      })
    const handler: MockHandler = (url) => {
      switch (url.hostname) {
        case "10.0.0.1":
          return Effect.succeed({ body: "#".repeat(2000), headers: { "content-length": "2000" } })
        case "10.0.0.2":
          return Effect.succeed({ body: endless() })
        default:
          return ok(enginePage(2))
      }
    }
    return Effect.gen(function* () {
      yield* firstRound
      const { engine } = yield* statistics
      const outcome = (key: string) => engine.pods.find((p) => p.key === key)?.outcomes
      assert.isAtLeast(outcome("default/declared")?.too_large ?? 0, 1)
      assert.isAtLeast(outcome("default/streamed")?.too_large ?? 0, 1)
      assert.strictEqual(outcome("default/small")?.ok, 1)
      assert.isTrue(cancelled, "the endless body was cancelled")
      assert.isAtMost(pulls, 1000 / 256 + 3)
    }).pipe(
      Effect.provide(
        refreshing([pod("declared", "10.0.0.1"), pod("streamed", "10.0.0.2"), pod("small", "10.0.0.3")], handler, {
          maxPageBytes: 1000
        })
      )
    )
  })

  it.effect("a malformed page or a dying handler is counted and the last values stay", () => {
    let calls = 0
    const handler: MockHandler = (url) => {
      if (url.hostname === "10.0.0.2") return Effect.die(new Error("boom"))
      return calls++ === 0 ? ok(enginePage(5)) : ok('vllm:num_requests_running{model_name="m1" 3\n')
    }
    return Effect.gen(function* () {
      const metrics = yield* MetricCache
      yield* firstRound
      yield* nextRound
      const { engine } = yield* statistics
      const p1 = engine.pods.find((p) => p.key === "default/p1")!
      assert.isAtLeast(p1.outcomes.malformed, 1)
      assert.strictEqual(p1.outcomes.ok, 1)
      assert.isAtLeast(engine.pods.find((p) => p.key === "default/p2")?.outcomes.transport ?? 0, 2)
      assert.deepStrictEqual(
        yield* metrics.getMetricValueByPodModel("p1", "default", MODEL, "num_requests_running"),
        MetricValue.simple(5)
      )
    }).pipe(Effect.provide(refreshing([pod("p1", "10.0.0.1"), pod("p2", "10.0.0.2")], handler)))
  })

  it.effect("a page cut short (no final line break) is a truncated scrape; the last whole page's values stay", () => {
    let calls = 0
    const handler: MockHandler = () => {
      const page = enginePage(calls === 0 ? 5 : 9)
      return ok(calls++ === 0 ? page : page.slice(0, -1))
    }
    return Effect.gen(function* () {
      const metrics = yield* MetricCache
      yield* firstRound
      yield* nextRound
      const p1 = (yield* statistics).engine.pods.find((p) => p.key === "default/p1")!
      assert.isAtLeast(p1.outcomes.truncated, 1)
      assert.deepStrictEqual(
        yield* metrics.getMetricValueByPodModel("p1", "default", MODEL, "num_requests_running"),
        MetricValue.simple(5)
      )
    }).pipe(Effect.provide(refreshing([pod("p1", "10.0.0.1")], handler)))
  })

  it.effect("the engine label chooses the page's path and families; malformed families are counted", () => {
    const { record, requests } = recorder()
    const sglang = `# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="m1"} 4
sglang:num_running_reqs{model_name="m1"} 4
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{model_name="m1"} 2
`
    const trtllm = '# TYPE trtllm_kv_cache_utilization gauge\ntrtllm_kv_cache_utilization{model_name="undefined"} 0.5\n'
    const handler: MockHandler = (url) =>
      record(url).pipe(Effect.andThen(ok(url.hostname === "10.0.0.1" ? sglang : trtllm)))
    return Effect.gen(function* () {
      const metrics = yield* MetricCache
      yield* firstRound
      assert.deepStrictEqual(requests.map((r) => r.url).sort(), [
        "http://10.0.0.1:8000/metrics",
        "http://10.0.0.2:8000/prometheus/metrics"
      ])
      assert.deepStrictEqual(
        yield* metrics.getMetricValueByPodModel("sglang", "default", MODEL, "num_requests_waiting"),
        MetricValue.simple(2)
      )
      const running = yield* Effect.flip(
        metrics.getMetricValueByPodModel("sglang", "default", MODEL, "num_requests_running")
      )
      assert.strictEqual(running._tag, "MetricNotFound", "a series written twice gives no number")
      assert.strictEqual((yield* statistics).engine.malformedFamilies, 1)
      // trtllm-serve names its model "undefined": the value is the pod's base model's.
      assert.deepStrictEqual(
        yield* metrics.getMetricValueByPodModel("trtllm", "default", MODEL, "kv_cache_usage_perc"),
        MetricValue.simple(0.5)
      )
    }).pipe(
      Effect.provide(
        refreshing(
          [
            pod("sglang", "10.0.0.1", { labels: { "model.aibrix.ai/engine": "sglang" } }),
            pod("trtllm", "10.0.0.2", { labels: { "model.aibrix.ai/engine": "trtllm" } })
          ],
          handler
        )
      )
    )
  })

  it.effect("only ready pods are scraped", () => {
    const { record, requests } = recorder()
    return Effect.gen(function* () {
      yield* firstRound
      assert.deepStrictEqual(
        requests.map((r) => r.url),
        ["http://10.0.0.1:8000/metrics"]
      )
    }).pipe(
      Effect.provide(
        refreshing(
          [
            pod("ready", "10.0.0.1"),
            pod("unready", "10.0.0.2", { ready: false }),
            pod("deleting", "10.0.0.3", { deleting: true }),
            pod("no-ip", "")
          ],
          (url) => record(url).pipe(Effect.andThen(ok(enginePage(1))))
        )
      )
    )
  })

  it.effect("the metric-port label names the port; 8000 otherwise", () => {
    const { record, requests } = recorder()
    return Effect.gen(function* () {
      yield* firstRound
      assert.deepStrictEqual(requests.map((r) => r.url).sort(), [
        "http://10.0.0.1:9100/metrics",
        "http://10.0.0.2:8000/metrics",
        "http://10.0.0.3:8000/metrics"
      ])
    }).pipe(
      Effect.provide(
        refreshing(
          [
            pod("labelled", "10.0.0.1", { labels: { "model.aibrix.ai/metric-port": "9100" } }),
            pod("plain", "10.0.0.2"),
            pod("bad-label", "10.0.0.3", { labels: { "model.aibrix.ai/metric-port": "http" } })
          ],
          (url) => record(url).pipe(Effect.andThen(ok(enginePage(1))))
        )
      )
    )
  })

  it.effect("values are keyed by model_name; LoRA labels and histograms land where the spec says", () =>
    Effect.gen(function* () {
      const metrics = yield* MetricCache
      yield* firstRound
      assert.deepStrictEqual(
        yield* metrics.getMetricValueByPodModel("p1", "default", "base", "num_requests_running"),
        MetricValue.simple(4)
      )
      assert.deepStrictEqual(
        yield* metrics.getMetricValueByPodModel("p1", "default", "lora-a", "num_requests_running"),
        MetricValue.simple(2)
      )
      assert.deepStrictEqual(yield* metrics.getMetricValueByPod("p1", "default", "max_lora"), MetricValue.label("4"))
      assert.deepStrictEqual(
        yield* metrics.getMetricValueByPod("p1", "default", "running_lora_adapters"),
        MetricValue.label("lora-a")
      )
      const latency = yield* metrics.getMetricValueByPodModel("p1", "default", "base", "e2e_request_latency_seconds")
      assert.isTrue(MetricValue.isHistogram(latency))
      if (MetricValue.isHistogram(latency)) {
        assert.deepStrictEqual(
          [...latency.buckets],
          [
            [1, 3],
            [Infinity, 4]
          ]
        )
        assert.strictEqual(latency.mean, 5.5 / 4)
      }
      const podScope = yield* Effect.flip(metrics.getMetricValueByPod("p1", "default", "num_requests_running"))
      assert.strictEqual(podScope._tag, "MetricNotFound", "pod-model metrics are not pod metrics")
    }).pipe(Effect.provide(refreshing([pod("p1", "10.0.0.1")], () => ok(pageOf({ base: 4, "lora-a": 2 })))))
  )

  it.effect("subscribers that read no engine metric leave the engines unscraped", () => {
    const { record, requests } = recorder()
    return Effect.gen(function* () {
      const metrics = yield* MetricCache
      yield* firstRound
      assert.strictEqual(requests.length, 1)
      yield* metrics.addSubscriber({ subscribedMetrics: ["p95_ttft_5m", "realtime_num_requests_running"] })
      yield* nextRound
      yield* nextRound
      assert.strictEqual(requests.length, 1, "no scrape once nobody reads an engine metric")
      const running = metrics.getMetricValueByPodModel("p1", "default", MODEL, "num_requests_running")
      assert.strictEqual((yield* Effect.flip(running))._tag, "MetricNotFound", "nor the values nobody reads")
    }).pipe(
      Effect.provide(refreshing([pod("p1", "10.0.0.1")], (url) => record(url).pipe(Effect.andThen(ok(enginePage(1))))))
    )
  })

  it.effect("once someone subscribed, only the subscribed engine metrics are kept", () =>
    Effect.gen(function* () {
      const metrics = yield* MetricCache
      const waiting = metrics.getMetricValueByPodModel("p1", "default", MODEL, "num_requests_waiting")
      yield* firstRound
      assert.deepStrictEqual(yield* waiting, MetricValue.simple(1), "nobody subscribed: everything")
      yield* metrics.addSubscriber({ subscribedMetrics: ["num_requests_running", "max_lora", "p95_ttft_5m"] })
      yield* nextRound
      assert.strictEqual((yield* Effect.flip(waiting))._tag, "MetricNotFound")
      assert.deepStrictEqual(
        yield* metrics.getMetricValueByPodModel("p1", "default", MODEL, "num_requests_running"),
        MetricValue.simple(6)
      )
      assert.deepStrictEqual(yield* metrics.getMetricValueByPod("p1", "default", "max_lora"), MetricValue.label("4"))
      assert.strictEqual(
        (yield* Effect.flip(metrics.getMetricValueByPod("p1", "default", "running_lora_adapters")))._tag,
        "MetricNotFound"
      )
    }).pipe(Effect.provide(refreshing([pod("p1", "10.0.0.1")], () => ok(enginePage(6)))))
  )

  it.effect("follows the fleet: new pods are scraped, removed and unready ones are not", () => {
    const { record, requests } = recorder()
    return Effect.gen(function* () {
      const writer = yield* CacheWriter
      yield* firstRound
      const p2 = makePod({ name: "p2", ip: "10.0.0.2", model: MODEL })
      yield* writer.apply(DiscoveryEvent.PodAdded({ pod: p2 }))
      yield* nextRound
      assert.deepStrictEqual(
        requests
          .slice(1)
          .map((r) => r.url)
          .sort(),
        ["http://10.0.0.1:8000/metrics", "http://10.0.0.2:8000/metrics"]
      )
      yield* writer.apply(DiscoveryEvent.PodDeletedByKey({ key: "default/p1" }))
      yield* writer.apply(
        DiscoveryEvent.PodUpdated({
          oldPod: p2,
          newPod: makePod({ name: "p2", ip: "10.0.0.2", model: MODEL, ready: false })
        })
      )
      yield* nextRound
      // The fleet is followed once an interval: a pod that left may be scraped once more until then, never after.
      assert.deepStrictEqual(
        requests.filter((r) => r.at > 100),
        []
      )
      const { engine } = yield* statistics
      assert.deepStrictEqual(
        engine.pods.map((p) => [p.key, p.ready]),
        [["default/p2", false]]
      )
    }).pipe(
      Effect.provide(refreshing([pod("p1", "10.0.0.1")], (url) => record(url).pipe(Effect.andThen(ok(enginePage(1))))))
    )
  })
})

const promqlOptions: PromQLOptions = {
  prometheus: { endpoint: "http://prom:9090" },
  intervalMs: 5000,
  timeoutMs: 2000,
  concurrency: 4
}

const queryOf = (request: HttpClientRequest.HttpClientRequest): string =>
  request.body._tag === "Uint8Array"
    ? (new URLSearchParams(new TextDecoder().decode(request.body.body)).get("query") ?? "")
    : ""

describe("PromQL refresh", () => {
  it.effect("queries every catalogue metric per ready pod (and model) at its own interval", () => {
    const queries: Array<{ readonly query: string; readonly at: number }> = []
    const handler: MockHandler = (url, request) => {
      if (url.pathname === "/metrics") return ok(enginePage(1))
      const query = queryOf(request)
      return Clock.currentTimeMillis.pipe(
        Effect.map((at) => {
          queries.push({ query, at })
          if (query.startsWith("increase(vllm:request_success_total")) {
            return { status: 422, body: JSON.stringify({ status: "error", errorType: "execution", error: "no data" }) }
          }
          return {
            body: JSON.stringify({
              status: "success",
              data: { resultType: "vector", result: [{ metric: {}, value: [at / 1000, String(queries.length)] }] }
            })
          }
        })
      )
    }
    return Effect.gen(function* () {
      const metrics = yield* MetricCache
      yield* eventually((s) => (s.promql?.cycles ?? 0) >= 1)
      // 8 pod-scope metrics, and 3 pod-model ones for the base model of the one ready pod
      assert.strictEqual(queries.length, 11)
      assert.isTrue(queries.every((q) => q.query.includes(`instance="10.0.0.1:8000"`)))
      const p95 = yield* metrics.getMetricValueByPodModel("p1", "default", MODEL, "p95_ttft_5m")
      assert.isTrue(MetricValue.isPrometheus(p95))
      if (MetricValue.isPrometheus(p95)) assert.strictEqual(p95.result.resultType, "vector")
      const avg = yield* metrics.getMetricValueByPod("p1", "default", "avg_e2e_latency_pod")
      assert.isTrue(MetricValue.isPrometheus(avg))
      const refused = yield* Effect.flip(metrics.getMetricValueByPod("p1", "default", "avg_requests_per_min_pod"))
      assert.strictEqual(refused._tag, "MetricNotFound")
      assert.deepStrictEqual((yield* statistics).promql, {
        cycles: 1,
        lastCycleMs: 0,
        queries: 11,
        failures: 1,
        timeouts: 0
      })
      yield* TestClock.adjust(4999)
      yield* quietTurns
      assert.strictEqual(queries.length, 11)
      yield* TestClock.adjust(1)
      yield* eventually((s) => (s.promql?.cycles ?? 0) >= 2)
      assert.strictEqual(queries.length, 22)
      assert.isTrue(queries.slice(11).every((q) => q.at === 5000))
    }).pipe(
      Effect.provide(
        refreshing([pod("p1", "10.0.0.1"), pod("p2", "10.0.0.2", { ready: false })], handler, {}, promqlOptions)
      )
    )
  })

  it.effect("once someone subscribed, only the subscribed PromQL metrics are queried", () => {
    const queries: Array<string> = []
    const handler: MockHandler = (url, request) => {
      if (url.pathname === "/metrics") return ok(enginePage(1))
      queries.push(queryOf(request))
      return ok(JSON.stringify({ status: "success", data: { resultType: "scalar", result: [1, "1"] } }))
    }
    return Effect.gen(function* () {
      const metrics = yield* MetricCache
      yield* metrics.addSubscriber({
        subscribedMetrics: ["p95_ttft_5m", "avg_e2e_latency_pod", "gpu_cache_usage_perc"]
      })
      yield* eventually((s) => (s.promql?.cycles ?? 0) >= 1)
      queries.length = 0
      yield* TestClock.adjust(5000)
      yield* eventually((s) => (s.promql?.cycles ?? 0) >= 2)
      assert.strictEqual(queries.length, 2)
      assert.isTrue(queries.some((query) => query.startsWith("histogram_quantile(0.95")))
      assert.isTrue(queries.some((query) => query.startsWith("increase(vllm:e2e_request_latency_seconds_sum")))
    }).pipe(Effect.provide(refreshing([pod("p1", "10.0.0.1")], handler, {}, promqlOptions)))
  })

  it.effect("at most `concurrency` queries are in flight", () => {
    const queries = new InFlight(() =>
      ok(JSON.stringify({ status: "success", data: { resultType: "scalar", result: [1, "1"] } }))
    )
    const handler: MockHandler = (url, request) =>
      url.pathname === "/metrics" ? ok(enginePage(1)) : queries.handler(url, request)
    return Effect.gen(function* () {
      yield* eventually(() => queries.now === promqlOptions.concurrency)
      yield* quietTurns
      assert.strictEqual(queries.most, promqlOptions.concurrency)
      for (let step = 0; step < 6; step++) yield* TestClock.adjust(10)
      yield* eventually((s) => (s.promql?.cycles ?? 0) >= 1)
      assert.strictEqual(queries.most, promqlOptions.concurrency)
      assert.strictEqual((yield* statistics).promql?.queries, 22)
    }).pipe(Effect.provide(refreshing([pod("p1", "10.0.0.1"), pod("p2", "10.0.0.2")], handler, {}, promqlOptions)))
  })

  it.effect("a query that hangs times out; the cycle goes on", () => {
    const handler: MockHandler = (url, request) => {
      if (url.pathname === "/metrics") return ok(enginePage(1))
      if (queryOf(request).startsWith("histogram_quantile")) return Effect.never
      return ok(JSON.stringify({ status: "success", data: { resultType: "scalar", result: [1, "1"] } }))
    }
    return Effect.gen(function* () {
      const metrics = yield* MetricCache
      yield* eventually((s) => (s.promql?.queries ?? 0) >= 8)
      yield* TestClock.adjust(2000)
      yield* eventually((s) => (s.promql?.cycles ?? 0) >= 1)
      const promql = (yield* statistics).promql!
      assert.strictEqual(promql.timeouts, 3)
      assert.strictEqual(promql.failures, 3)
      assert.isTrue(MetricValue.isPrometheus(yield* metrics.getMetricValueByPod("p1", "default", "avg_ttft_5m_pod")))
    }).pipe(Effect.provide(refreshing([pod("p1", "10.0.0.1")], handler, {}, promqlOptions)))
  })
})

describe("withMetricRefresh", () => {
  it.effect("reads its settings from the environment; a bad value fails naming it", () =>
    Effect.gen(function* () {
      const built = yield* Effect.exit(
        Effect.scoped(Layer.build(withMetricRefresh(initForTest))).pipe(
          Effect.provideService(
            ConfigProvider.ConfigProvider,
            ConfigProvider.fromEnv({ env: { AIBRIX_POD_METRIC_REFRESH_INTERVAL_MS: "soon" } })
          )
        )
      )
      assert.isTrue(Exit.isFailure(built))
      assert.include(String(built), "AIBRIX_POD_METRIC_REFRESH_INTERVAL_MS")
      assert.include(String(built), `"soon"`)
      const statisticsOfDefault = yield* statistics.pipe(
        Effect.provide(withMetricRefresh(initForTest)),
        Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: {} }))
      )
      assert.isUndefined(statisticsOfDefault.promql)
    })
  )

  it.effect("MetricRefresh.layerConfig takes its settings as configs, layer as plain values", () =>
    Effect.gen(function* () {
      const scrape = { ...defaultScrapeOptions, intervalMs: 1_000 }
      const fromConfig = MetricRefresh.layerConfig({
        scrape: Config.succeed(scrape),
        promql: Config.succeed(undefined)
      })
      const fromValues = MetricRefresh.layer({ scrape, promql: undefined })
      const scraped: Array<ReadonlyArray<number>> = []
      for (const refresh of [fromConfig, fromValues]) {
        const requested = recorder()
        yield* advance(3_000, 10).pipe(
          Effect.provide(
            refresh.pipe(
              Layer.provide(mockHttpLayer((url) => requested.record(url).pipe(Effect.andThen(ok(enginePage(1)))))),
              Layer.provideMerge(newTestCacheWithPods([pod("p1", "10.0.0.1")], MODEL))
            )
          ),
          Effect.scoped
        )
        scraped.push(requested.requests.map((request) => request.at))
      }
      // Once a second, not every 50 ms: the settings of the configs as of the values.
      assert.isAtMost(scraped[0]!.length, 4)
      assert.isAtLeast(scraped[0]!.length, 2)
      assert.strictEqual(scraped[0]!.length, scraped[1]!.length)
    })
  )
})
