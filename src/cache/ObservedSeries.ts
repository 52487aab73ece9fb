/**
 * How the cache's pieces put their families in Effect's metric registry.
 *
 * A count a piece already keeps for itself (informer restarts, scrape
 * outcomes, the store's sizes) is observed: the registry reads it when a page
 * is rendered, instead of a second count pushed beside it. A series lives in
 * the registry and under the attributes of the context it is registered from
 * (`Metric.MetricRegistry`, `Metric.CurrentMetricAttributes`): a host app that
 * provides its own registry gets the cache's series in it, and two caches in
 * one registry tell theirs apart by the attributes each is built under.
 */
import { type Context, Effect, Metric, type Scope } from "effect"

const ignore = (): void => {}

const observe = <Input, State>(
  metric: Metric.Metric<Input, State>,
  get: () => State
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.asVoid(
    Effect.acquireRelease(
      Effect.contextWith((context: Context.Context<never>) =>
        Effect.sync(() => Metric.registerUnsafe(metric, context, { get, update: ignore, modify: ignore }))
      ),
      (registration) => Effect.sync(registration.remove)
    )
  )

/** Reports `read()` as the counter's count, for the current scope. */
export const observeCounter = (
  counter: Metric.Counter<number>,
  read: () => number
): Effect.Effect<void, never, Scope.Scope> => observe(counter, () => ({ count: read(), incremental: true }))

/** Reports `read()` as the gauge's value, for the current scope. */
export const observeGauge = (
  gauge: Metric.Gauge<number>,
  read: () => number
): Effect.Effect<void, never, Scope.Scope> => observe(gauge, () => ({ value: read() }))

/**
 * Puts each metric's series in the registry at its initial value unless it is
 * there already, so a page shows the family before its first update.
 */
export const registerFamilies = (metrics: ReadonlyArray<Metric.Metric<never, unknown>>): Effect.Effect<void> =>
  Effect.contextWith((context: Context.Context<never>) =>
    Effect.sync(() => {
      for (const metric of metrics) metric.valueUnsafe(context)
    })
  )
