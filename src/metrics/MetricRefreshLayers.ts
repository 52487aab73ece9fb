/**
 * A cache layer with its metric refresh running: the engine scrape loop, and
 * PromQL when Prometheus is configured, forked in the layer's scope.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { type Config, Effect, Layer } from "effect"
import type { HttpClient } from "effect/http"
import type { CacheStore } from "../cache/CacheStore.ts"
import * as EngineTransport from "./EngineTransport.ts"
import * as MetricRefresh from "./MetricRefresh.ts"
import { metricRefreshConfig, type MetricRefreshOptions } from "./MetricRefreshConfig.ts"
import { registerRefreshFamilies } from "./RefreshMetrics.ts"

/** The HTTP client of the refresh's PromQL queries: undici, keeping its connections open. */
export const refreshHttpClient: Layer.Layer<HttpClient.HttpClient> = NodeHttpClient.layerUndiciOptions({
  keepAliveTimeout: 30_000
})

/** What the refresh talks through: the engine transport (an undici `Client` per engine) and the PromQL client. */
export const refreshClients: Layer.Layer<HttpClient.HttpClient | EngineTransport.EngineTransport> = Layer.merge(
  refreshHttpClient,
  EngineTransport.layer
)

/**
 * The given cache layer with the refresh running in its scope, settings from
 * the environment; it also provides `MetricRefresh`, the refresh statistics.
 */
export const withMetricRefresh = <ROut, E, RIn>(
  cacheLayer: Layer.Layer<ROut | CacheStore, E, RIn>
): Layer.Layer<ROut | CacheStore | MetricRefresh.MetricRefresh, E | Config.ConfigError, RIn> =>
  Layer.unwrap(Effect.map(metricRefreshConfig, (options) => withMetricRefreshOptions(cacheLayer, options)))

/**
 * As `withMetricRefresh`, with explicit settings and, optionally, other
 * clients (a test's engines and Prometheus). The refresh's families are in the registry before `cacheLayer` is
 * built (a source's initial sync may take a while), its loops run once it is.
 */
export const withMetricRefreshOptions = <ROut, E, RIn>(
  cacheLayer: Layer.Layer<ROut | CacheStore, E, RIn>,
  options: MetricRefreshOptions,
  clients: Layer.Layer<HttpClient.HttpClient | EngineTransport.EngineTransport> = refreshClients
): Layer.Layer<ROut | CacheStore | MetricRefresh.MetricRefresh, E, RIn> =>
  MetricRefresh.layer(options).pipe(
    Layer.provide(clients),
    Layer.provideMerge(cacheLayer),
    Layer.provide(Layer.effectDiscard(registerRefreshFamilies(options)))
  )
