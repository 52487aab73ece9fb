/**
 * The refresh loops against a mock HTTP layer, on the TestClock. Scrapes that
 * answer at once still resolve their bodies on the event loop, so the tests
 * wait for a loop's statistics to show a cycle done, never for wall time.
 */
import type { V1Pod } from "@kubernetes/client-node"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Config, ConfigProvider, Effect, Exit, Layer, Metric } from "effect"
import type { HttpClientRequest } from "effect/http"
import { TestClock } from "effect/testing"
import { initForTest, newTestCacheWithPods, withMetricRefresh } from "../../layers/index.ts"
import { CacheWriter, DiscoveryEvent, MetricCache, MetricValue } from "../../src/index.ts"
import { CacheStore } from "../../src/cache/CacheStore.ts"
import { MetricRefresh } from "../../src/metrics/MetricRefresh.ts"
import { defaultScrapeOptions, type PromQLOptions, type ScrapeOptions } from "../../src/metrics/MetricRefreshConfig.ts"
import { cycleDuration, scrapeDuration, scrapes } from "../../src/metrics/RefreshMetrics.ts"
import type { RefreshStatistics } from "../../src/metrics/RefreshStatistics.ts"
import { makePod } from "../support/fixtures.ts"
import { withFreshRegistry } from "../support/metricRegistry.ts"
import { type MockHandler, type MockResponse, mockHttpLayer } from "../support/mockHttp.ts"

const MODEL = "m1"

/** A page of the engine serving these models, with this many requests running on each. */
const pageOf = (running: Readonly<Record<string, number>>): string => {
  const models = Object.keys(running)
  const perModel = (line: (model: string) => string) => models.map((model) => `${line(model)}\n`).join("")
  return `# HELP vllm:num_requests_running Number of requests currently running on GPU.
# TYPE vllm:num_requests_running gauge
${perModel((model) => `vllm:num_requests_running{model_name="${model}"} ${running[model]}`)}\
# TYPE vllm:num_requests_waiting gauge
${perModel((model) => `vllm:num_requests_waiting{model_name="${model}"} 1`)}\
# TYPE vllm:lora_requests_info gauge
vllm:lora_requests_info{max_lora="4",running_lora_adapters="lora-a",waiting_lora_adapters=""} 1.7e9
# TYPE vllm:e2e_request_latency_seconds histogram
${perModel(
  (model) =>
    `vllm:e2e_request_latency_seconds_bucket{le="1.0",model_name="${model}"} 3
vllm:e2e_request_latency_seconds_bucket{le="+Inf",model_name="${model}"} 4
vllm:e2e_request_latency_seconds_sum{model_name="${model}"} 5.5
vllm:e2e_request_latency_seconds_count{model_name="${model}"} 4`
)}`
}

const enginePage = (running: number, model = MODEL): string => pageOf({ [model]: running })

const ok = (body: string): Effect.Effect<MockResponse> => Effect.succeed({ body })

const pod = (name: string, ip: string, extra: Partial<Parameters<typeof makePod>[0]> = {}): V1Pod =>
  makePod({ name, ip, ...extra })

/** A cache holding these pods, its refresh running against the handler. */
const refreshing = (
  pods: ReadonlyArray<V1Pod>,
  handler: MockHandler,
  scrape: Partial<ScrapeOptions> = {},
  promql?: PromQLOptions
) =>
  withMetricRefresh(
    newTestCacheWithPods(pods, MODEL),
    { scrape: { ...defaultScrapeOptions, ...scrape }, promql },
    mockHttpLayer(handler)
  )

const statistics = MetricRefresh.use((refresh) => refresh.statistics)

/** Turns of the event loop until the statistics pass the check; fails after many. */
const eventually = (check: (statistics: RefreshStatistics) => boolean) =>
  Effect.gen(function* () {
    for (let turn = 0; turn < 500; turn++) {
      if (check(yield* statistics)) return
      yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
    }
    assert.fail(`never held: ${JSON.stringify(yield* statistics)}`)
  })

const cyclesDone = (n: number) => eventually((s) => s.engine.cycles >= n)

/** Lets pending work run without the check changing, to show that nothing happens. */
const quietTurns = Effect.gen(function* () {
  for (let turn = 0; turn < 20; turn++) {
    yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
  }
})

/** Records each request's URL and virtual time. */
const recorder = () => {
  const requests: Array<{ readonly url: string; readonly at: number }> = []
  const record = (url: URL): Effect.Effect<void> =>
    Clock.currentTimeMillis.pipe(Effect.map((at) => void requests.push({ url: url.href, at })))
  return { requests, record }
}

/** A handler that answers after 10 ms (TestClock), counting the requests in flight now and at most. */
class InFlight {
  now = 0
  most = 0
  readonly #answer: () => Effect.Effect<MockResponse>

  constructor(answer: () => Effect.Effect<MockResponse>) {
    this.#answer = answer
  }

  readonly handler: MockHandler = () =>
    Effect.sync(() => {
      this.now++
      this.most = Math.max(this.most, this.now)
    }).pipe(
      Effect.andThen(Effect.sleep(10)),
      Effect.andThen(this.#answer()),
      Effect.ensuring(Effect.sync(() => this.now--))
    )
}

/** Answers one page, then 503 for ever. */
const failingAfterFirst = (): MockHandler => {
  let calls = 0
  return () => (calls++ === 0 ? ok(enginePage(1)) : Effect.succeed({ status: 503, body: "" }))
}

describe("engine refresh", () => {
  it.effect("scrapes at once, then once per interval", () => {
    const { record, requests } = recorder()
    return Effect.gen(function* () {
      yield* cyclesDone(1)
      assert.deepStrictEqual(
        requests.map((r) => r.at),
        [0]
      )
      yield* TestClock.adjust(50)
      yield* cyclesDone(2)
      yield* TestClock.adjust(49)
      yield* quietTurns
      assert.deepStrictEqual(
        requests.map((r) => r.at),
        [0, 50]
      )
      yield* TestClock.adjust(1)
      yield* cyclesDone(3)
      assert.deepStrictEqual(
        requests.map((r) => r.at),
        [0, 50, 100]
      )
    }).pipe(
      Effect.provide(refreshing([pod("p1", "10.0.0.1")], (url) => record(url).pipe(Effect.andThen(ok(enginePage(1))))))
    )
  })

  it.effect("cycles never overlap: a slow cycle delays the next one", () => {
    const { record, requests } = recorder()
    const handler: MockHandler = (url) =>
      record(url).pipe(
        Effect.andThen(Effect.suspend(() => (requests.length === 1 ? Effect.sleep(120) : Effect.void))),
        Effect.andThen(ok(enginePage(1)))
      )
    return Effect.gen(function* () {
      yield* TestClock.adjust(50)
      yield* quietTurns
      assert.strictEqual(requests.length, 1, "the first cycle is still running at 50 ms")
      yield* TestClock.adjust(70)
      yield* cyclesDone(2)
      assert.deepStrictEqual(
        requests.map((r) => r.at),
        [0, 120]
      )
      yield* TestClock.adjust(50)
      yield* cyclesDone(3)
      assert.deepStrictEqual(
        requests.map((r) => r.at),
        [0, 120, 170]
      )
    }).pipe(Effect.provide(refreshing([pod("p1", "10.0.0.1")], handler)))
  })

  it.effect("a hung engine times out without holding back the others", () => {
    const { record, requests } = recorder()
    const handler: MockHandler = (url) =>
      record(url).pipe(Effect.andThen(url.hostname === "10.0.0.2" ? Effect.never : ok(enginePage(7))))
    return Effect.gen(function* () {
      const metrics = yield* MetricCache
      yield* eventually((s) => s.engine.outcomes.ok === 1)
      assert.deepStrictEqual(
        yield* metrics.getMetricValueByPodModel("fast", "default", MODEL, "num_requests_running"),
        MetricValue.simple(7)
      )
      yield* TestClock.adjust(199)
      yield* quietTurns
      assert.strictEqual((yield* statistics).engine.outcomes.timeout, 0)
      assert.strictEqual(requests.length, 2)
      yield* TestClock.adjust(1)
      yield* cyclesDone(1)
      const { engine } = yield* statistics
      assert.strictEqual(engine.outcomes.timeout, 1)
      assert.strictEqual(engine.pods.find((p) => p.key === "default/hung")?.outcomes.timeout, 1)
      // Each scrape's duration is counted: the fast ones (the next cycle's may be
      // done too) at once, the hung one at its timeout.
      const scrapeSeconds = yield* Metric.value(scrapeDuration)
      const bucket = (bound: number) => scrapeSeconds.buckets.find(([le]) => le === bound)?.[1] ?? 0
      const fast = scrapeSeconds.count - 1
      assert.isAtLeast(fast, 1)
      assert.strictEqual(bucket(0.001), fast)
      assert.strictEqual(bucket(0.25) - bucket(0.1), 1)
      assert.closeTo(scrapeSeconds.sum, 0.2, 1e-9)
      const cycles = yield* Metric.value(cycleDuration)
      assert.strictEqual(cycles.count, 1)
      assert.closeTo(cycles.sum, 0.2, 1e-9)
      // The registry observes the loop's own counts.
      assert.strictEqual((yield* Metric.value(scrapes.timeout)).count, 1)
      assert.strictEqual((yield* Metric.value(scrapes.ok)).count, engine.outcomes.ok)
      // The next cycle starts at once, as the first one took longer than the interval.
      yield* eventually(() => requests.length === 4)
      assert.deepStrictEqual(
        requests.map((r) => r.at),
        [0, 0, 200, 200]
      )
    }).pipe(
      Effect.provide(refreshing([pod("fast", "10.0.0.1"), pod("hung", "10.0.0.2")], handler, { timeoutMs: 200 })),
      // The histograms of this refresh alone.
      withFreshRegistry
    )
  })

  it.effect("at most `concurrency` scrapes are in flight; the rest wait for a free slot", () => {
    const requests = new InFlight(() => ok(enginePage(1)))
    const pods = Array.from({ length: 100 }, (_, i) => pod(`p${i}`, `10.0.${i >> 8}.${i & 255}`))
    return Effect.gen(function* () {
      yield* eventually(() => requests.now === 64)
      yield* quietTurns
      assert.strictEqual(requests.most, 64)
      yield* TestClock.adjust(10)
      yield* eventually(() => requests.now === 36)
      yield* TestClock.adjust(10)
      yield* cyclesDone(1)
      assert.strictEqual(requests.most, 64)
      assert.strictEqual((yield* statistics).engine.outcomes.ok, 100)
    }).pipe(Effect.provide(refreshing(pods, requests.handler)))
  })

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
      yield* cyclesDone(1)
      const { engine } = yield* statistics
      const outcome = (key: string) => engine.pods.find((p) => p.key === key)?.outcomes
      assert.strictEqual(outcome("default/declared")?.too_large, 1)
      assert.strictEqual(outcome("default/streamed")?.too_large, 1)
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

  it.effect("a failing pod keeps its values, stale after 3 missed cycles, removed after 10, back on success", () => {
    let failing = false
    const handler: MockHandler = () => (failing ? Effect.succeed({ status: 500, body: "oops" }) : ok(enginePage(3)))
    return Effect.gen(function* () {
      const metrics = yield* MetricCache
      const store = yield* CacheStore
      const entry = store.podEntry("default", "p1")!
      const running = metrics.getMetricValueByPodModel("p1", "default", MODEL, "num_requests_running")
      yield* cyclesDone(1)
      assert.deepStrictEqual(yield* running, MetricValue.simple(3))
      failing = true
      for (let cycle = 2; cycle <= 3; cycle++) {
        yield* TestClock.adjust(50)
        yield* cyclesDone(cycle)
      }
      assert.isFalse(entry.engineMetricsStale, "two missed cycles")
      yield* TestClock.adjust(50)
      yield* cyclesDone(4)
      assert.isTrue(entry.engineMetricsStale, "three missed cycles")
      assert.deepStrictEqual(yield* running, MetricValue.simple(3), "stale values are still read")
      assert.strictEqual((yield* statistics).engine.stalePods, 1)
      for (let cycle = 5; cycle <= 10; cycle++) {
        yield* TestClock.adjust(50)
        yield* cyclesDone(cycle)
      }
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(running)), "nine missed cycles")
      yield* TestClock.adjust(50)
      yield* cyclesDone(11)
      const missing = yield* Effect.flip(running)
      assert.strictEqual(missing._tag, "MetricNotFound")
      assert.strictEqual(
        (yield* Effect.flip(metrics.getMetricValueByPod("p1", "default", "max_lora")))._tag,
        "MetricNotFound"
      )
      const { engine } = yield* statistics
      assert.strictEqual(engine.droppedPods, 1)
      assert.strictEqual(engine.outcomes.status, 10)
      failing = false
      yield* TestClock.adjust(50)
      yield* cyclesDone(12)
      assert.deepStrictEqual(yield* running, MetricValue.simple(3))
      assert.isFalse(entry.engineMetricsStale)
      assert.strictEqual((yield* statistics).engine.droppedPods, 0)
    }).pipe(Effect.provide(refreshing([pod("p1", "10.0.0.1")], handler)))
  })

  it.effect("stale and drop thresholds are configurable", () =>
    Effect.gen(function* () {
      const store = yield* CacheStore
      const entry = store.podEntry("default", "p1")!
      yield* cyclesDone(1)
      assert.isTrue(entry.engineMetrics !== undefined)
      yield* TestClock.adjust(50)
      yield* cyclesDone(2)
      assert.isTrue(entry.engineMetricsStale)
      yield* TestClock.adjust(50)
      yield* cyclesDone(3)
      assert.isUndefined(entry.engineMetrics)
    }).pipe(
      Effect.provide(
        refreshing([pod("p1", "10.0.0.1")], failingAfterFirst(), { staleAfterCycles: 1, dropAfterCycles: 2 })
      )
    )
  )

  it.effect("a malformed page or a dying handler is counted and the last values stay", () => {
    let calls = 0
    const handler: MockHandler = (url) => {
      if (url.hostname === "10.0.0.2") return Effect.die(new Error("boom"))
      return calls++ === 0 ? ok(enginePage(5)) : ok('vllm:num_requests_running{model_name="m1" 3\n')
    }
    return Effect.gen(function* () {
      const metrics = yield* MetricCache
      yield* cyclesDone(1)
      yield* TestClock.adjust(50)
      yield* cyclesDone(2)
      const { engine } = yield* statistics
      const p1 = engine.pods.find((p) => p.key === "default/p1")!
      assert.strictEqual(p1.outcomes.malformed, 1)
      assert.strictEqual(p1.outcomes.ok, 1)
      assert.strictEqual(engine.pods.find((p) => p.key === "default/p2")?.outcomes.transport, 2)
      assert.deepStrictEqual(
        yield* metrics.getMetricValueByPodModel("p1", "default", MODEL, "num_requests_running"),
        MetricValue.simple(5)
      )
      yield* TestClock.adjust(50)
      yield* cyclesDone(3)
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
      yield* cyclesDone(1)
      yield* TestClock.adjust(50)
      yield* cyclesDone(2)
      const p1 = (yield* statistics).engine.pods.find((p) => p.key === "default/p1")!
      assert.strictEqual(p1.outcomes.truncated, 1)
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
      yield* cyclesDone(1)
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
      yield* cyclesDone(1)
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
      yield* cyclesDone(1)
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
      yield* cyclesDone(1)
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
      yield* cyclesDone(1)
      assert.strictEqual(requests.length, 1)
      yield* metrics.addSubscriber({ subscribedMetrics: ["p95_ttft_5m", "realtime_num_requests_running"] })
      yield* TestClock.adjust(50)
      yield* cyclesDone(2)
      yield* TestClock.adjust(50)
      yield* cyclesDone(3)
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
      yield* cyclesDone(1)
      assert.deepStrictEqual(yield* waiting, MetricValue.simple(1), "nobody subscribed: everything")
      yield* metrics.addSubscriber({ subscribedMetrics: ["num_requests_running", "max_lora", "p95_ttft_5m"] })
      yield* TestClock.adjust(50)
      yield* cyclesDone(2)
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
      yield* cyclesDone(1)
      const p2 = makePod({ name: "p2", ip: "10.0.0.2", model: MODEL })
      yield* writer.apply(DiscoveryEvent.PodAdded({ pod: p2 }))
      yield* TestClock.adjust(50)
      yield* cyclesDone(2)
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
      yield* TestClock.adjust(50)
      yield* cyclesDone(3)
      assert.strictEqual(requests.length, 3)
      const { engine } = yield* statistics
      assert.deepStrictEqual(
        engine.pods.map((p) => [p.key, p.ready]),
        [["default/p2", false]]
      )
    }).pipe(
      Effect.provide(refreshing([pod("p1", "10.0.0.1")], (url) => record(url).pipe(Effect.andThen(ok(enginePage(1))))))
    )
  })

  it.effect("the fiber stops with the layer's scope", () => {
    const { record, requests } = recorder()
    return Effect.gen(function* () {
      yield* Effect.scoped(
        Effect.gen(function* () {
          const context = yield* Layer.build(
            refreshing([pod("p1", "10.0.0.1")], (url) => record(url).pipe(Effect.andThen(ok(enginePage(1)))))
          )
          yield* cyclesDone(1).pipe(Effect.provideContext(context))
        })
      )
      yield* TestClock.adjust(500)
      yield* quietTurns
      assert.strictEqual(requests.length, 1)
    })
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
      for (const refresh of [fromConfig, fromValues]) {
        const requested = recorder()
        yield* Effect.gen(function* () {
          yield* cyclesDone(1)
          yield* TestClock.adjust(999)
          yield* quietTurns
          assert.strictEqual(requested.requests.length, 1)
        }).pipe(
          Effect.provide(
            refresh.pipe(
              Layer.provide(mockHttpLayer((url) => requested.record(url).pipe(Effect.andThen(ok(enginePage(1)))))),
              Layer.provideMerge(newTestCacheWithPods([pod("p1", "10.0.0.1")], MODEL))
            )
          )
        )
      }
    })
  )
})
