import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Redacted } from "effect"
import { defaultScrapeOptions, metricRefreshConfig } from "../../src/metrics/MetricRefreshConfig.ts"

const read = (env: Record<string, string>) => metricRefreshConfig.parse(ConfigProvider.fromEnv({ env }))

describe("metric refresh configuration", () => {
  it.effect(
    "defaults: 50 ms, 1 s timeout, 8 MiB, stale after 500 ms, dropped after 10 s, backoff up to 5 s, no PromQL",
    () =>
      Effect.gen(function* () {
        const options = yield* read({})
        assert.deepStrictEqual(options.scrape, defaultScrapeOptions)
        assert.deepStrictEqual(options.scrape, {
          intervalMs: 50,
          timeoutMs: 1000,
          maxPageBytes: 8388608,
          staleAfterMs: 500,
          dropAfterMs: 10_000,
          backoffCapMs: 5_000,
          concurrency: 64
        })
        assert.isUndefined(options.promql)
      })
  )

  it.effect("reads every variable", () =>
    Effect.gen(function* () {
      const options = yield* read({
        AIBRIX_POD_METRIC_REFRESH_INTERVAL_MS: "20",
        AIBRIX_POD_METRIC_SCRAPE_TIMEOUT_MS: "300",
        AIBRIX_POD_METRIC_MAX_PAGE_BYTES: "1024",
        AIBRIX_POD_METRIC_STALE_AFTER_MS: "200",
        AIBRIX_POD_METRIC_DROP_AFTER_MS: "3000",
        AIBRIX_POD_METRIC_BACKOFF_CAP_MS: "2000",
        AIBRIX_POD_METRIC_SCRAPE_CONCURRENCY: "8",
        PROMETHEUS_ENDPOINT: "http://prometheus:9090",
        PROMETHEUS_BASIC_AUTH_USERNAME: "reader",
        PROMETHEUS_BASIC_AUTH_PASSWORD: "s3cret",
        AIBRIX_PROMQL_REFRESH_INTERVAL_MS: "1000",
        AIBRIX_PROMQL_TIMEOUT_MS: "700",
        AIBRIX_PROMQL_CONCURRENCY: "3"
      })
      assert.deepStrictEqual(options.scrape, {
        intervalMs: 20,
        timeoutMs: 300,
        maxPageBytes: 1024,
        staleAfterMs: 200,
        dropAfterMs: 3000,
        backoffCapMs: 2000,
        concurrency: 8
      })
      const promql = options.promql!
      assert.strictEqual(promql.prometheus.endpoint, "http://prometheus:9090")
      assert.strictEqual(promql.prometheus.username, "reader")
      assert.strictEqual(Redacted.value(promql.prometheus.password!), "s3cret")
      assert.notInclude(String(promql.prometheus.password), "s3cret")
      assert.deepStrictEqual([promql.intervalMs, promql.timeoutMs, promql.concurrency], [1000, 700, 3])
    })
  )

  it.effect("PromQL defaults to every 5 s when Prometheus is set; an empty endpoint is unset", () =>
    Effect.gen(function* () {
      const options = yield* read({ PROMETHEUS_ENDPOINT: "https://prom.example" })
      assert.strictEqual(options.promql?.intervalMs, 5000)
      assert.isUndefined(options.promql?.prometheus.username)
      assert.isUndefined(options.promql?.prometheus.password)
      assert.isUndefined((yield* read({ PROMETHEUS_ENDPOINT: "" })).promql)
    })
  )

  it.effect.each<readonly [string, string]>([
    ["AIBRIX_POD_METRIC_REFRESH_INTERVAL_MS", "fast"],
    ["AIBRIX_POD_METRIC_REFRESH_INTERVAL_MS", "0"],
    ["AIBRIX_POD_METRIC_SCRAPE_TIMEOUT_MS", "-1"],
    ["AIBRIX_POD_METRIC_MAX_PAGE_BYTES", "1.5"],
    ["AIBRIX_POD_METRIC_STALE_AFTER_MS", "soon"],
    ["AIBRIX_POD_METRIC_DROP_AFTER_CYCLES", "0"],
    ["AIBRIX_PROMQL_REFRESH_INTERVAL_MS", "5s"],
    ["PROMETHEUS_ENDPOINT", "prometheus:9090"]
  ])("a bad %s names the variable and the value", ([name, value]) =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(read({ [name]: value }))
      assert.include(error.message, name)
      assert.include(error.message, JSON.stringify(value))
    })
  )

  it.effect("the cycle settings still count, as multiples of the interval; the millisecond ones win", () =>
    Effect.gen(function* () {
      const cycles = yield* read({
        AIBRIX_POD_METRIC_REFRESH_INTERVAL_MS: "20",
        AIBRIX_POD_METRIC_STALE_AFTER_CYCLES: "3",
        AIBRIX_POD_METRIC_DROP_AFTER_CYCLES: "10"
      })
      assert.deepStrictEqual([cycles.scrape.staleAfterMs, cycles.scrape.dropAfterMs], [60, 200])
      const both = yield* read({ AIBRIX_POD_METRIC_STALE_AFTER_CYCLES: "3", AIBRIX_POD_METRIC_STALE_AFTER_MS: "700" })
      assert.strictEqual(both.scrape.staleAfterMs, 700)
    })
  )

  it.effect("dropping before marking stale is refused", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        read({
          AIBRIX_POD_METRIC_STALE_AFTER_MS: "5000",
          AIBRIX_POD_METRIC_DROP_AFTER_MS: "2000"
        })
      )
      assert.include(error.message, "the drop horizon (2000 ms, AIBRIX_POD_METRIC_DROP_AFTER_MS)")
    })
  )
})
