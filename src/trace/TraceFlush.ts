/**
 * The trace flush as a layer: over the store of `CacheStore`, it turns the
 * trace on, writes the windows to Redis on every 10 s boundary and once more
 * when its scope closes, then closes its Redis connection. Its counts are in
 * the metric registry of the layer's context (see `TraceMetrics`).
 */
import { Config, Effect, Layer } from "effect"
import type { CacheStore } from "../cache/CacheStore.ts"
import { type FlushLayerOptions, flushLayer } from "./internal/TraceFlusher.ts"
import { Redis, type RedisConnectionError, type RedisOptions } from "./Redis.ts"

export interface TraceFlushOptions extends FlushLayerOptions {
  /** Where the windows are written. */
  readonly redis: RedisOptions
}

/** The flush to the Redis of `options`, as the replica `options.replicaId` (default `POD_NAME`, else the hostname). */
export const layer = (options: TraceFlushOptions): Layer.Layer<never, RedisConnectionError, CacheStore> =>
  flushLayer(options).pipe(Layer.provide(Redis.layer(options.redis)))

/** The flush with its settings from the configs; `layerConfig({ redis: redisConfig })` reads `REDIS_*`. */
export const layerConfig = (
  options: Config.Wrap<TraceFlushOptions>
): Layer.Layer<never, RedisConnectionError | Config.ConfigError, CacheStore> =>
  Layer.unwrap(Effect.map(Config.unwrap(options), layer))
