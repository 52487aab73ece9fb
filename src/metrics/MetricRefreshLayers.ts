/**
 * A cache layer with its metric refresh running: the engine scrape loop, and
 * PromQL when Prometheus is configured, forked in the layer's scope.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { type Config, Effect, Layer } from "effect"
import type { HttpClient } from "effect/http"
import type { CacheStore } from "../cache/CacheStore.ts"
import * as MetricRefresh from "./MetricRefresh.ts"
import { metricRefreshConfig, type MetricRefreshOptions } from "./MetricRefreshConfig.ts"
import { registerRefreshFamilies } from "./RefreshMetrics.ts"

/**
 * The HTTP client of the refresh: undici, whose connections stay open between
 * scrapes (an engine is scraped every 50 ms).
 */
export const refreshHttpClient: Layer.Layer<HttpClient.HttpClient> = NodeHttpClient.layerUndiciOptions({
  keepAliveTimeout: 30_000
})

/**
 * The given cache layer with the refresh running in its scope, settings from
 * the environment; it also provides `MetricRefresh`, the refresh statistics.
 */
export const withMetricRefresh = <ROut, E, RIn>(
  cacheLayer: Layer.Layer<ROut | CacheStore, E, RIn>
): Layer.Layer<ROut | CacheStore | MetricRefresh.MetricRefresh, E | Config.ConfigError, RIn> =>
  Layer.unwrap(Effect.map(metricRefreshConfig, (options) => withMetricRefreshOptions(cacheLayer, options)))

/**
 * As `withMetricRefresh`, with explicit settings and, optionally, another HTTP
 * client. The refresh's families are in the registry before `cacheLayer` is
 * built (a source's initial sync may take a while), its loops run once it is.
 */
export const withMetricRefreshOptions = <ROut, E, RIn>(
  cacheLayer: Layer.Layer<ROut | CacheStore, E, RIn>,
  options: MetricRefreshOptions,
  httpClient: Layer.Layer<HttpClient.HttpClient> = refreshHttpClient
): Layer.Layer<ROut | CacheStore | MetricRefresh.MetricRefresh, E, RIn> =>
  MetricRefresh.layer(options).pipe(
    Layer.provide(httpClient),
    Layer.provideMerge(cacheLayer),
    Layer.provide(Layer.effectDiscard(registerRefreshFamilies(options)))
  )
