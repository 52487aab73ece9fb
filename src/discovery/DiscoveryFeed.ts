/**
 * The path from a discovery source to the store: events queued from any
 * callback, applied in order by one fiber through `CacheWriter`, in batches
 * of whatever accumulated meanwhile.
 */
import { Deferred, Effect, Queue, type Scope } from "effect"
import { CacheWriter } from "../cache/CacheWriter.ts"
import type { DiscoveryEvent } from "../store/DiscoveryEvent.ts"

export interface DiscoveryFeed {
  /** Queues an event; synchronous, safe from any callback. */
  readonly emit: (event: DiscoveryEvent) => void
  /** Waits until every event emitted before it has been applied to the store. */
  readonly flushed: Effect.Effect<void>
}

/** A marker in the queue: everything before it has been applied once it is reached. */
class Flush {
  readonly applied = Deferred.makeUnsafe<void>()
}

type Item = DiscoveryEvent | Flush

const applyBatch = (writer: CacheWriter["Service"], items: ReadonlyArray<Item>): Effect.Effect<void> =>
  Effect.suspend(() => {
    const effects: Array<Effect.Effect<unknown>> = []
    let events: Array<DiscoveryEvent> = []
    for (const item of items) {
      if (!(item instanceof Flush)) {
        events.push(item)
        continue
      }
      if (events.length > 0) effects.push(writer.applyAll(events))
      events = []
      effects.push(Deferred.succeed(item.applied, undefined))
    }
    if (events.length > 0) effects.push(writer.applyAll(events))
    return Effect.forEach(effects, (effect) => effect, { discard: true })
  })

/** A feed into the store's `CacheWriter`, drained by a fiber of the scope. */
export const makeDiscoveryFeed: Effect.Effect<DiscoveryFeed, never, CacheWriter | Scope.Scope> = Effect.gen(
  function* () {
    const writer = yield* CacheWriter
    const queue = yield* Queue.unbounded<Item>()
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.takeAll(queue), (items) => applyBatch(writer, items))))
    return {
      emit: (event) => {
        Queue.offerUnsafe(queue, event)
      },
      flushed: Effect.suspend(() => {
        const flush = new Flush()
        Queue.offerUnsafe(queue, flush)
        return Deferred.await(flush.applied)
      })
    }
  }
)
