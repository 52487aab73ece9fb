/**
 * The drain that starts a stop: once the service begins to stop, `/readyz`
 * says 503 for a moment while the server still answers, so that the endpoints
 * routing to this replica let it go before its listener closes.
 */
import { Context, Duration, Effect, Ref } from "effect"

/** Whether the service is draining; never, unless the service provides its own. */
export const Draining = Context.Reference<Effect.Effect<boolean>>("aibrix-cache/Draining", {
  defaultValue: () => Effect.succeed(false)
})

/** Raises `draining`, then waits `duration` with the server still answering. */
export const drain = (draining: Ref.Ref<boolean>, duration: Duration.Duration): Effect.Effect<void> =>
  Ref.set(draining, true).pipe(
    Effect.andThen(
      Duration.isZero(duration)
        ? Effect.void
        : Effect.logInfo("draining").pipe(
            Effect.annotateLogs({ ms: Duration.toMillis(duration) }),
            Effect.andThen(Effect.sleep(duration))
          )
    )
  )
