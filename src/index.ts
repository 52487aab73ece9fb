/**
 * aibrix-cache: a live in-memory view of an LLM serving fleet for a gateway.
 * Ready-made layers are in `aibrix-cache/layers`.
 */
export { Cache, type CacheService, type CacheServices } from "./Cache.ts"
export { CacheReadiness } from "./CacheReadiness.ts"
export { CacheStore } from "./CacheStore.ts"
export { CacheWriter } from "./CacheWriter.ts"
export { DiscoveryEvent } from "./DiscoveryEvent.ts"
export { DiscoverySyncTimeout, KubeConfigInvalid, KubeConfigNotFound, StaticFleetInvalid } from "./DiscoveryErrors.ts"
export { InvalidPercentile, MetricNotFound, ModelNotFound, PodNotFound } from "./Errors.ts"
export {
  type EngineMetrics,
  FleetStore,
  PodEntry,
  REALTIME_RUNNING_METRIC,
  type Rejection,
  type TokenCounts,
  type TraceRecorder
} from "./FleetStore.ts"
export { loadKubeConfig } from "./KubeConfigLoader.ts"
export {
  type InformerRestarts,
  KubernetesSource,
  type KubernetesSourceError,
  type KubernetesSourceOptions,
  makeKubernetesSource
} from "./KubernetesSource.ts"
export { MetricCache, type MetricSubscriber } from "./MetricCache.ts"
export * as MetricCatalogue from "./MetricCatalogue.ts"
export { MetricRefresh } from "./MetricRefresh.ts"
export { type MetricRefreshOptions, type PromQLOptions, type ScrapeOptions } from "./MetricRefreshConfig.ts"
export {
  Histogram,
  type HistogramBuckets,
  type HistogramBucketsInput,
  Label,
  MetricValue,
  Prometheus,
  Simple
} from "./MetricValue.ts"
export { ModelCache } from "./ModelCache.ts"
export { type ModelAdapter } from "./ModelAdapter.ts"
export * as Pod from "./Pod.ts"
export { PodCache } from "./PodCache.ts"
export { PodList } from "./PodList.ts"
export { PrometheusQueryError } from "./PrometheusApi.ts"
export { PromQLResult } from "./PromQLResult.ts"
export {
  connectRedis,
  Redis,
  type RedisConfig,
  redisConfig,
  RedisConnectionError,
  type RedisEntry,
  redisService,
  RedisWriteError
} from "./Redis.ts"
export { RequestTrace } from "./RequestTrace.ts"
export {
  type EngineRefreshStatistics,
  type PodScrapeStatistics,
  type PromQLRefreshStatistics,
  type RefreshStatistics
} from "./RefreshStatistics.ts"
export { type MaybeRoutingContext, RequestTracker } from "./RequestTracker.ts"
export { RoutingContext } from "./RoutingContext.ts"
export { parseStaticFleet, STATIC_NAMESPACE, StaticFleetFile } from "./StaticFleet.ts"
export { makeStaticSource, type StaticSourceOptions } from "./StaticSource.ts"
export { type RestartBackoff } from "./SupervisedInformer.ts"
export { bucketIndex } from "./TraceBucket.ts"
export { traceEnabled } from "./TraceConfig.ts"
export {
  TRACE_TTL_SECONDS,
  traceFlushLayer,
  TraceFlusher,
  TraceFlushStatistics,
  type TraceFlushStats
} from "./TraceFlush.ts"
export { traceKey, TraceWindow, windowJson } from "./TraceWindow.ts"
