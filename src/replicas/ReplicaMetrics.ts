/**
 * The replica sync's families in Effect's metric registry, observed from the
 * counts the sync keeps (`ReplicaSync.statistics`).
 */
import { Effect, Metric, type Scope } from "effect"
import { observeCounter, observeGauge } from "../cache/ObservedSeries.ts"

export const rounds = Metric.counter("aibrix_cache_replica_sync_rounds_total", {
  description: "Replica sync rounds sent to Redis."
})

export const roundFailures = Metric.counter("aibrix_cache_replica_sync_failures_total", {
  description: "Replica sync rounds that failed (this replica then keeps the last counts read, for the TTL)."
})

export const peers = Metric.gauge("aibrix_cache_replica_sync_peers", {
  description: "Other gateway replicas seen by the last good round, ours and AIBrix's."
})

/** The sync's counts, observed in the registry for the current scope. */
export const observeReplicaSync = (
  statistics: () => { readonly rounds: number; readonly failures: number; readonly replicas: number }
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    yield* observeCounter(rounds, () => statistics().rounds)
    yield* observeCounter(roundFailures, () => statistics().failures)
    yield* observeGauge(peers, () => statistics().replicas)
  })
