/**
 * aibrix-cache: a live in-memory view of an LLM serving fleet for a gateway.
 * Ready-made layers are in `aibrix-cache/layers`.
 */
export { Cache, type CacheService, type CacheServices } from "./cache/Cache.ts"
export { CacheReadiness } from "./cache/CacheReadiness.ts"
export { CacheStore } from "./cache/CacheStore.ts"
export { CacheWriter } from "./cache/CacheWriter.ts"
export { DiscoveryEvent } from "./store/DiscoveryEvent.ts"
export {
  DiscoverySyncTimeout,
  KubeConfigInvalid,
  KubeConfigNotFound,
  StaticFleetInvalid
} from "./discovery/DiscoveryErrors.ts"
export { InvalidPercentile, MetricNotFound, ModelNotFound, PodNotFound } from "./store/Errors.ts"
export {
  type EngineMetrics,
  FleetStore,
  PodEntry,
  REALTIME_RUNNING_METRIC,
  type Rejection,
  type TokenCounts,
  type TraceRecorder
} from "./store/FleetStore.ts"
export { loadKubeConfig } from "./discovery/KubeConfigLoader.ts"
export {
  type KubernetesSourceError,
  type KubernetesSourceOptions,
  makeKubernetesSource
} from "./discovery/KubernetesSource.ts"
export { MetricCache, type MetricSubscriber } from "./cache/MetricCache.ts"
export * as MetricCatalogue from "./metrics/MetricCatalogue.ts"
export { MetricRefresh } from "./metrics/MetricRefresh.ts"
export type { MetricRefreshOptions, PromQLOptions, ScrapeOptions } from "./metrics/MetricRefreshConfig.ts"
export {
  Histogram,
  type HistogramBuckets,
  type HistogramBucketsInput,
  Label,
  MetricValue,
  Prometheus,
  Simple
} from "./store/MetricValue.ts"
export { ModelCache } from "./cache/ModelCache.ts"
export type { ModelAdapter } from "./store/ModelAdapter.ts"
export * as Pod from "./store/Pod.ts"
export { PodCache } from "./cache/PodCache.ts"
export { PodList } from "./store/PodList.ts"
export { PrometheusQueryError } from "./metrics/PrometheusApi.ts"
export { PromQLResult } from "./store/PromQLResult.ts"
export {
  connectRedis,
  Redis,
  type RedisConfig,
  redisConfig,
  RedisCommandError,
  type RedisConnection,
  RedisConnectionError,
  type RedisEntry,
  type RedisScript,
  redisScript,
  redisService,
  RedisWriteError,
  type ScriptCall
} from "./trace/Redis.ts"
export { RequestTrace } from "./trace/RequestTrace.ts"
export type {
  EngineRefreshStatistics,
  PodScrapeStatistics,
  PromQLRefreshStatistics,
  RefreshStatistics
} from "./metrics/RefreshStatistics.ts"
export { type MaybeRoutingContext, RequestTracker } from "./cache/RequestTracker.ts"
export { RoutingContext } from "./store/RoutingContext.ts"
/** The service's HTTP API: `HttpApiClient.make(CacheApi, { baseUrl })` is a typed client of it. */
export { CacheApi } from "./service/ServiceApi.ts"
export * as ServiceApi from "./service/ServiceApi.ts"
export { parseStaticFleet, STATIC_NAMESPACE, StaticFleetFile } from "./discovery/StaticFleet.ts"
export { makeStaticSource, type StaticSourceOptions } from "./discovery/StaticSource.ts"
export type { RestartBackoff } from "./discovery/internal/SupervisedInformer.ts"
export { bucketIndex } from "./trace/TraceBucket.ts"
export { traceEnabled } from "./trace/TraceConfig.ts"
export {
  TRACE_TTL_SECONDS,
  traceFlushLayer,
  traceFlushLayerWith,
  TraceFlusher,
  type TraceFlusherOptions,
  type TraceFlushOptions,
  type TraceFlushStats
} from "./trace/TraceFlush.ts"
export { mergeParts, partsKey } from "./trace/TraceMerge.ts"
export { replicaId, replicaIdConfig } from "./trace/GatewayReplica.ts"
export { replicaSyncEnabled } from "./replicas/ReplicaConfig.ts"
export { ReplicaSync, type ReplicaSyncSettings } from "./replicas/ReplicaSync.ts"
export { replicaSyncLayer } from "./replicas/ReplicaSyncLayers.ts"
export { traceKey, TraceWindow, windowJson } from "./trace/TraceWindow.ts"
