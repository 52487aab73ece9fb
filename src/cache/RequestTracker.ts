import { Context, type Effect } from "effect"
import type { RoutingContext } from "../store/RoutingContext.ts"

/** The request's routing context, when the caller has one. */
export type MaybeRoutingContext = RoutingContext | null | undefined

/**
 * The gateway's own counts (pending per model, running per pod) and, when the
 * trace is on, the per-model workload trace, kept exactly once per request.
 *
 * A request is identified by its id while it is in flight: from
 * `addRequestCount` to the first `done*` for that id, or its release. Ids must
 * be unique among the requests in flight; once done, an id may be used again.
 *
 * - `addRequestCount` counts the request pending for its model, if the model
 *   exists at that moment, and running on the routed pod, if `ctx` has a
 *   target pod the cache tracks (the same pod, not one recreated under its
 *   name since routing), whose `realtime_num_requests_running` then shows the
 *   new count. An add for an id already in flight counts nothing again.
 * - A `done*` gives back exactly what the add of its id counted, to the very
 *   counters that counted it: the model's pending count (even if the model
 *   lost its pods meanwhile), and the running count of that pod entry; a pod
 *   deleted or recreated since has nothing given back. Its `ctx` and `model`
 *   are not read again. A `done*` for an id not in flight (never added,
 *   already done, or released) changes nothing, so calling both
 *   `doneRequestCount` and `doneRequestTrace`, or one twice, counts once.
 *   Counts never go below zero.
 * - The trace (on only in a layer that runs its flush): the add counts the
 *   request in its model's open window and returns the window's term (0 while
 *   the trace is off). A `done*` whose term is the open window's counts the
 *   request as completed in it; a term from before the last flush does not.
 *   `doneRequestTrace` also adds the request's token sizes to the window open
 *   now, whatever its term. Hand each `done*` the term its add returned.
 * - A request whose `done*` never comes is released once its lifetime (one
 *   hour unless `AIBRIX_REQUEST_MAX_LIFETIME_MS` or `withRequestLifetime` says)
 *   has passed: its counts go back as on a `done*`, but it counts as
 *   abandoned (`aibrix_cache_requests_abandoned_total`), not completed, and a
 *   `done*` that comes later is one for an id not in flight.
 *
 * Each method is one synchronous step of the store and never fails: it is
 * safe on the request path.
 */
export class RequestTracker extends Context.Service<
  RequestTracker,
  {
    /** Counts a new request; returns its trace term, to hand back to `done*`. */
    addRequestCount(ctx: MaybeRoutingContext, requestId: string, model: string): Effect.Effect<number>
    /** Gives back what `addRequestCount` counted for this request id, once. */
    doneRequestCount(ctx: MaybeRoutingContext, requestId: string, model: string, term: number): Effect.Effect<void>
    /** As `doneRequestCount`, and records the request's token sizes in the trace. */
    doneRequestTrace(
      ctx: MaybeRoutingContext,
      requestId: string,
      model: string,
      inputTokens: number,
      outputTokens: number,
      term: number
    ): Effect.Effect<void>
  }
>()("aibrix-cache/RequestTracker") {}
