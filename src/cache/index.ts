/**
 * The cache's services (PodCache, ModelCache, MetricCache, RequestTracker,
 * CacheWriter) over one store, and readiness.
 */
export * as Cache from "./Cache.ts"
export * as CacheReadiness from "./CacheReadiness.ts"
export * as CacheStore from "./CacheStore.ts"
export * as CacheWriter from "./CacheWriter.ts"
export * as MetricCache from "./MetricCache.ts"
export * as ModelCache from "./ModelCache.ts"
export * as PodCache from "./PodCache.ts"
export * as RequestTracker from "./RequestTracker.ts"
