/**
 * A cache layer with its metric refresh running: the engine scrape loop, and
 * PromQL when Prometheus is configured, forked in the layer's scope.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { type Config, Effect, Layer } from "effect"
import type { HttpClient } from "effect/http"
import type { CacheStore } from "../cache/CacheStore.ts"
import { EngineTransport } from "./EngineTransport.ts"
import { MetricRefresh } from "./MetricRefresh.ts"
import { metricRefreshConfig, type MetricRefreshOptions } from "./MetricRefreshConfig.ts"
import { registerRefreshFamilies } from "./RefreshMetrics.ts"

/** The HTTP client of the PromQL queries: undici, whose connections stay open between queries. */
export const refreshHttpClient: Layer.Layer<HttpClient.HttpClient> = NodeHttpClient.layerUndiciOptions({
  keepAliveTimeout: 30_000
})

/** What the refresh talks through: the engine transport (an undici `Client` per engine) and the PromQL client. */
export const refreshClients: Layer.Layer<HttpClient.HttpClient | EngineTransport> = Layer.merge(
  refreshHttpClient,
  EngineTransport.layer
)

const withOptions = <ROut, E, RIn>(
  cacheLayer: Layer.Layer<ROut | CacheStore, E, RIn>,
  options: MetricRefreshOptions,
  clients: Layer.Layer<HttpClient.HttpClient | EngineTransport>
): Layer.Layer<ROut | CacheStore | MetricRefresh, E, RIn> =>
  MetricRefresh.layer(options).pipe(
    Layer.provide(clients),
    Layer.provideMerge(cacheLayer),
    Layer.provide(Layer.effectDiscard(registerRefreshFamilies(options)))
  )

/**
 * The given cache layer with the refresh running in its scope; it also
 * provides `MetricRefresh`, the refresh's statistics. Settings from the
 * environment unless `options` are given; the clients (engine transport and
 * PromQL's HTTP client) are undici's unless others are (mocks in tests). The refresh's families are in the registry
 * before `cacheLayer` is built (a source's initial sync may take a while), its
 * loops run once it is.
 */
export function withMetricRefresh<ROut, E, RIn>(
  cacheLayer: Layer.Layer<ROut | CacheStore, E, RIn>
): Layer.Layer<ROut | CacheStore | MetricRefresh, E | Config.ConfigError, RIn>
export function withMetricRefresh<ROut, E, RIn>(
  cacheLayer: Layer.Layer<ROut | CacheStore, E, RIn>,
  options: MetricRefreshOptions,
  clients?: Layer.Layer<HttpClient.HttpClient | EngineTransport>
): Layer.Layer<ROut | CacheStore | MetricRefresh, E, RIn>
export function withMetricRefresh<ROut, E, RIn>(
  cacheLayer: Layer.Layer<ROut | CacheStore, E, RIn>,
  options?: MetricRefreshOptions,
  clients: Layer.Layer<HttpClient.HttpClient | EngineTransport> = refreshClients
): Layer.Layer<ROut | CacheStore | MetricRefresh, E | Config.ConfigError, RIn> {
  return options === undefined
    ? Layer.unwrap(Effect.map(metricRefreshConfig, (read) => withOptions(cacheLayer, read, clients)))
    : withOptions(cacheLayer, options, clients)
}
