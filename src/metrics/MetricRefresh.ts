/**
 * The metric refresh of a cache: the engine scrape loop and, when Prometheus
 * is configured, the PromQL loop, both forked in the layer's scope, their
 * statistics as a service, and their families in the metric registry (see
 * `RefreshMetrics`).
 */
import { Clock, Config, Context, Effect, Layer } from "effect"
import { HttpClient } from "effect/http"
import { CacheStore } from "../cache/CacheStore.ts"
import { EngineTransport } from "./EngineTransport.ts"
import { makeEngineRefresh } from "./internal/EngineRefresh.ts"
import type { MetricRefreshOptions } from "./MetricRefreshConfig.ts"
import { makePrometheusApi } from "./PrometheusApi.ts"
import { makePromQLRefresh } from "./internal/PromQLRefresh.ts"
import { observeRefresh, recorderIn, registerRefreshFamilies } from "./RefreshMetrics.ts"
import type { RefreshStatistics } from "./RefreshStatistics.ts"

/** The refresh over the store of `CacheStore`: its loops run in the layer's scope. */
const make = (options: MetricRefreshOptions) =>
  Effect.gen(function* () {
    const store = yield* CacheStore
    const client = yield* HttpClient.HttpClient
    yield* registerRefreshFamilies(options)
    const engine = makeEngineRefresh(
      store,
      yield* EngineTransport,
      options.scrape,
      recorderIn(yield* Effect.context<never>()),
      yield* Clock.Clock
    )
    const promql =
      options.promql === undefined
        ? undefined
        : makePromQLRefresh(store, makePrometheusApi(client, options.promql.prometheus), options.promql)
    yield* observeRefresh(engine.summary, promql?.statistics)
    yield* Effect.forkScoped(engine.run)
    if (promql !== undefined) yield* Effect.forkScoped(promql.run)
    return {
      statistics: Effect.sync(() => ({ engine: engine.statistics(), promql: promql?.statistics() }))
    }
  })

/**
 * The running refresh, as the service that reports on it. While nobody
 * subscribed, every metric of the catalogue is refreshed; once someone did
 * (`addSubscriber`), only the metrics subscribers named, engine and PromQL
 * alike. Its families are in the registry of the layer's context from the time
 * it is built.
 */
export class MetricRefresh extends Context.Service<
  MetricRefresh,
  {
    /** A snapshot of the loops' statistics. */
    readonly statistics: Effect.Effect<RefreshStatistics>
  }
>()("aibrix-cache/MetricRefresh") {
  /** The refresh over the store of `CacheStore` with these settings. */
  static readonly layer = (
    options: MetricRefreshOptions
  ): Layer.Layer<MetricRefresh, never, CacheStore | HttpClient.HttpClient | EngineTransport> =>
    Layer.effect(MetricRefresh, make(options))

  /**
   * The refresh with its settings from the configs;
   * `MetricRefresh.layerConfig(metricRefreshConfig)` reads the environment.
   */
  static readonly layerConfig = (
    options: Config.Wrap<MetricRefreshOptions>
  ): Layer.Layer<MetricRefresh, Config.ConfigError, CacheStore | HttpClient.HttpClient | EngineTransport> =>
    Layer.unwrap(Effect.map(Config.unwrap(options), MetricRefresh.layer))
}
