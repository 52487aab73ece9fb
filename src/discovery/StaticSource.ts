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
import { type Duration, Effect, Exit, FileSystem, Layer, type PlatformError, type Scope } from "effect"
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

/** The file's text, or why there is none. */
type FileContent =
  | { readonly _tag: "Text"; readonly text: string }
  | { readonly _tag: "Unreadable"; readonly problem: string }

const sameContent = (a: FileContent, b: FileContent): boolean =>
  a._tag === "Text" ? b._tag === "Text" && a.text === b.text : b._tag === "Unreadable" && a.problem === b.problem

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** The system's reason (`ENOENT: no such file or directory, …`) rather than the platform's wrapping of it. */
const readFailure = (error: PlatformError.PlatformError): string => {
  const cause = error.reason.cause
  return cause instanceof Error ? cause.message : error.message
}

const readContent = (fs: FileSystem.FileSystem, path: string): Effect.Effect<FileContent> =>
  fs.readFile(path).pipe(
    Effect.map((bytes): FileContent => {
      try {
        return { _tag: "Text", text: utf8.decode(bytes) }
      } catch {
        return { _tag: "Unreadable", problem: "not a UTF-8 text file" }
      }
    }),
    Effect.catch((error) =>
      Effect.succeed<FileContent>({ _tag: "Unreadable", problem: `cannot read the file: ${readFailure(error)}` })
    )
  )

/** The most of one problem a failure quotes: a parser's message may quote a whole line of the file. */
const MAX_PROBLEM_LENGTH = 300

const clipProblem = (problem: string): string =>
  problem.length <= MAX_PROBLEM_LENGTH ? problem : `${problem.slice(0, MAX_PROBLEM_LENGTH)}… (cut)`

/** The fleet in the file's content. */
const fleetOf = (path: string, content: FileContent): Effect.Effect<ReadonlyMap<PodKey, V1Pod>, StaticFleetInvalid> =>
  Effect.suspend(() => {
    if (content._tag === "Unreadable") return Effect.fail(new StaticFleetInvalid({ path, problems: [content.problem] }))
    const parsed = parseStaticFleet(content.text)
    if (Exit.isSuccess(parsed)) return Effect.succeed(staticPods(parsed.value))
    const problems = parsed.cause.reasons.flatMap((reason) => (reason._tag === "Fail" ? reason.error : []))
    return Effect.fail(new StaticFleetInvalid({ path, problems: problems.map(clipProblem) }))
  })

/** Synthetic pods are plain data built the same way every time: equal text, equal pod. */
const samePod = (a: V1Pod, b: V1Pod): boolean => JSON.stringify(a) === JSON.stringify(b)

/**
 * The events that turn the `current` fleet into the `next` one: a pod whose
 * labels changed (its engine) is updated, unchanged pods emit nothing.
 */
export const fleetDifferences = (
  current: ReadonlyMap<PodKey, V1Pod>,
  next: ReadonlyMap<PodKey, V1Pod>
): ReadonlyArray<DiscoveryEvent> => {
  const events: Array<DiscoveryEvent> = []
  for (const [key, pod] of current) if (!next.has(key)) events.push(DiscoveryEvent.PodDeleted({ pod }))
  for (const [key, pod] of next) {
    const previous = current.get(key)
    if (previous === undefined) events.push(DiscoveryEvent.PodAdded({ pod }))
    else if (!samePod(previous, pod)) events.push(DiscoveryEvent.PodUpdated({ oldPod: previous, newPod: pod }))
  }
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
    const read = readContent(fs, path)

    let content = yield* read
    let fleet = yield* fleetOf(path, content)
    yield* writer.applyAll(Array.from(fleet.values(), (pod) => DiscoveryEvent.PodAdded({ pod })))
    yield* signal.markReady
    yield* Effect.logInfo("static fleet loaded").pipe(Effect.annotateLogs({ path, endpoints: fleet.size }))

    const reload = Effect.gen(function* () {
      let next = yield* read
      if (sameContent(next, content)) return
      // Wait until the content holds still: editors write in steps.
      while (true) {
        yield* Effect.sleep(debounce)
        const settled = yield* read
        if (sameContent(settled, next)) break
        next = settled
      }
      content = next
      const loaded = yield* Effect.result(fleetOf(path, content))
      if (loaded._tag === "Failure") {
        return yield* Effect.logWarning("static fleet not reloaded, keeping it as it was").pipe(
          Effect.annotateLogs({ path, error: loaded.failure.message })
        )
      }
      const events = fleetDifferences(fleet, loaded.success)
      const previous = fleet
      fleet = new Map(
        Array.from(loaded.success, ([key, pod]) => {
          const kept = previous.get(key)
          return [key, kept !== undefined && samePod(kept, pod) ? kept : pod]
        })
      )
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
