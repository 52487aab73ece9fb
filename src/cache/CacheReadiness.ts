/**
 * Whether the cache holds the fleet yet: true once a discovery source's initial
 * sync has been applied to the store. A service's `/readyz` reads it.
 */
import { Context, Deferred, Effect } from "effect"

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
  readonly markReady: Effect.Effect<void>
}

export const makeReadinessSignal: Effect.Effect<ReadinessSignal> = Effect.map(Deferred.make<void>(), (synced) => ({
  readiness: CacheReadiness.of({
    isReady: Deferred.isDone(synced),
    awaitReady: Deferred.await(synced)
  }),
  markReady: Effect.asVoid(Deferred.succeed(synced, undefined))
}))
