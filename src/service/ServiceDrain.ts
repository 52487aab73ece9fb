/**
 * The drain at the start of a stop: `/readyz` says 503 for a moment while the
 * server still answers everything, so that the load balancers (Kubernetes
 * endpoints) stop sending to this replica before its listener closes.
 */
import { Context, Duration, Effect, Ref } from "effect"

/** Whether the service has begun to stop; a server with none never is. */
export const ServiceStopping = Context.Reference<{ readonly stopping: Effect.Effect<boolean> }>(
  "aibrix-cache/ServiceStopping",
  { defaultValue: () => ({ stopping: Effect.succeed(false) }) }
)

/** Marks the service stopping, then waits `duration` (logging it) before the stop goes on. */
export const drain = (stopping: Ref.Ref<boolean>, duration: Duration.Duration): Effect.Effect<void> =>
  Ref.set(stopping, true).pipe(
    Effect.andThen(
      Duration.isZero(duration)
        ? Effect.void
        : Effect.logInfo("draining").pipe(
            Effect.annotateLogs({ ms: Duration.toMillis(duration) }),
            Effect.andThen(Effect.sleep(duration))
          )
    )
  )
