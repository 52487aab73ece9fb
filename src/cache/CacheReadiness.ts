/**
 * Whether the cache holds the fleet yet: true once a discovery source's initial
 * sync has been applied to the store. A service's `/readyz` reads it; the
 * `aibrix_cache_ready` gauge shows it.
 */
import { Context, Deferred, Effect, Metric } from "effect"
import { ready } from "./CacheMetrics.ts"

export class CacheReadiness extends Context.Service<
  CacheReadiness,
  {
    /** True once the initial sync has been applied; it never goes back. */
    readonly isReady: Effect.Effect<boolean>
    /** Waits until the initial sync has been applied. */
    readonly awaitReady: Effect.Effect<void>
  }
>()("aibrix-cache/CacheReadiness") {}

/** A readiness signal and the one way to raise it, for a discovery source. */
export interface ReadinessSignal {
  readonly readiness: CacheReadiness["Service"]
  /** Raises the signal and sets `aibrix_cache_ready` to 1 in the registry of the current context. */
  readonly markReady: Effect.Effect<void>
}

/** A signal not raised yet; `aibrix_cache_ready` is 0 in the registry of the current context. */
export const makeReadinessSignal: Effect.Effect<ReadinessSignal> = Effect.gen(function* () {
  const synced = yield* Deferred.make<void>()
  yield* Metric.update(ready, 0)
  return {
    readiness: CacheReadiness.of({
      isReady: Deferred.isDone(synced),
      awaitReady: Deferred.await(synced)
    }),
    markReady: Deferred.succeed(synced, undefined).pipe(Effect.andThen(Metric.update(ready, 1)))
  }
})
