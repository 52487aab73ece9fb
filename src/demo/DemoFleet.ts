/**
 * The built-in demo: a small fleet of simulated engines on loopback (three
 * pods, two base models, one LoRA adapter; two vLLM engines and one SGLang
 * engine, each pod labelled with its engine) whose load moves every second, fed
 * to the store as Kubernetes would feed it: ready pods at 127.0.0.1 whose
 * metric-port label is their engine's port, and a ModelAdapter. The metric
 * refresh then scrapes the engines like real ones.
 */
import type { V1Pod } from "@kubernetes/client-node"
import { Context, Duration, Effect, Layer, Random, Schedule } from "effect"
import { CacheReadiness, makeReadinessSignal } from "../cache/CacheReadiness.ts"
import { CacheWriter } from "../cache/CacheWriter.ts"
import { DiscoveryEvent } from "../store/DiscoveryEvent.ts"
import { EngineSimulator, type EngineSimulatorError } from "./EngineSimulator.ts"
import type { ModelAdapter } from "../store/ModelAdapter.ts"
import type { Engine } from "../metrics/MetricCatalogue.ts"
import { DEPLOYMENT_LABEL, ENGINE_LABEL, METRIC_PORT_LABEL, MODEL_LABEL } from "../store/Pod.ts"

export const DEMO_NAMESPACE = "demo"

/** One simulated pod: its name, base model, engine and the adapters its engine runs. */
export interface DemoPodSpec {
  readonly name: string
  readonly model: string
  readonly engine: Engine
  readonly adapters: ReadonlyArray<string>
}

export const DEMO_PODS: ReadonlyArray<DemoPodSpec> = [
  { name: "llama-3-8b-0", model: "llama-3-8b", engine: "vllm", adapters: ["llama-3-8b-sql-lora"] },
  { name: "llama-3-8b-1", model: "llama-3-8b", engine: "vllm", adapters: [] },
  { name: "qwen-2.5-7b-0", model: "qwen-2.5-7b", engine: "sglang", adapters: [] }
]

/** How often the engines' load moves. */
export const DEMO_TICK = Duration.seconds(1)

export interface DemoEngine {
  readonly pod: V1Pod
  readonly engine: EngineSimulator
}

/** The running demo: its engines, by pod. */
export class DemoFleet extends Context.Service<
  DemoFleet,
  {
    readonly engines: ReadonlyArray<DemoEngine>
  }
>()("aibrix-cache/DemoFleet") {}

const demoPod = (spec: DemoPodSpec, engine: EngineSimulator, createdAt: Date): V1Pod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: spec.name,
    namespace: DEMO_NAMESPACE,
    uid: `demo-${spec.name}-${engine.port}`,
    creationTimestamp: createdAt,
    labels: {
      [MODEL_LABEL]: spec.model,
      [ENGINE_LABEL]: spec.engine,
      [METRIC_PORT_LABEL]: String(engine.port),
      [DEPLOYMENT_LABEL]: spec.model
    }
  },
  status: {
    phase: "Running",
    podIP: engine.host,
    conditions: [{ type: "Ready", status: "True" }]
  }
})

const demoAdapter = (name: string, baseModel: string, pods: ReadonlyArray<string>): ModelAdapter => ({
  apiVersion: "model.aibrix.ai/v1alpha1",
  kind: "ModelAdapter",
  metadata: { name, namespace: DEMO_NAMESPACE },
  spec: { baseModel },
  status: { instances: [...pods] }
})

/** The adapters of the demo pods, each with its base model and the pods that load it. */
const adaptersOf = (specs: ReadonlyArray<DemoPodSpec>): ReadonlyArray<ModelAdapter> => {
  const byName = new Map<string, { baseModel: string; pods: Array<string> }>()
  for (const spec of specs) {
    for (const adapter of spec.adapters) {
      const entry = byName.get(adapter) ?? { baseModel: spec.model, pods: [] }
      entry.pods.push(spec.name)
      byName.set(adapter, entry)
    }
  }
  return Array.from(byName, ([name, { baseModel, pods }]) => demoAdapter(name, baseModel, pods))
}

const clamp = (value: number, min: number, max: number): number => Math.min(max, Math.max(min, value))

/** One step of an engine's random walk: load, queue, KV cache, throughput and finished requests. */
const moveEngine = (spec: DemoPodSpec, engine: EngineSimulator, start = false): Effect.Effect<void> =>
  Effect.gen(function* () {
    const metrics = engine.metrics
    const running = start
      ? yield* Random.nextIntBetween(2, 8)
      : clamp((metrics.gauge(spec.model, "num_requests_running") ?? 0) + (yield* Random.nextIntBetween(-2, 2)), 0, 24)
    const waiting = running < 16 ? 0 : yield* Random.nextIntBetween(0, running - 12)
    const noise = yield* Random.nextBetween(-0.02, 0.02)
    metrics.setGauge(spec.model, "num_requests_running", running)
    metrics.setGauge(spec.model, "num_requests_waiting", waiting)
    metrics.setGauge(spec.model, "gpu_cache_usage_perc", clamp(0.04 + running * 0.035 + noise, 0, 1))
    metrics.setGauge(spec.model, "avg_prompt_throughput_toks_per_s", running * 96)
    metrics.setGauge(spec.model, "avg_generation_throughput_toks_per_s", running * 27)
    const finished = yield* Random.nextIntBetween(0, running)
    if (finished > 0) metrics.completeRequests(spec.model, finished)
  })

/**
 * Starts the engines, feeds their pods and adapters to the store, raises the
 * readiness, and moves the load every `DEMO_TICK` in the layer's scope; closing
 * the scope stops the engines.
 */
export const layerDemoFleet = (
  specs: ReadonlyArray<DemoPodSpec> = DEMO_PODS
): Layer.Layer<DemoFleet | CacheReadiness, EngineSimulatorError, CacheWriter> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const writer = yield* CacheWriter
      const signal = yield* makeReadinessSignal
      const createdAt = new Date()
      const engines = yield* Effect.forEach(specs, (spec) =>
        Effect.map(EngineSimulator.scoped({ models: [spec.model], engine: spec.engine }), (engine) => {
          if (spec.adapters.length > 0) engine.metrics.setLora({ maxLora: 4, running: spec.adapters, waiting: [] })
          return { spec, engine, pod: demoPod(spec, engine, createdAt) }
        })
      )
      yield* Effect.forEach(engines, ({ engine, spec }) => moveEngine(spec, engine, true), { discard: true })
      yield* writer.applyAll([
        ...engines.map(({ pod }) => DiscoveryEvent.PodAdded({ pod })),
        ...adaptersOf(specs).map((adapter) => DiscoveryEvent.AdapterAdded({ adapter }))
      ])
      yield* signal.markReady
      yield* Effect.logInfo("demo fleet up").pipe(
        Effect.annotateLogs({
          engines: engines.map(({ engine, spec }) => `${spec.name}=${engine.metricsUrl}`).join(" ")
        })
      )
      yield* Effect.forkScoped(
        Effect.forEach(engines, ({ engine, spec }) => moveEngine(spec, engine), { discard: true }).pipe(
          Effect.repeat(Schedule.spaced(DEMO_TICK))
        )
      )
      return Context.make(DemoFleet, { engines: engines.map(({ engine, pod }) => ({ engine, pod })) }).pipe(
        Context.add(CacheReadiness, signal.readiness)
      )
    })
  )
