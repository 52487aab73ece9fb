/**
 * The request trace on top of any cache layer: tracing on for its store, and
 * the flush fiber writing the windows to Redis every 10 s, all in the layer's
 * scope.
 */
import { type Config, Layer } from "effect"
import type { CacheStore } from "../cache/CacheStore.ts"
import { Redis, type RedisConnectionError } from "./Redis.ts"
import { type TraceFlushOptions, traceFlushLayerWith } from "./TraceFlush.ts"
import { registerTraceFamilies } from "./TraceMetrics.ts"

/**
 * `cacheLayer` (any layer providing the cache services, `CacheStore` among
 * them) with the trace on, flushed to the Redis of `redis` as the part of
 * `options.replicaId` (default `POD_NAME`, else the hostname) in each key. Closing the scope
 * turns the trace off, flushes it once more, then releases Redis. The flush's
 * families are in the registry before `cacheLayer` is built.
 */
export const withRequestTraceTo =
  <RE, RR>(redis: Layer.Layer<Redis, RE, RR>, options: TraceFlushOptions = {}) =>
  <A, E, R>(cacheLayer: Layer.Layer<A, E, R>): Layer.Layer<A, E | RE, R | Exclude<RR | CacheStore, A>> =>
    traceFlushLayerWith(options).pipe(
      Layer.provide(redis),
      Layer.provideMerge(cacheLayer),
      Layer.provide(Layer.effectDiscard(registerTraceFamilies))
    )

/**
 * `cacheLayer` with the trace on, flushed to the Redis of `REDIS_HOST`,
 * `REDIS_PORT` and `REDIS_PASSWORD`.
 */
export const withRequestTrace: <A, E, R>(
  cacheLayer: Layer.Layer<A, E, R>
) => Layer.Layer<A, E | RedisConnectionError | Config.ConfigError, R | Exclude<CacheStore, A>> = withRequestTraceTo(
  Redis.layer
)
