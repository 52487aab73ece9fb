/** A metric registry of the test's own, so no other test's series show in what it reads. */
import { Effect, Metric } from "effect"

export const withFreshRegistry = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.provideServiceEffect(
    self,
    Metric.MetricRegistry,
    Effect.sync((): Metric.MetricRegistry => new Map())
  )
