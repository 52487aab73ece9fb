import { Context, type Effect } from "effect"
import type { DiscoveryEvent } from "../store/DiscoveryEvent.ts"

/**
 * How discovery sources (and tests) feed the store: the write side of a cache
 * layer, whose services read what it writes. What an event means, and what a
 * source must guarantee about the events it sends, is `DiscoveryEvent`'s
 * contract; this is how they are applied.
 *
 * - Each `apply` is one synchronous step of the store: a read running on any
 *   fiber sees the fleet as it was before the event or after it, never in
 *   between (a pod without its models, a model without its pods).
 * - `applyAll` applies its events in order as one step: no read sees part of
 *   the batch. A source that learns many changes at once (a list, a reloaded
 *   file) hands them over together.
 * - Events are applied in the order of the calls. The writer does not order
 *   events across sources or fibers: a source calls it from one fiber (the
 *   Kubernetes and static sources queue their events and apply them from one),
 *   and two sources writing the same key must agree on their order themselves.
 * - Neither fails: a malformed object is logged at warning level with the
 *   event and the reason, and skipped; the other events of the batch apply.
 * - A source that has applied its initial state raises its `CacheReadiness`;
 *   until then reads see the fleet as far as it has come.
 */
export class CacheWriter extends Context.Service<
  CacheWriter,
  {
    /** Applies one event as one step; a malformed object is logged and skipped, never thrown. */
    apply(event: DiscoveryEvent): Effect.Effect<void>
    /** Applies events in order, as one synchronous step. */
    applyAll(events: Iterable<DiscoveryEvent>): Effect.Effect<void>
  }
>()("aibrix-cache/CacheWriter") {}
