/**
 * Kubernetes discovery from the fake API server, through the client's real
 * informers: the initial sync of 10,000 pods and 500 adapters (time until the
 * store is ready), then a burst of 50,000 pod updates on the open watch
 * (events applied per second), after a smaller burst that warms the path up.
 * Each beside the plain store applying the same events directly, in this
 * process.
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

/** A pod about the size of a real engine pod as the API server serves it, without managedFields (~1.5 KB of JSON). */
const makePod = (i: number, resourceVersion = 0): V1Pod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: `engine-${i}`,
    namespace: `ns-${i % NAMESPACES}`,
    uid: `00000000-0000-0000-0000-${String(i).padStart(12, "0")}`,
    ...(resourceVersion > 0 ? { resourceVersion: String(resourceVersion) } : {}),
    labels: {
      "model.aibrix.ai/name": `model-${i % MODELS}`,
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

/** The same initial sync on the plain store: every pod, every adapter, the adapters again. */
const plainSync = (pods: ReadonlyArray<V1Pod>, adapters: ReadonlyArray<ModelAdapter>): number => {
  const start = performance.now()
  const store = new FleetStore()
  for (const pod of pods) store.apply(DiscoveryEvent.PodAdded({ pod }))
  for (const adapter of adapters) store.apply(DiscoveryEvent.AdapterAdded({ adapter }))
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

/**
 * Sends `count` updates of the pods on the open watch; returns the events/s
 * applied, the updates and their bytes per event.
 */
const sendUpdates = async (
  fake: FakeKubernetes,
  counter: UpdateCounter,
  makeUpdate: (i: number, resourceVersion: number) => V1Pod,
  count: number
): Promise<{ readonly applied: number; readonly updates: ReadonlyArray<V1Pod>; readonly bytes: number }> => {
  const base = fake.resourceVersion + counter.count
  const updates = Array.from({ length: count }, (_, k) => makeUpdate(k % POD_COUNT, base + 1 + k))
  const lines = updates.map((pod) => FakeKubernetes.watchLine("MODIFIED", pod)).join("")
  const applied = counter.waitFor(count)
  const start = performance.now()
  fake.sendRaw("pods", lines)
  await applied
  return { applied: (count / (performance.now() - start)) * 1000, updates, bytes: lines.length / count }
}

/**
 * `BURST` updates of the pods, after a smaller burst that warms the path up
 * (a cache that runs for hours runs it warm); returns the events/s applied and
 * the plain store's.
 */
const burst = async (
  fake: FakeKubernetes,
  counter: UpdateCounter,
  pods: ReadonlyArray<V1Pod>,
  makeUpdate: (i: number, resourceVersion: number) => V1Pod
): Promise<{ readonly applied: number; readonly plain: number; readonly bytes: number }> => {
  await sendUpdates(fake, counter, makeUpdate, WARMUP_BURST)
  const { applied, bytes, updates } = await sendUpdates(fake, counter, makeUpdate, BURST)
  return { applied, plain: plainUpdates(pods, updates), bytes }
}

export const run = async (): Promise<void> => {
  const fake = await FakeKubernetes.start()
  const pods = Array.from({ length: POD_COUNT }, (_, i) => fake.put("pods", makePod(i)))
  const adapters = Array.from({ length: ADAPTER_COUNT }, (_, i) => fake.put("modeladapters", makeAdapter(i)))
  const counter = new UpdateCounter()
  const layer = kubernetesDiscovery({ kubeConfig: fake.kubeConfig() }).pipe(
    Layer.provide(countingWriter(counter)),
    Layer.provideMerge(layerEmpty)
  )
  const scope = Effect.runSync(Scope.make())
  try {
    const syncStart = performance.now()
    const context = await Effect.runPromise(Layer.buildWithScope(layer, scope))
    await Effect.runPromise(Context.get(context, CacheReadiness).awaitReady)
    const syncMs = performance.now() - syncStart
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

    while (fake.openWatches("pods") === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    for (const [label, makeUpdate] of [
      ["compact pods", makeCompactPod],
      ["engine-sized pods", makePod]
    ] as const) {
      const { applied, bytes, plain } = await burst(fake, counter, pods, makeUpdate)
      printFigure(
        `burst of ${formatNumber(BURST)} updates of ${label} (${formatNumber(bytes)} bytes per event)`,
        applied,
        "events/s",
        ">= 50,000"
      )
      printComparison(
        `updates of ${label}`,
        { label: "watch + informer + store", value: applied },
        { label: "plain store", value: plain },
        "events/s"
      )
    }
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await fake.close()
  }
}
