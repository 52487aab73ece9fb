/**
 * The service as a process with every live piece on: Kubernetes discovery
 * against the fake API server (one pod whose engine is a simulator, and one
 * adapter), the metric refresh, PromQL against a port nobody listens on (its
 * queries fail, and are counted), and the request trace with a real
 * redis-server.
 */
import { Effect } from "effect"
import { EngineSimulator } from "../../src/demo/EngineSimulator.ts"
import { METRIC_PORT_LABEL } from "../../src/store/Pod.ts"
import { fakeKubernetes, kubeConfigFile } from "./discovery.ts"
import { makeAdapter, makePod } from "./fixtures.ts"
import { freePort, redisServer } from "./redisServer.ts"
import { serviceProcess } from "./serviceProcess.ts"

export interface LiveServiceOptions {
  /** More environment for the service. */
  readonly env?: Readonly<Record<string, string>>
  /** Lists of the adapters that fail before one succeeds: each is an informer restart. */
  readonly failedAdapterLists?: number
}

/** The fake API server, for the scope, holding one pod: `engine-0`, serving `llama`, whose engine is `engine`. */
export const clusterOf = (engine: EngineSimulator) =>
  Effect.map(fakeKubernetes(), (fake) => {
    fake.put(
      "pods",
      makePod({
        name: "engine-0",
        model: "llama",
        ip: engine.host,
        labels: { [METRIC_PORT_LABEL]: String(engine.port) }
      })
    )
    return fake
  })

export const liveService = (options: LiveServiceOptions = {}) =>
  Effect.gen(function* () {
    const engine = yield* EngineSimulator.scoped({ models: ["llama"] })
    const fake = yield* clusterOf(engine)
    fake.put("modeladapters", makeAdapter("llama-sql", ["engine-0"]))
    if (options.failedAdapterLists !== undefined) fake.failNextLists("modeladapters", options.failedAdapterLists)
    const kubeConfig = yield* kubeConfigFile(fake)
    const redis = yield* redisServer()
    const service = yield* serviceProcess(yield* Effect.promise(freePort), [], {
      KUBECONFIG: kubeConfig.file,
      AIBRIX_GPU_OPTIMIZER_TRACING_FLAG: "true",
      REDIS_HOST: redis.host,
      REDIS_PORT: String(redis.port),
      PROMETHEUS_ENDPOINT: `http://127.0.0.1:${yield* Effect.promise(freePort)}`,
      ...options.env
    })
    return { service, engine, fake }
  })
