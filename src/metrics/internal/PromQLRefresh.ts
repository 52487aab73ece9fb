/**
 * The PromQL loop: every interval, query the catalogue's PromQL metrics for
 * every ready pod (and each of its models) and store the results as prometheus
 * values. A failed or slow query keeps the previous value and never stops the
 * loop.
 */
import { Cause, Clock, Effect, Exit } from "effect"
import type { FleetStore, PodEntry } from "../../store/FleetStore.ts"
import { type PromQLMetric, promQLMetrics, subscribedOf } from "../MetricCatalogue.ts"
import type { PromQLOptions } from "../MetricRefreshConfig.ts"
import { MetricValue } from "../../store/MetricValue.ts"
import { isReady } from "../../store/Pod.ts"
import type { PrometheusApi } from "../PrometheusApi.ts"
import { type PodQuery, podQueries } from "../PromQL.ts"
import { repeatCycles } from "./RefreshCycles.ts"
import { DurationWindow, type PromQLRefreshStatistics } from "../RefreshStatistics.ts"

export interface PromQLRefresh {
  readonly cycle: Effect.Effect<void>
  readonly run: Effect.Effect<never>
  readonly statistics: () => PromQLRefreshStatistics
}

interface PendingQuery extends PodQuery {
  readonly entry: PodEntry
}

const queriesOf = (store: FleetStore, metrics: ReadonlyArray<PromQLMetric>): ReadonlyArray<PendingQuery> => {
  const pending: Array<PendingQuery> = []
  for (const entry of store.podEntries()) {
    if (!isReady(entry.pod)) continue
    for (const query of podQueries(metrics, entry.podIp, entry.modelNames())) pending.push({ ...query, entry })
  }
  return pending
}

export const makePromQLRefresh = (
  store: FleetStore,
  api: PrometheusApi,
  options: Omit<PromQLOptions, "prometheus">,
  metrics: ReadonlyArray<PromQLMetric> = promQLMetrics
): PromQLRefresh => {
  let cycles = 0
  let queries = 0
  let failures = 0
  let timeouts = 0
  const durations = new DurationWindow()

  const runQuery = (pending: PendingQuery): Effect.Effect<void> =>
    api.query(pending.query).pipe(
      Effect.timeoutOrElse({ duration: options.timeoutMs, orElse: () => Effect.fail("timeout" as const) }),
      Effect.withSpan("PromQL query", {
        kind: "client",
        attributes: {
          "aibrix.pod": pending.entry.key,
          "aibrix.metric": pending.metric.name,
          "db.query.text": pending.query
        }
      }),
      Effect.exit,
      Effect.flatMap((exit) => {
        queries++
        if (Exit.isSuccess(exit)) {
          store.setEntryMetric(pending.entry, pending.model, pending.metric.name, MetricValue.prometheus(exit.value))
          return Effect.void
        }
        if (Cause.hasInterruptsOnly(exit.cause)) return Effect.interrupt
        failures++
        const error = Cause.findErrorOption(exit.cause)
        if (error._tag === "Some" && error.value === "timeout") timeouts++
        return Effect.logDebug("PromQL query failed").pipe(
          Effect.annotateLogs({
            pod: pending.entry.key,
            metric: pending.metric.name,
            reason:
              error._tag === "Some"
                ? error.value === "timeout"
                  ? `no answer within ${options.timeoutMs} ms`
                  : error.value.reason
                : Cause.pretty(exit.cause)
          })
        )
      })
    )

  const cycle: Effect.Effect<void> = Clock.clockWith((clock) => {
    const started = clock.currentTimeMillisUnsafe()
    const wanted = subscribedOf(metrics, store.subscribedMetrics)
    return Effect.forEach(queriesOf(store, wanted), runQuery, { concurrency: options.concurrency, discard: true }).pipe(
      Effect.catchCause((cause) =>
        Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause) : Effect.logWarning("PromQL cycle failed", cause)
      ),
      Effect.ensuring(
        Effect.sync(() => {
          cycles++
          durations.record(clock.currentTimeMillisUnsafe() - started)
        })
      )
    )
  })

  const run = repeatCycles(cycle, options.intervalMs)

  const statistics = (): PromQLRefreshStatistics => ({
    cycles,
    lastCycleMs: durations.last,
    queries,
    failures,
    timeouts
  })

  return { cycle, run, statistics }
}
