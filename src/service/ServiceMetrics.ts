/**
 * The service's own metrics, as the `/metrics` page shows them: what the cache
 * tracks, and the counts the live pieces keep (the metric refresh, the
 * Kubernetes informers, the trace flush) when they run in this process: a
 * piece's families are on the page only when the piece runs.
 */
import { Context, Effect, Option } from "effect"
import { ExpositionWriter } from "../exposition/ExpositionWriter.ts"
import type { FleetStore } from "../store/FleetStore.ts"
import { KubernetesSource } from "../discovery/KubernetesSource.ts"
import { MetricRefresh } from "../metrics/MetricRefresh.ts"
import { isReady } from "../store/Pod.ts"
import { TraceFlushStatistics } from "../trace/TraceFlush.ts"

const PREFIX = "aibrix_cache_"

/** Renders the page from the store and whichever live pieces `live` holds. */
export const renderServiceMetrics = (
  store: FleetStore,
  live: Option.Option<Context.Context<never>>,
  ready: boolean
): Effect.Effect<string> =>
  Effect.gen(function* () {
    const page = new ExpositionWriter()
    let readyPods = 0
    for (const entry of store.podEntries()) if (isReady(entry.pod)) readyPods++
    page
      .gauge(`${PREFIX}ready`, "1 once the source's initial sync is in the store.", [{ value: ready ? 1 : 0 }])
      .gauge(`${PREFIX}pods`, "Pods tracked, by readiness.", [
        { labels: { ready: "true" }, value: readyPods },
        { labels: { ready: "false" }, value: store.podCount - readyPods }
      ])
      .gauge(`${PREFIX}models`, "Models and adapters served by at least one tracked pod.", [
        { value: store.modelCount }
      ])
      .gauge(`${PREFIX}adapters`, "ModelAdapters applied.", [{ value: store.listAdapters().length }])
      .gauge(`${PREFIX}requests_in_flight`, "Requests counted and not yet done.", [{ value: store.inFlightCount }])
    if (Option.isNone(live)) return page.toString()

    const refresh = Context.getOption(live.value, MetricRefresh)
    if (Option.isSome(refresh)) {
      const { engine, promql } = yield* refresh.value.statistics
      page
        .counter(`${PREFIX}refresh_cycles_total`, "Engine scrape cycles run.", [{ value: engine.cycles }])
        .histogram(`${PREFIX}refresh_cycle_duration_seconds`, "Duration of an engine scrape cycle (every ready pod).", [
          engine.cycleDurations
        ])
        .histogram(`${PREFIX}scrape_duration_seconds`, "Duration of one engine scrape, whatever its outcome.", [
          engine.scrapeDurations
        ])
        .counter(
          `${PREFIX}scrapes_total`,
          "Engine scrapes by outcome (ok, timeout, transport, status, too_large, truncated, malformed).",
          Object.entries(engine.outcomes).map(([outcome, value]) => ({ labels: { outcome }, value }))
        )
        .counter(
          `${PREFIX}malformed_families_total`,
          "Families of engine pages that gave no value because they would give a wrong one.",
          [{ value: engine.malformedFamilies }]
        )
        .gauge(`${PREFIX}stale_pods`, "Pods whose engine values are old (their last scrapes failed).", [
          {
            value: engine.stalePods
          }
        ])
        .gauge(`${PREFIX}dropped_pods`, "Pods whose engine values were removed after failed scrapes.", [
          {
            value: engine.droppedPods
          }
        ])
      if (promql !== undefined) {
        page
          .counter(`${PREFIX}promql_queries_total`, "PromQL queries sent.", [{ value: promql.queries }])
          .counter(`${PREFIX}promql_failures_total`, "PromQL queries that failed, timeouts included.", [
            {
              value: promql.failures
            }
          ])
          .counter(`${PREFIX}promql_timeouts_total`, "PromQL queries that timed out.", [{ value: promql.timeouts }])
      }
    }

    const kubernetes = Context.getOption(live.value, KubernetesSource)
    if (Option.isSome(kubernetes)) {
      const restarts = yield* kubernetes.value.restarts
      page.counter(
        `${PREFIX}informer_restarts_total`,
        "Restarts of a Kubernetes informer after it stopped on an error.",
        [
          { labels: { informer: "pods" }, value: restarts.pods },
          { labels: { informer: "modeladapters" }, value: restarts.modelAdapters }
        ]
      )
    }

    const trace = Context.getOption(live.value, TraceFlushStatistics)
    if (Option.isSome(trace)) {
      const stats = yield* trace.value.stats
      page
        .counter(`${PREFIX}trace_flushes_total`, "Trace flushes that wrote, or tried to write, windows to Redis.", [
          {
            value: stats.ticks
          }
        ])
        .counter(`${PREFIX}trace_flush_failures_total`, "Trace flushes whose write to Redis failed.", [
          {
            value: stats.failed
          }
        ])
        .counter(`${PREFIX}trace_flushes_skipped_total`, "Trace flushes with nothing to write.", [
          { value: stats.skipped }
        ])
        .counter(`${PREFIX}trace_windows_written_total`, "Trace windows written to Redis.", [{ value: stats.written }])
        .gauge(`${PREFIX}trace_backlog_windows`, "Trace windows waiting for the next flush after a failed one.", [
          {
            value: stats.backlog
          }
        ])
        .counter(`${PREFIX}trace_windows_dropped_total`, "Trace windows pushed out of the backlog unwritten.", [
          {
            value: stats.dropped
          }
        ])
    }
    return page.toString()
  })
