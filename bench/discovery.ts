/**
 * Kubernetes discovery from the fake API server, through the client's real
 * informers.
 *
 * A labelled fleet: the initial sync of 10,000 serving pods and 500 adapters
 * (time until the store is ready), then bursts of 50,000 pod updates on the
 * open watch (events applied per second), compact and engine-sized, each after
 * a smaller burst that warms the path up.
 *
 * A mixed cluster, watched without a label selector: 10,000 pods of which
 * 1,000 serve a model; the initial sync, then a burst of 50,000 updates over
 * all of them (events followed per second, most of them dropped as not
 * tracked).
 *
 * Each beside the plain store applying the same events directly, in this
 * process. The watch lines are serialized and encoded before the clock
 * starts: the server's own work stays out of the measurement.
 */
import type { V1Pod } from "@kubernetes/client-node"
import { Context, Deferred, Effect, Exit, Layer, Scope } from "effect"
import { kubernetesDiscovery } from "../layers/index.ts"
import { CacheReadiness, CacheWriter, DiscoveryEvent, type ModelAdapter } from "../src/index.ts"
import { FleetStore } from "../src/store/FleetStore.ts"
import { layerEmpty } from "../src/cache/Cache.ts"
import { FakeKubernetes } from "../test/support/FakeKubernetes.ts"
import { formatNumber, opsPerSecond, printComparison, printFigure } from "./report.ts"

const POD_COUNT = 10_000
const ADAPTER_COUNT = 500
const BURST = 50_000
const WARMUP_BURST = 20_000
const NAMESPACES = 10
const MODELS = 50
/** In the mixed cluster, one pod in this many serves a model. */
const SERVING_EVERY = 10

/**
 * A pod about the size of a real engine pod as the API server serves it,
 * without managedFields (~1.5 KB of JSON); one that does not serve has no
 * model label and is about the same size.
 */
const makePod = (i: number, resourceVersion = 0, serving = true): V1Pod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: `engine-${i}`,
    namespace: `ns-${i % NAMESPACES}`,
    uid: `00000000-0000-0000-0000-${String(i).padStart(12, "0")}`,
    ...(resourceVersion > 0 ? { resourceVersion: String(resourceVersion) } : {}),
    labels: {
      ...(serving ? { "model.aibrix.ai/name": `model-${i % MODELS}` } : { "app.kubernetes.io/part-of": "web" }),
      "model.aibrix.ai/port": "8000",
      "app.kubernetes.io/name": `deploy-${i % MODELS}`,
      "pod-template-hash": "7d9f8c6b5"
    },
    annotations: { "prometheus.io/scrape": "true", "prometheus.io/port": "8000" },
    ownerReferences: [
      {
        apiVersion: "apps/v1",
        kind: "ReplicaSet",
        name: `deploy-${i % MODELS}-7d9f8c6b5`,
        uid: "11111111-2222-3333-4444-555555555555",
        controller: true
      }
    ]
  },
  spec: {
    nodeName: `gpu-node-${i % 200}`,
    containers: [
      {
        name: "vllm-openai",
        image: "vllm/vllm-openai:v0.6.3",
        command: ["python3", "-m", "vllm.entrypoints.openai.api_server"],
        args: ["--host", "0.0.0.0", "--port", "8000", "--model", `/models/model-${i % MODELS}`, "--enable-lora"],
        ports: [{ containerPort: 8000, protocol: "TCP" }],
        resources: { limits: { "nvidia.com/gpu": "1" }, requests: { "nvidia.com/gpu": "1" } },
        env: [{ name: "VLLM_ALLOW_RUNTIME_LORA_UPDATING", value: "True" }]
      }
    ]
  },
  status: {
    phase: "Running",
    podIP: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    hostIP: `192.168.${(i % 200) >> 8}.${i % 200}`,
    conditions: [
      { type: "Initialized", status: "True" },
      { type: "Ready", status: resourceVersion % 2 === 0 ? "True" : "False" },
      { type: "ContainersReady", status: "True" },
      { type: "PodScheduled", status: "True" }
    ],
    containerStatuses: [
      {
        name: "vllm-openai",
        ready: true,
        restartCount: 0,
        image: "vllm/vllm-openai:v0.6.3",
        imageID: "docker.io/vllm/vllm-openai@sha256:0123456789abcdef",
        containerID: `containerd://${String(i).padStart(64, "0")}`
      }
    ]
  }
})

/** A pod with only what the cache reads (~0.4 KB of JSON), as in the tests. */
const makeCompactPod = (i: number, resourceVersion: number): V1Pod => ({
  metadata: {
    name: `engine-${i}`,
    namespace: `ns-${i % NAMESPACES}`,
    uid: `00000000-0000-0000-0000-${String(i).padStart(12, "0")}`,
    resourceVersion: String(resourceVersion),
    labels: { "model.aibrix.ai/name": `model-${i % MODELS}`, "app.kubernetes.io/name": `deploy-${i % MODELS}` }
  },
  status: {
    podIP: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    conditions: [{ type: "Ready", status: resourceVersion % 2 === 0 ? "True" : "False" }]
  }
})

const makeAdapter = (i: number): ModelAdapter => {
  const namespace = i % NAMESPACES
  const instances = Array.from({ length: 5 }, (_, k) => `engine-${((i * 5 + k) * NAMESPACES + namespace) % POD_COUNT}`)
  return {
    apiVersion: "model.aibrix.ai/v1alpha1",
    kind: "ModelAdapter",
    metadata: { name: `lora-${i}`, namespace: `ns-${namespace}` },
    spec: { baseModel: `model-${i % MODELS}`, artifactURL: `s3://adapters/lora-${i}` },
    status: { phase: "Running", instances }
  }
}

/** Counts the pod updates applied, and signals when a count is reached. */
class UpdateCounter {
  count = 0
  /** Updates sent on the watch so far, tracked or not: each takes the next resource version. */
  sent = 0
  #target = Number.POSITIVE_INFINITY
  #reached = Deferred.makeUnsafe<void>()

  add(events: ReadonlyArray<DiscoveryEvent>): void {
    for (const event of events) if (event._tag === "PodUpdated") this.count++
    if (this.count >= this.#target) Deferred.doneUnsafe(this.#reached, Exit.void)
  }

  /** Resolves once `more` updates beyond the current count have been applied. */
  waitFor(more: number): Promise<void> {
    this.#target = this.count + more
    this.#reached = Deferred.makeUnsafe<void>()
    return Effect.runPromise(Deferred.await(this.#reached))
  }
}

/** A `CacheWriter` that forwards to the cache's and counts the updates it applied. */
const countingWriter = (counter: UpdateCounter) =>
  Layer.effect(
    CacheWriter,
    Effect.gen(function* () {
      const inner = yield* CacheWriter
      return CacheWriter.of({
        apply: (event) =>
          Effect.andThen(
            inner.apply(event),
            Effect.sync(() => counter.add([event]))
          ),
        applyAll: (events) =>
          Effect.suspend(() => {
            const batch = Array.from(events)
            return Effect.andThen(
              inner.applyAll(batch),
              Effect.sync(() => counter.add(batch))
            )
          })
      })
    })
  )

/** The same initial sync on the plain store: every pod, then every adapter. */
const plainSync = (pods: ReadonlyArray<V1Pod>, adapters: ReadonlyArray<ModelAdapter>): number => {
  const start = performance.now()
  const store = new FleetStore()
  for (const pod of pods) store.apply(DiscoveryEvent.PodAdded({ pod }))
  for (const adapter of adapters) store.apply(DiscoveryEvent.AdapterAdded({ adapter }))
  return performance.now() - start
}

const plainUpdates = (pods: ReadonlyArray<V1Pod>, updates: ReadonlyArray<V1Pod>): number => {
  const store = new FleetStore()
  for (const pod of pods) store.apply(DiscoveryEvent.PodAdded({ pod }))
  const last = new Map(pods.map((pod) => [pod.metadata!.name!, pod]))
  const events = updates.map((newPod) => {
    const oldPod = last.get(newPod.metadata!.name!)!
    last.set(newPod.metadata!.name!, newPod)
    return DiscoveryEvent.PodUpdated({ oldPod, newPod })
  })
  return opsPerSecond(
    () => {
      for (const event of events) store.apply(event)
    },
    events.length,
    3
  )
}

/** A burst of watch lines, serialized and encoded as the server would send them. */
interface Burst {
  readonly updates: ReadonlyArray<V1Pod>
  readonly lines: Buffer
  /** How many of the updates the store tracks: the ones that reach it. */
  readonly tracked: number
}

const makeBurst = (
  fake: FakeKubernetes,
  counter: UpdateCounter,
  makeUpdate: (i: number, resourceVersion: number) => V1Pod,
  count: number,
  isTracked: (i: number) => boolean = () => true
): Burst => {
  const base = fake.resourceVersion + counter.sent
  counter.sent += count
  const updates = Array.from({ length: count }, (_, k) => makeUpdate(k % POD_COUNT, base + 1 + k))
  const lines = Buffer.from(updates.map((pod) => FakeKubernetes.watchLine("MODIFIED", pod)).join(""))
  let tracked = 0
  for (let k = 0; k < count; k++) if (isTracked(k % POD_COUNT)) tracked++
  return { updates, lines, tracked }
}

/**
 * Sends the burst on the open watch and waits until its last tracked update
 * is in the store (events are handled in order: all before it are done);
 * returns the events/s followed.
 */
const sendBurst = async (fake: FakeKubernetes, counter: UpdateCounter, burst: Burst): Promise<number> => {
  const applied = counter.waitFor(burst.tracked)
  const start = performance.now()
  fake.sendRaw("pods", burst.lines)
  await applied
  return (burst.updates.length / (performance.now() - start)) * 1000
}

/** Starts discovery from the fake with a counting writer; returns once ready, with the time it took. */
const startDiscovery = async (fake: FakeKubernetes, counter: UpdateCounter, scope: Scope.Scope): Promise<number> => {
  const layer = kubernetesDiscovery({ kubeConfig: fake.kubeConfig(), relistInterval: 0 }).pipe(
    Layer.provide(countingWriter(counter)),
    Layer.provideMerge(layerEmpty)
  )
  const start = performance.now()
  const context = await Effect.runPromise(Layer.buildWithScope(layer, scope))
  await Effect.runPromise(Context.get(context, CacheReadiness).awaitReady)
  const syncMs = performance.now() - start
  while (fake.openWatches("pods") === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  return syncMs
}

/** Runs `body` against a fake server holding `populate`'s objects, then stops both. */
const withCluster = async (
  populate: (fake: FakeKubernetes) => void,
  body: (fake: FakeKubernetes, scope: Scope.Scope) => Promise<void>
): Promise<void> => {
  const fake = await FakeKubernetes.start()
  populate(fake)
  const scope = Effect.runSync(Scope.make())
  try {
    await body(fake, scope)
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await fake.close()
  }
}

const labelledFleet = async (): Promise<void> => {
  let pods: ReadonlyArray<V1Pod> = []
  let adapters: ReadonlyArray<ModelAdapter> = []
  const populate = (fake: FakeKubernetes) => {
    pods = Array.from({ length: POD_COUNT }, (_, i) => fake.put("pods", makePod(i)))
    adapters = Array.from({ length: ADAPTER_COUNT }, (_, i) => fake.put("modeladapters", makeAdapter(i)))
  }
  await withCluster(populate, async (fake, scope) => {
    const counter = new UpdateCounter()
    const syncMs = await startDiscovery(fake, counter, scope)
    const plainMs = plainSync(pods, adapters)
    const objects = POD_COUNT + ADAPTER_COUNT
    printFigure(
      `initial sync of ${formatNumber(POD_COUNT)} pods (~1.5 KB each) and ${ADAPTER_COUNT} adapters until ready`,
      syncMs,
      "ms",
      "< 3,000 ms"
    )
    printComparison(
      "initial sync",
      { label: "fake API server + informers", value: (objects / syncMs) * 1000 },
      { label: "plain store", value: (objects / plainMs) * 1000 },
      "objects/s"
    )
    for (const [label, makeUpdate] of [
      ["compact pods", makeCompactPod],
      ["engine-sized pods", makePod]
    ] as const) {
      // A cache that runs for hours runs the path warm.
      await sendBurst(fake, counter, makeBurst(fake, counter, makeUpdate, WARMUP_BURST))
      const burst = makeBurst(fake, counter, makeUpdate, BURST)
      const applied = await sendBurst(fake, counter, burst)
      printFigure(
        `burst of ${formatNumber(BURST)} updates of ${label} (${formatNumber(burst.lines.length / BURST)} bytes per event)`,
        applied,
        "events/s",
        ">= 50,000"
      )
      printComparison(
        `updates of ${label}`,
        { label: "watch + informer + store", value: applied },
        { label: "plain store", value: plainUpdates(pods, burst.updates) },
        "events/s"
      )
    }
  })
}

const isServing = (i: number): boolean => i % SERVING_EVERY === 0
const makeMixedPod = (i: number, resourceVersion = 0): V1Pod => makePod(i, resourceVersion, isServing(i))

const mixedCluster = async (): Promise<void> => {
  let pods: ReadonlyArray<V1Pod> = []
  const populate = (fake: FakeKubernetes) => {
    pods = Array.from({ length: POD_COUNT }, (_, i) => fake.put("pods", makeMixedPod(i)))
  }
  await withCluster(populate, async (fake, scope) => {
    const counter = new UpdateCounter()
    const syncMs = await startDiscovery(fake, counter, scope)
    const serving = POD_COUNT / SERVING_EVERY
    const plainMs = plainSync(pods, [])
    printFigure(
      `initial sync of a cluster of ${formatNumber(POD_COUNT)} pods, ${formatNumber(serving)} serving, without a selector, until ready`,
      syncMs,
      "ms",
      "< 3,000 ms"
    )
    printComparison(
      "initial sync without a selector",
      { label: "fake API server + informers", value: (POD_COUNT / syncMs) * 1000 },
      { label: "plain store", value: (POD_COUNT / plainMs) * 1000 },
      "pods/s"
    )
    await sendBurst(fake, counter, makeBurst(fake, counter, makeMixedPod, WARMUP_BURST, isServing))
    const burst = makeBurst(fake, counter, makeMixedPod, BURST, isServing)
    const followed = await sendBurst(fake, counter, burst)
    printFigure(
      `burst of ${formatNumber(BURST)} updates over that cluster, ${formatNumber(burst.tracked)} of serving pods`,
      followed,
      "events/s"
    )
    printComparison(
      "updates over a mixed cluster",
      { label: "watch + informer + store", value: followed },
      { label: "plain store", value: plainUpdates(pods, burst.updates) },
      "events/s"
    )
  })
}

export const run = async (): Promise<void> => {
  await labelledFleet()
  await mixedCluster()
}
