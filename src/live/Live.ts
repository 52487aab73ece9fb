/**
 * The live cache layers, the reference's constructors as Layers: a store fed
 * by a discovery source, the metric refresh, and the request trace and the
 * replica sync when asked for. Each is one Layer whose scope owns every informer, fiber and client:
 * closing it (`Layer.launch` ending, `ManagedRuntime.dispose`) stops the
 * refresh, flushes the trace one last time before Redis quits, and stops the
 * informers.
 */
import { type Config, Effect, Layer } from "effect"
import { type CacheServices, layerEmpty } from "../cache/Cache.ts"
import * as CacheMetrics from "../cache/CacheMetrics.ts"
import type { CacheReadiness } from "../cache/CacheReadiness.ts"
import type { CacheStore } from "../cache/CacheStore.ts"
import { withRequestLifetime } from "../cache/RequestLifetime.ts"
import type { StaticFleetInvalid } from "../discovery/DiscoveryErrors.ts"
import { type KubernetesSourceError, kubernetesDiscovery } from "../discovery/KubernetesSource.ts"
import { staticDiscovery } from "../discovery/StaticSource.ts"
import type { MetricRefresh } from "../metrics/MetricRefresh.ts"
import { type Redis, type RedisConnectionError, redisFromEnvironment } from "../trace/Redis.ts"
import { traceEnabled } from "../trace/TraceConfig.ts"
import { withMetricRefresh } from "../metrics/MetricRefreshLayers.ts"
import { withRequestTrace } from "../trace/RequestTraceLayers.ts"
import { replicaSyncEnabled } from "../replicas/ReplicaConfig.ts"
import { withReplicaSync } from "../replicas/ReplicaSyncLayers.ts"

/** What every live layer provides: the cache services, its readiness and the refresh's statistics. */
export type LiveServices = CacheServices | CacheReadiness | MetricRefresh

/**
 * `cacheLayer` fed by `source` (a discovery source writing through
 * `CacheWriter` and raising `CacheReadiness`), with the metric refresh running
 * once the source has synced, and requests released after
 * `AIBRIX_REQUEST_MAX_LIFETIME_MS` by a sweep fiber. The store's, the source's and the refresh's
 * families are in the metric registry of the layer's context before the
 * source starts its initial sync.
 */
export const withSource = <S, SE, SR, A, E, R>(
  source: Layer.Layer<S, SE, SR>,
  cacheLayer: Layer.Layer<A | CacheStore, E, R>
): Layer.Layer<S | A | CacheStore | MetricRefresh, SE | E | Config.ConfigError, R | Exclude<SR, A | CacheStore>> =>
  withMetricRefresh(
    source.pipe(Layer.provideMerge(CacheMetrics.layer.pipe(Layer.provideMerge(withRequestLifetime(cacheLayer)))))
  )

/** `enabled` as the flag reads, else `disabled`; a bad value of the flag fails the build. */
const whenEnabled = <A, E1, R1, E2, R2>(
  flag: Config.Config<boolean>,
  enabled: Layer.Layer<A, E1, R1>,
  disabled: Layer.Layer<A, E2, R2>
): Layer.Layer<A, E1 | E2 | Config.ConfigError, R1 | R2> =>
  Layer.unwrap(Effect.map(flag, (on): Layer.Layer<A, E1 | E2, R1 | R2> => (on ? enabled : disabled)))

/**
 * `cacheLayer` with the request trace on when `AIBRIX_GPU_OPTIMIZER_TRACING_FLAG`
 * says so (flushed to the Redis of `REDIS_*`), as it is otherwise.
 */
export const withTraceWhenEnabled = <A, E, R>(
  cacheLayer: Layer.Layer<A | CacheStore, E, R>
): Layer.Layer<A | CacheStore, E | RedisConnectionError | Config.ConfigError, R> =>
  whenEnabled(traceEnabled, withRequestTrace(cacheLayer), cacheLayer)

/**
 * `cacheLayer` with its running counts shared with the other gateway replicas
 * when `AIBRIX_REPLICA_SYNC` says so (through the Redis of `REDIS_*`, as the
 * replica `POD_NAME`), as it is otherwise.
 */
export const withReplicaSyncWhenEnabled = <A, E, R>(
  cacheLayer: Layer.Layer<A | CacheStore, E, R>
): Layer.Layer<A | CacheStore, E | RedisConnectionError | Config.ConfigError, R> =>
  whenEnabled(replicaSyncEnabled, withReplicaSync(cacheLayer), cacheLayer)

/** The trace and the replica sync, each when its variable says so, sharing one Redis connection. */
const gatewayLayer = <A, E, R>(
  cacheLayer: Layer.Layer<A | CacheStore, E, R>
): Layer.Layer<A | CacheStore, E | RedisConnectionError | Config.ConfigError, R> =>
  withReplicaSyncWhenEnabled(withTraceWhenEnabled(cacheLayer))

const kubernetesCache: Layer.Layer<LiveServices, KubernetesSourceError | Config.ConfigError> = withSource(
  kubernetesDiscovery(),
  layerEmpty
)

/** `Init`: Kubernetes discovery and the metric refresh; no trace. */
export const init: Layer.Layer<LiveServices, KubernetesSourceError | Config.ConfigError> = kubernetesCache

/** `InitForMetadata`: as `init`, plus a Redis client (of `REDIS_*`) for the app; no trace. */
export const initForMetadata: Layer.Layer<
  LiveServices | Redis,
  KubernetesSourceError | RedisConnectionError | Config.ConfigError
> = kubernetesCache.pipe(Layer.provideMerge(redisFromEnvironment))

/**
 * `InitForGateway`: as `init`, with the request trace on when
 * `AIBRIX_GPU_OPTIMIZER_TRACING_FLAG` is true, flushed to the Redis of
 * `REDIS_*` every 10 s, and the running counts shared with the other gateway
 * replicas when `AIBRIX_REPLICA_SYNC` is true. With both off no Redis is needed.
 */
export const initForGateway: Layer.Layer<
  LiveServices,
  KubernetesSourceError | RedisConnectionError | Config.ConfigError
> = gatewayLayer(kubernetesCache)

/**
 * A discovery source over a fresh store, with the metric refresh and, when
 * their variables say so, the trace and the replica sync: `initStatic` is this
 * over a static file, `initForGateway` over Kubernetes.
 */
export const initFromSource = <S, SE, SR>(
  source: Layer.Layer<S, SE, SR>
): Layer.Layer<
  S | CacheServices | MetricRefresh,
  SE | RedisConnectionError | Config.ConfigError,
  Exclude<SR, CacheServices>
> => gatewayLayer(withSource(source, layerEmpty))

/**
 * The fleet of a static YAML or JSON file (followed as it changes), with the
 * metric refresh and, when their variables say so, the trace and the replica
 * sync through the Redis of `REDIS_*`.
 */
export const initStatic = (
  path: string
): Layer.Layer<LiveServices, StaticFleetInvalid | RedisConnectionError | Config.ConfigError> =>
  initFromSource(staticDiscovery(path))
