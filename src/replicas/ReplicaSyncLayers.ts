/**
 * The replica sync on top of any cache layer: its store's running counts
 * shared with the other gateway replicas through Redis, the sync fiber in the
 * layer's scope.
 */
import { type Config, Duration, Effect, Layer } from "effect"
import { CacheStore } from "../cache/CacheStore.ts"
import { replicaId } from "../trace/GatewayReplica.ts"
import { Redis, type RedisConnectionError, withRedisUser } from "../trace/Redis.ts"
import { observeReplicaSync } from "./ReplicaMetrics.ts"
import { ReplicaSync } from "./ReplicaSync.ts"

export interface ReplicaSyncOptions {
  /** This replica's id in Redis (default `POD_NAME`, else the hostname). */
  readonly replicaId?: string | undefined
  /** Between two rounds (default 100 ms, as AIBrix). */
  readonly interval?: Duration.Input | undefined
  /** How long this replica's keys live unless written again (default 500 ms, as AIBrix). */
  readonly ttl?: Duration.Input | undefined
}

export const DEFAULT_SYNC_INTERVAL = Duration.millis(100)
export const DEFAULT_SYNC_TTL = Duration.millis(500)

/**
 * Runs the sync for the cache layer's store in the layer's scope, its counts
 * in the metric registry of the layer's context. Closing the scope stops the
 * rounds and takes this replica's keys out of Redis (before the Redis client
 * is released).
 */
export const replicaSyncLayer = (options: ReplicaSyncOptions = {}): Layer.Layer<never, never, CacheStore | Redis> =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const store = yield* CacheStore
      const redis = yield* Redis
      const settings = {
        replicaId: options.replicaId ?? (yield* replicaId),
        interval: Duration.fromInputUnsafe(options.interval ?? DEFAULT_SYNC_INTERVAL),
        ttl: Duration.fromInputUnsafe(options.ttl ?? DEFAULT_SYNC_TTL)
      }
      const sync = new ReplicaSync(store, redis, settings)
      yield* observeReplicaSync(() => sync.statistics)
      yield* Effect.addFinalizer(() => sync.goodbye)
      yield* Effect.forkScoped(sync.run)
      yield* Effect.logInfo("replica sync on").pipe(
        Effect.annotateLogs({ replica: settings.replicaId, interval_ms: Duration.toMillis(settings.interval) })
      )
    })
  )

/**
 * `cacheLayer` (any layer providing the cache services, `CacheStore` among
 * them) with its running counts shared with the other replicas through the
 * Redis of `REDIS_HOST`, `REDIS_PORT` and `REDIS_PASSWORD`, or of the `redis`
 * layer given, as the replica `options.replicaId` (default `POD_NAME`, else
 * the hostname).
 */
export function withReplicaSync<A, E, R>(
  cacheLayer: Layer.Layer<A, E, R>
): Layer.Layer<A, E | RedisConnectionError | Config.ConfigError, R | Exclude<CacheStore, A>>
export function withReplicaSync<A, E, R, RE, RR>(
  cacheLayer: Layer.Layer<A, E, R>,
  redis: Layer.Layer<Redis, RE, RR>,
  options?: ReplicaSyncOptions
): Layer.Layer<A, E | RE, R | Exclude<RR | CacheStore, A>>
export function withReplicaSync<A, E, R, RE, RR>(
  cacheLayer: Layer.Layer<A, E, R>,
  redis?: Layer.Layer<Redis, RE, RR>,
  options: ReplicaSyncOptions = {}
): Layer.Layer<A, E | RE | RedisConnectionError | Config.ConfigError, R | Exclude<RR | CacheStore, A>> {
  return withRedisUser(replicaSyncLayer(options), cacheLayer, redis)
}
