/**
 * The cache's services (PodCache, ModelCache, MetricCache, RequestTracker,
 * CacheWriter) over one store, readiness, and how the cache's families go in
 * Effect's metric registry.
 */
export * as Cache from "./Cache.ts"
export * as CacheMetrics from "./CacheMetrics.ts"
export * as CacheReadiness from "./CacheReadiness.ts"
export * as CacheStore from "./CacheStore.ts"
export * as CacheWriter from "./CacheWriter.ts"
export * as MetricCache from "./MetricCache.ts"
export * as ModelCache from "./ModelCache.ts"
export * as ObservedSeries from "./ObservedSeries.ts"
export * as PodCache from "./PodCache.ts"
export * as RequestLifetime from "./RequestLifetime.ts"
export * as RequestTracker from "./RequestTracker.ts"
