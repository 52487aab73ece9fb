/**
 * Memory over a long run, through the public API, heap measured after a full
 * garbage collection (the runner gives this process `--expose-gc`):
 *
 * - churn: 500,000 pods added and deleted (a window of 100 alive, adapters
 *   coming and going), one routed request per pod of which one in three never
 *   finishes, the request lifetime shortened to 500 ms: the heap once the
 *   lifetime has passed, beside where it started (before the lifetime passed,
 *   the unfinished requests still hold their counts);
 * - soak: a live cache (`initFromSource`, lifetime 1 s) fed a million discovery
 *   events over a rolling fleet of 100 pods (added, updated, deleted; adapters
 *   that name pods which never come), one routed request per step of which one
 *   in ten never finishes, and the metric refresh scraping the ready pods'
 *   engines every 50 ms, engines in a child process that come and go (a pod
 *   whose engine went is refused). The heap once warm (100,000 events), in the
 *   middle and at the end, each after the lifetime has passed.
 *
 * Both must stay within 10% of their first figure. V8's flushing of the
 * bytecode of functions unused for a while is turned off: it would take the
 * start-up code, a few MB, out of the later figures only.
 */
import type { V1Pod } from "@kubernetes/client-node"
import { setFlagsFromString } from "node:v8"
import { ConfigProvider, Context, Effect, Layer, type Scope } from "effect"
import { initForTest, initFromSource, withRequestLifetime } from "../layers/index.ts"
import { CacheStore } from "../src/cache/CacheStore.ts"
import {
  CacheWriter,
  DiscoveryEvent,
  type ModelAdapter,
  PodCache,
  RequestTracker,
  RoutingContext
} from "../src/index.ts"
import { MetricRefresh } from "../src/metrics/MetricRefresh.ts"
import { METRIC_PORT_LABEL, MODEL_LABEL } from "../src/store/Pod.ts"
import { formatNumber } from "./report.ts"
import { childScript } from "./childProcess.ts"

const TOLERANCE = 0.1

setFlagsFromString("--no-flush-bytecode")

/** The heap after full collections. */
const heapAfterGc = (): number => {
  const gc = globalThis.gc
  if (gc === undefined) throw new Error("the soak benchmark needs node --expose-gc (npm run bench soak)")
  for (let i = 0; i < 8; i++) gc()
  return process.memoryUsage().heapUsed
}

const megabytes = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`

/** Lets timers and I/O run: the sweep, the refresh, the engines' answers. */
const breathe = Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))

/** The heaps beside the first, each with its change; the largest change must stay within the tolerance. */
const printHeaps = (title: string, heaps: ReadonlyArray<readonly [string, number]>): void => {
  const [, first] = heaps[0]!
  const change = (heap: number): number => heap / first - 1
  const percent = (heap: number): string => `${change(heap) >= 0 ? "+" : ""}${(change(heap) * 100).toFixed(1)}%`
  const worst = Math.max(...heaps.map(([, heap]) => Math.abs(change(heap))))
  const figures = heaps.map(([label, heap], i) => `${label} ${megabytes(heap)}${i === 0 ? "" : ` (${percent(heap)})`}`)
  console.log(
    `${title}: ${figures.join(", ")}: ${worst <= TOLERANCE ? "within" : "OUTSIDE"} ${TOLERANCE * 100}% of the first`
  )
}

const readyPod = (name: string, uid: string, ip: string, labels: Record<string, string>, ready = true): V1Pod => ({
  metadata: { name, namespace: "default", uid, labels },
  status: { podIP: ip, conditions: [{ type: "Ready", status: ready ? "True" : "False" }] }
})

const adapterNaming = (name: string, instances: ReadonlyArray<string>): ModelAdapter => ({
  apiVersion: "model.aibrix.ai/v1alpha1",
  kind: "ModelAdapter",
  metadata: { name, namespace: "default" },
  status: { instances: [...instances] }
})

/** Adds a request routed to `pod`; finishes it unless `finish` is false. */
const route = (pod: V1Pod, model: string, requestId: string, finish: boolean) =>
  Effect.gen(function* () {
    const tracker = yield* RequestTracker
    const ctx = RoutingContext.make({ model, requestId }).setTargetPod(pod)
    const term = yield* tracker.addRequestCount(ctx, requestId, model)
    if (finish) yield* tracker.doneRequestCount(ctx, requestId, model, term)
  })

// ---- churn: the measurement of the issue ------------------------------------------------

const CHURN_PODS = 500_000
const CHURN_WARMUP_PODS = 20_000
const CHURN_ALIVE = 100
const CHURN_LIFETIME_MS = 500

const churnPod = (i: number): V1Pod =>
  readyPod(`pod-${i}`, `uid-${i}`, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, {
    [MODEL_LABEL]: `model-${i % 10}`
  })

/** Pods `from` to `to` added and, `CHURN_ALIVE` later, deleted; an adapter every ten pods, each living for 50. */
const churnPods = (from: number, to: number) =>
  Effect.gen(function* () {
    const writer = yield* CacheWriter
    const alive: Array<V1Pod> = []
    for (let i = from; i < to; i++) {
      const pod = churnPod(i)
      alive.push(pod)
      yield* writer.apply(DiscoveryEvent.PodAdded({ pod }))
      if (i % 10 === 0) {
        yield* writer.apply(
          DiscoveryEvent.AdapterAdded({ adapter: adapterNaming(`lora-${i}`, [`pod-${i}`, `pod-${i + 5}`]) })
        )
        yield* writer.apply(DiscoveryEvent.AdapterDeleted({ adapter: adapterNaming(`lora-${i - 500}`, []) }))
      }
      yield* route(pod, `model-${i % 10}`, `request-${i}`, i % 3 !== 0)
      if (alive.length > CHURN_ALIVE) yield* writer.apply(DiscoveryEvent.PodDeleted({ pod: alive.shift()! }))
      if (i % 1000 === 0) yield* breathe
    }
    for (const pod of alive) yield* writer.apply(DiscoveryEvent.PodDeleted({ pod }))
    for (let i = to - 500; i < to; i += 10) {
      yield* writer.apply(DiscoveryEvent.AdapterDeleted({ adapter: adapterNaming(`lora-${i}`, []) }))
    }
  })

const churn = Effect.gen(function* () {
  const store = yield* CacheStore
  const passLifetime = Effect.sleep(CHURN_LIFETIME_MS + 1_100)
  yield* churnPods(0, CHURN_WARMUP_PODS)
  yield* passLifetime
  const start = heapAfterGc()
  const started = performance.now()
  yield* churnPods(CHURN_WARMUP_PODS, CHURN_WARMUP_PODS + CHURN_PODS)
  const seconds = (performance.now() - started) / 1000
  const held = heapAfterGc()
  const inFlight = store.inFlightCount
  yield* passLifetime
  const end = heapAfterGc()
  console.log(
    `churn: ${formatNumber(CHURN_PODS)} pods in ${seconds.toFixed(1)} s, one request in three unfinished ` +
      `(${formatNumber(store.abandonedCount)} released after ${CHURN_LIFETIME_MS} ms); ` +
      `before the lifetime passed ${megabytes(held)} with ${formatNumber(inFlight)} in flight`
  )
  printHeaps("churn heap", [
    ["start", start],
    ["once the lifetime passed", end]
  ])
  const sizes = Object.entries(store.sizes()).map(([map, size]) => `${size} ${map}`)
  console.log(`churn: the store's maps after: ${sizes.join(", ")}`)
}).pipe(Effect.provide(withRequestLifetime(initForTest, CHURN_LIFETIME_MS)))

// ---- soak: a live cache over a rolling fleet --------------------------------------------

const SOAK_EVENTS = 1_000_000
const SOAK_WARM = 100_000
const SOAK_ALIVE = 100
const SOAK_MODELS = 10
const SOAK_ENGINES = 10
const SOAK_LIFETIME_MS = 1_000
/** An engine goes and another comes this often (in events). */
const ROTATE_EVERY = 25_000
/** Nothing listens there: a pod whose engine is gone. */
const GONE_ENGINE_PORT = 1

/** The engines' child process, its ports kept current as engines come and go. */
const soakEngines = (count: number): Effect.Effect<{ ports: Array<number>; rotate(): void }, never, Scope.Scope> =>
  Effect.flatMap(childScript(new URL("./soakEngines.ts", import.meta.url), [String(count)]), ({ child, lines }) => {
    const ports: Array<number> = []
    lines.on("line", (line) => ports.splice(0, ports.length, ...(JSON.parse(line) as Array<number>)))
    return Effect.as(
      Effect.promise(() => new Promise((resolve) => lines.once("line", resolve))),
      { ports, rotate: () => void child.stdin.write("rotate\n") }
    )
  })

/** The rolling fleet: which pods are alive, which adapters applied. */
class RollingFleet {
  readonly alive: Array<V1Pod> = []
  readonly adapters: Array<ModelAdapter> = []
  readonly ports: ReadonlyArray<number>
  #next = 0

  constructor(ports: ReadonlyArray<number>) {
    this.ports = ports
  }

  /** A new pod: most on a live engine, some on one that is gone; most ready. */
  nextPod(): V1Pod {
    const i = this.#next++
    const port = i % 5 === 4 ? GONE_ENGINE_PORT : this.ports[i % this.ports.length]!
    return readyPod(
      `pod-${i}`,
      `uid-${i}`,
      "127.0.0.1",
      { [MODEL_LABEL]: `model-${i % SOAK_MODELS}`, [METRIC_PORT_LABEL]: String(port) },
      i % 3 !== 2
    )
  }

  /** The same pod, its readiness flipped: a new object, as an informer hands it. */
  static flipped(pod: V1Pod): V1Pod {
    const ready = pod.status?.conditions?.[0]?.status === "True"
    return { ...pod, status: { ...pod.status, conditions: [{ type: "Ready", status: ready ? "False" : "True" }] } }
  }

  nextAdapter(): ModelAdapter {
    const i = this.#next
    const known = this.alive.slice(-2).map((pod) => pod.metadata!.name!)
    return adapterNaming(`lora-${i}`, [...known, `never-${i}`])
  }
}

/** One step of the rolling fleet: a pod added, one updated, the oldest deleted, now and then an adapter; a request. */
const soakStep = (fleet: RollingFleet, step: number) =>
  Effect.gen(function* () {
    const writer = yield* CacheWriter
    let events = 0
    const pod = fleet.nextPod()
    fleet.alive.push(pod)
    yield* writer.apply(DiscoveryEvent.PodAdded({ pod }))
    events++
    const updated = step % fleet.alive.length
    const newPod = RollingFleet.flipped(fleet.alive[updated]!)
    yield* writer.apply(DiscoveryEvent.PodUpdated({ oldPod: fleet.alive[updated]!, newPod }))
    fleet.alive[updated] = newPod
    events++
    if (fleet.alive.length > SOAK_ALIVE) {
      const oldest = fleet.alive.shift()!
      yield* writer.apply(
        step % 2 === 0
          ? DiscoveryEvent.PodDeleted({ pod: oldest })
          : DiscoveryEvent.PodDeletedByKey({ key: `default/${oldest.metadata!.name}` })
      )
      events++
    }
    if (step % 5 === 0) {
      const adapter = fleet.nextAdapter()
      fleet.adapters.push(adapter)
      yield* writer.apply(DiscoveryEvent.AdapterAdded({ adapter }))
      events++
      if (fleet.adapters.length > 20) {
        const old = fleet.adapters.shift()!
        yield* writer.apply(DiscoveryEvent.AdapterDeleted({ adapter: old }))
        events++
      }
    }
    const model = `model-${step % SOAK_MODELS}`
    const candidates = yield* PodCache.use((cache) => cache.listPodsByModel(model)).pipe(
      Effect.map((list) => list.all()),
      Effect.orElseSucceed((): ReadonlyArray<V1Pod> => [])
    )
    const target = candidates[step % Math.max(1, candidates.length)]
    if (target !== undefined) yield* route(target, model, `request-${step}`, step % 10 !== 0)
    return events
  })

const soak = Effect.gen(function* () {
  const engines = yield* soakEngines(SOAK_ENGINES)
  const context = yield* Layer.build(
    initFromSource(Layer.empty).pipe(
      Layer.provide(
        ConfigProvider.layer(
          ConfigProvider.fromEnv({
            env: { ...process.env, AIBRIX_REQUEST_MAX_LIFETIME_MS: String(SOAK_LIFETIME_MS) }
          })
        )
      )
    )
  )
  const store = Context.get(context, CacheStore)
  const fleet = new RollingFleet(engines.ports)
  const heaps: Array<readonly [string, number]> = []
  const checkpoints = [
    ["warm", SOAK_WARM],
    ["middle", (SOAK_WARM + SOAK_EVENTS) / 2],
    ["end", SOAK_EVENTS]
  ] as const
  let events = 0
  let step = 0
  let rotated = 0
  const started = performance.now()
  for (const [label, at] of checkpoints) {
    while (events < at) {
      events += yield* soakStep(fleet, step++).pipe(Effect.provideContext(context))
      if (events >= (rotated + 1) * ROTATE_EVERY) {
        rotated++
        engines.rotate()
      }
      if (step % 500 === 0) yield* breathe
    }
    yield* Effect.sleep(SOAK_LIFETIME_MS + 1_500)
    heaps.push([label, heapAfterGc()])
    const refresh = yield* MetricRefresh.use((refresh) => refresh.statistics).pipe(Effect.provideContext(context))
    console.log(
      `soak ${label}: ${formatNumber(events)} events, ${store.podCount} pods (${refresh.engine.pods.length} in the refresh), ` +
        `${store.listAdapters().length} adapters (${store.sizes().rememberedInstances} pod keys listed), ` +
        `${store.inFlightCount} requests in flight, ` +
        `${formatNumber(store.abandonedCount)} abandoned, ${formatNumber(refresh.engine.outcomes.ok)} scrapes ok, ` +
        `${formatNumber(refresh.engine.outcomes.transport)} refused, heap ${megabytes(heaps.at(-1)![1])}`
    )
  }
  const seconds = (performance.now() - started) / 1000
  console.log(`soak: ${formatNumber(events)} events in ${seconds.toFixed(1)} s, ${rotated} engines replaced`)
  printHeaps("soak heap", heaps)
}).pipe(Effect.scoped)

export const run = (): Promise<void> => Effect.runPromise(Effect.andThen(churn, soak))
