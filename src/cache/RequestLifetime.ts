/**
 * The maximum lifetime of an in-flight request in a live cache: read from
 * `AIBRIX_REQUEST_MAX_LIFETIME_MS`, and a sweep fiber that releases expired
 * requests even when no request comes to release them on its path (an idle
 * gateway's pending counts still reach the autoscaler through the trace).
 */
import { Clock, type Config, Effect, Layer } from "effect"
import { envPositiveNumber } from "../EnvConfig.ts"
import type { FleetStore } from "../store/FleetStore.ts"
import { DEFAULT_REQUEST_LIFETIME_MS } from "../store/InFlightRequests.ts"
import { CacheStore } from "./CacheStore.ts"

/** `AIBRIX_REQUEST_MAX_LIFETIME_MS` (default one hour): an unfinished request is released after this long. */
export const requestMaxLifetimeMs: Config.Config<number> = envPositiveNumber(
  "AIBRIX_REQUEST_MAX_LIFETIME_MS",
  DEFAULT_REQUEST_LIFETIME_MS
)

/**
 * Time between two sweeps. With expiry windows of 250 ms a request is released
 * at most 750 ms after its lifetime ended, well within the promised second.
 */
export const SWEEP_INTERVAL_MS = 500

const sweepOnce = (store: FleetStore): Effect.Effect<void> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const released = store.releaseExpired(now)
    return released === 0
      ? Effect.void
      : Effect.logDebug("released requests not finished within their lifetime").pipe(
          Effect.annotateLogs({ released, lifetime_ms: store.requestLifetimeMs })
        )
  })

/** Releases the store's expired requests every `SWEEP_INTERVAL_MS`, forever. */
export const sweepExpiredRequests = (store: FleetStore): Effect.Effect<never> =>
  Effect.forever(
    Effect.sleep(SWEEP_INTERVAL_MS).pipe(
      Effect.andThen(sweepOnce(store)),
      Effect.catchCause((cause) => Effect.logError("request sweep failed", cause))
    )
  )

const withLifetime = <A, E, R>(
  cacheLayer: Layer.Layer<A | CacheStore, E, R>,
  lifetimeMs: number
): Layer.Layer<A | CacheStore, E, R> =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const store = yield* CacheStore
      store.requestLifetimeMs = lifetimeMs
      yield* Effect.forkScoped(sweepExpiredRequests(store))
    })
  ).pipe(Layer.provideMerge(cacheLayer))

/**
 * `cacheLayer` with its requests' lifetime set to `lifetimeMs`, else read from
 * `AIBRIX_REQUEST_MAX_LIFETIME_MS` (a bad value fails the build, naming the
 * variable and the value), and the sweep fiber running in the layer's scope.
 */
export function withRequestLifetime<A, E, R>(
  cacheLayer: Layer.Layer<A | CacheStore, E, R>
): Layer.Layer<A | CacheStore, E | Config.ConfigError, R>
export function withRequestLifetime<A, E, R>(
  cacheLayer: Layer.Layer<A | CacheStore, E, R>,
  lifetimeMs: number
): Layer.Layer<A | CacheStore, E, R>
export function withRequestLifetime<A, E, R>(
  cacheLayer: Layer.Layer<A | CacheStore, E, R>,
  lifetimeMs?: number
): Layer.Layer<A | CacheStore, E | Config.ConfigError, R> {
  return lifetimeMs === undefined
    ? Layer.unwrap(Effect.map(requestMaxLifetimeMs, (read) => withLifetime(cacheLayer, read)))
    : withLifetime(cacheLayer, lifetimeMs)
}
