/**
 * A cache layer with its metric refresh running: the engine scrape loop, and
 * PromQL when Prometheus is configured, forked in the layer's scope.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { type Config, Effect, Layer } from "effect"
import type { HttpClient } from "effect/http"
import type { CacheStore } from "../cache/CacheStore.ts"
import { MetricRefresh } from "./MetricRefresh.ts"
import { metricRefreshConfig, type MetricRefreshOptions } from "./MetricRefreshConfig.ts"
import { registerRefreshFamilies } from "./RefreshMetrics.ts"

/**
 * The HTTP client of the refresh: undici, whose connections stay open between
 * scrapes (an engine is scraped every 50 ms).
 */
export const refreshHttpClient: Layer.Layer<HttpClient.HttpClient> = NodeHttpClient.layerUndiciOptions({
  keepAliveTimeout: 30_000
})

const withOptions = <ROut, E, RIn>(
  cacheLayer: Layer.Layer<ROut | CacheStore, E, RIn>,
  options: MetricRefreshOptions,
  httpClient: Layer.Layer<HttpClient.HttpClient>
): Layer.Layer<ROut | CacheStore | MetricRefresh, E, RIn> =>
  MetricRefresh.layer(options).pipe(
    Layer.provide(httpClient),
    Layer.provideMerge(cacheLayer),
    Layer.provide(Layer.effectDiscard(registerRefreshFamilies(options)))
  )

/**
 * The given cache layer with the refresh running in its scope; it also
 * provides `MetricRefresh`, the refresh's statistics. Settings from the
 * environment unless `options` are given; the HTTP client is undici unless
 * another is (a mock in tests). The refresh's families are in the registry
 * before `cacheLayer` is built (a source's initial sync may take a while), its
 * loops run once it is.
 */
export function withMetricRefresh<ROut, E, RIn>(
  cacheLayer: Layer.Layer<ROut | CacheStore, E, RIn>
): Layer.Layer<ROut | CacheStore | MetricRefresh, E | Config.ConfigError, RIn>
export function withMetricRefresh<ROut, E, RIn>(
  cacheLayer: Layer.Layer<ROut | CacheStore, E, RIn>,
  options: MetricRefreshOptions,
  httpClient?: Layer.Layer<HttpClient.HttpClient>
): Layer.Layer<ROut | CacheStore | MetricRefresh, E, RIn>
export function withMetricRefresh<ROut, E, RIn>(
  cacheLayer: Layer.Layer<ROut | CacheStore, E, RIn>,
  options?: MetricRefreshOptions,
  httpClient: Layer.Layer<HttpClient.HttpClient> = refreshHttpClient
): Layer.Layer<ROut | CacheStore | MetricRefresh, E | Config.ConfigError, RIn> {
  return options === undefined
    ? Layer.unwrap(Effect.map(metricRefreshConfig, (read) => withOptions(cacheLayer, read, httpClient)))
    : withOptions(cacheLayer, options, httpClient)
}
