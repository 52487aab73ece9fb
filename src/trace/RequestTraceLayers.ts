/**
 * The request trace on top of any cache layer: tracing on for its store, and
 * the flush fiber writing the windows to Redis every 10 s, all in the layer's
 * scope.
 */
import { type Config, Layer } from "effect"
import type { CacheStore } from "../cache/CacheStore.ts"
import { type FlushLayerOptions, flushLayer } from "./internal/TraceFlusher.ts"
import { type Redis, type RedisConnectionError, withRedisUser } from "./Redis.ts"
import { registerTraceFamilies } from "./TraceMetrics.ts"

/** Who this gateway replica is in the trace. */
export type RequestTraceOptions = FlushLayerOptions

/**
 * `cacheLayer` (any layer providing the cache services, `CacheStore` among
 * them) with the trace on, flushed to the Redis of `REDIS_HOST`, `REDIS_PORT`
 * and `REDIS_PASSWORD`, or of the `redis` layer given (an address of your own,
 * a fake in tests), as the part of `options.replicaId` (default `POD_NAME`,
 * else the hostname) in each key. Closing the scope turns the trace off,
 * flushes it once more, then releases Redis. The flush's families are in the
 * registry before `cacheLayer` is built.
 */
export function withRequestTrace<A, E, R>(
  cacheLayer: Layer.Layer<A, E, R>
): Layer.Layer<A, E | RedisConnectionError | Config.ConfigError, R | Exclude<CacheStore, A>>
export function withRequestTrace<A, E, R, RE, RR>(
  cacheLayer: Layer.Layer<A, E, R>,
  redis: Layer.Layer<Redis, RE, RR>,
  options?: RequestTraceOptions
): Layer.Layer<A, E | RE, R | Exclude<RR | CacheStore, A>>
export function withRequestTrace<A, E, R, RE, RR>(
  cacheLayer: Layer.Layer<A, E, R>,
  redis?: Layer.Layer<Redis, RE, RR>,
  options: RequestTraceOptions = {}
): Layer.Layer<A, E | RE | RedisConnectionError | Config.ConfigError, R | Exclude<RR | CacheStore, A>> {
  return withRedisUser(flushLayer(options), cacheLayer, redis).pipe(
    Layer.provide(Layer.effectDiscard(registerTraceFamilies))
  )
}
