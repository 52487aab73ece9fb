/**
 * Discovery from a static fleet file (see `StaticFleet.ts`), for everything
 * that is not a Kubernetes cluster. A scoped resource: acquiring it reads the
 * file (a bad file fails start-up, saying where and what was expected) and
 * applies its pods; then the file is read again every poll interval, and once
 * its content changed and stayed the same for the debounce period, only the
 * differences are applied. Reading the content, not watching the inode, keeps
 * it right across editors that replace the file instead of writing it; a file
 * that is missing or invalid for a while is logged and the fleet kept.
 */
import type { V1Pod } from "@kubernetes/client-node"
import { NodeFileSystem } from "@effect/platform-node"
import { type Duration, Effect, Exit, FileSystem, Layer, type Scope } from "effect"
import { CacheReadiness, makeReadinessSignal } from "../cache/CacheReadiness.ts"
import { CacheWriter } from "../cache/CacheWriter.ts"
import { DiscoveryEvent } from "../store/DiscoveryEvent.ts"
import { StaticFleetInvalid } from "./DiscoveryErrors.ts"
import type { PodKey } from "../store/Pod.ts"
import { parseStaticFleet, staticPods } from "./StaticFleet.ts"

export interface StaticSourceOptions {
  /** How often the file is read for changes (default 1 second). */
  readonly pollInterval?: Duration.Input | undefined
  /** How long a changed content must stay the same before it is applied (default 200 ms). */
  readonly debounce?: Duration.Input | undefined
}

/** The fleet in the file's text (`undefined`: the file could not be read). */
const fleetOf = (
  path: string,
  text: string | undefined
): Effect.Effect<ReadonlyMap<PodKey, V1Pod>, StaticFleetInvalid> =>
  Effect.suspend(() => {
    if (text === undefined) return Effect.fail(new StaticFleetInvalid({ path, problems: ["cannot read the file"] }))
    const parsed = parseStaticFleet(text)
    if (Exit.isSuccess(parsed)) return Effect.succeed(staticPods(parsed.value))
    const problems = parsed.cause.reasons.flatMap((reason) => (reason._tag === "Fail" ? reason.error : []))
    return Effect.fail(new StaticFleetInvalid({ path, problems }))
  })

/** The events that turn the `current` fleet into the `next` one; unchanged pods emit nothing. */
export const fleetDifferences = (
  current: ReadonlyMap<PodKey, V1Pod>,
  next: ReadonlyMap<PodKey, V1Pod>
): ReadonlyArray<DiscoveryEvent> => {
  const events: Array<DiscoveryEvent> = []
  for (const [key, pod] of current) if (!next.has(key)) events.push(DiscoveryEvent.PodDeleted({ pod }))
  for (const [key, pod] of next) if (!current.has(key)) events.push(DiscoveryEvent.PodAdded({ pod }))
  return events
}

/** Starts the source in the current scope; returns once the file's pods are in the store. */
export const makeStaticSource = (
  path: string,
  options: StaticSourceOptions = {}
): Effect.Effect<CacheReadiness["Service"], StaticFleetInvalid, CacheWriter | FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const writer = yield* CacheWriter
    const signal = yield* makeReadinessSignal
    const pollInterval = options.pollInterval ?? "1 second"
    const debounce = options.debounce ?? "200 millis"
    const read = fs.readFileString(path).pipe(
      Effect.map((text): string | undefined => text),
      Effect.orElseSucceed(() => undefined)
    )

    let text = yield* read
    let fleet = yield* fleetOf(path, text)
    yield* writer.applyAll(Array.from(fleet.values(), (pod) => DiscoveryEvent.PodAdded({ pod })))
    yield* signal.markReady
    yield* Effect.logInfo("static fleet loaded").pipe(Effect.annotateLogs({ path, endpoints: fleet.size }))

    const reload = Effect.gen(function* () {
      let next = yield* read
      if (next === text) return
      // Wait until the content holds still: editors write in steps.
      while (true) {
        yield* Effect.sleep(debounce)
        const settled = yield* read
        if (settled === next) break
        next = settled
      }
      text = next
      const loaded = yield* Effect.result(fleetOf(path, text))
      if (loaded._tag === "Failure") {
        return yield* Effect.logWarning("static fleet not reloaded, keeping it as it was").pipe(
          Effect.annotateLogs({ path, error: loaded.failure.message })
        )
      }
      const events = fleetDifferences(fleet, loaded.success)
      fleet = new Map(Array.from(loaded.success, ([key, pod]) => [key, fleet.get(key) ?? pod]))
      if (events.length === 0) return
      yield* writer.applyAll(events)
      yield* Effect.logInfo("static fleet reloaded").pipe(
        Effect.annotateLogs({ path, changes: events.length, endpoints: fleet.size })
      )
    })
    yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(pollInterval), reload)))
    return signal.readiness
  })

/**
 * The fleet of a static YAML or JSON file, followed as it changes, as a layer
 * over a cache layer's `CacheWriter` providing `CacheReadiness`; files are read
 * with Node. Closing its scope stops the poller.
 */
export const staticDiscovery = (
  path: string,
  options: StaticSourceOptions = {}
): Layer.Layer<CacheReadiness, StaticFleetInvalid, CacheWriter> =>
  Layer.effect(CacheReadiness, makeStaticSource(path, options)).pipe(Layer.provide(NodeFileSystem.layer))
