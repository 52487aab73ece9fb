/**
 * aibrix-cache: a live in-memory view of an LLM serving fleet for a gateway.
 * What an app composes: the services and their errors, the values they hand
 * out, the writer and events that feed them, and the settings of the live
 * pieces. Ready-made layers are in `aibrix-cache/layers`.
 */

// ---- the services -----------------------------------------------------------
export { Cache, type CacheService, type CacheServices } from "./cache/Cache.ts"
export { PodCache } from "./cache/PodCache.ts"
export { ModelCache } from "./cache/ModelCache.ts"
export { MetricCache, type MetricSubscriber } from "./cache/MetricCache.ts"
export { type MaybeRoutingContext, RequestTracker } from "./cache/RequestTracker.ts"
export { CacheReadiness } from "./cache/CacheReadiness.ts"

// ---- feeding the store ------------------------------------------------------
export { CacheWriter } from "./cache/CacheWriter.ts"
export { DiscoveryEvent } from "./store/DiscoveryEvent.ts"

// ---- values -----------------------------------------------------------------
export {
  Histogram,
  type HistogramBuckets,
  type HistogramBucketsInput,
  Label,
  MetricValue,
  Prometheus,
  Simple
} from "./store/MetricValue.ts"
export type { ModelAdapter } from "./store/ModelAdapter.ts"
export * as Pod from "./store/Pod.ts"
export { PodList } from "./store/PodList.ts"
export { PromQLResult } from "./store/PromQLResult.ts"
export { RoutingContext } from "./store/RoutingContext.ts"
export * as MetricCatalogue from "./metrics/MetricCatalogue.ts"

// ---- errors -----------------------------------------------------------------
export { InvalidPercentile, MetricNotFound, ModelNotFound, PodNotFound } from "./store/Errors.ts"
export {
  DiscoverySyncTimeout,
  KubeConfigInvalid,
  KubeConfigNotFound,
  StaticFleetInvalid
} from "./discovery/DiscoveryErrors.ts"
export type { KubernetesSourceError } from "./discovery/KubernetesSource.ts"
export { RedisCommandError, RedisConnectionError, RedisWriteError } from "./trace/Redis.ts"

// ---- the live pieces and their settings -------------------------------------
export { MetricRefresh } from "./metrics/MetricRefresh.ts"
export {
  metricRefreshConfig,
  type MetricRefreshOptions,
  type PromQLOptions,
  type ScrapeOptions
} from "./metrics/MetricRefreshConfig.ts"
export type {
  EngineRefreshStatistics,
  PodScrapeStatistics,
  PromQLRefreshStatistics,
  RefreshStatistics
} from "./metrics/RefreshStatistics.ts"
export {
  Redis,
  type RedisEntry,
  redisConfig,
  type RedisOptions,
  type RedisScript,
  type ScriptCall
} from "./trace/Redis.ts"
export * as TraceFlush from "./trace/TraceFlush.ts"
export { traceEnabled } from "./trace/TraceConfig.ts"
export { replicaIdConfig } from "./trace/GatewayReplica.ts"
export { replicaSyncEnabled } from "./replicas/ReplicaConfig.ts"
export type { KubernetesSourceOptions } from "./discovery/KubernetesSource.ts"
export type { RestartBackoff } from "./discovery/internal/SupervisedInformer.ts"
export { StaticFleetFile } from "./discovery/StaticFleet.ts"
export type { StaticSourceOptions } from "./discovery/StaticSource.ts"

// ---- the service's HTTP API -------------------------------------------------
/** The service's HTTP API: `HttpApiClient.make(CacheApi, { baseUrl })` is a typed client of it. */
export { CacheApi } from "./service/ServiceApi.ts"
export * as ServiceApi from "./service/ServiceApi.ts"
