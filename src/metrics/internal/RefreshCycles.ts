/**
 * How both refresh loops repeat their cycle: one starts every interval, or at
 * once when the previous one took longer, so two never run at the same time
 * and a slow cycle delays the next one.
 */
import { Clock, Effect } from "effect"
import { HttpClient } from "effect/http"

export const repeatCycles = (cycle: Effect.Effect<void>, intervalMs: number): Effect.Effect<never> =>
  Clock.clockWith((clock) =>
    Effect.forever(
      Effect.suspend(() => {
        const started = clock.currentTimeMillisUnsafe()
        return cycle.pipe(
          Effect.andThen(
            Effect.suspend(() => {
              const wait = intervalMs - (clock.currentTimeMillisUnsafe() - started)
              return wait > 0 ? Effect.sleep(wait) : Effect.yieldNow
            })
          )
        )
      })
    )
  ).pipe(
    // The loops' requests are their own traffic, thousands a second: no client spans.
    Effect.provideService(HttpClient.TracerDisabledWhen, () => true)
  )
