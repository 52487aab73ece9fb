/**
 * The service's hot endpoint, `GET /v1/models/{model}/pods`, for a model with
 * 100 pods whose metrics change every 50 ms (as the refresh changes them),
 * under load from `wrk` in a second process for 10 s; beside a bare
 * `node:http` server answering the same bytes, measured in the same run. Then
 * the same with OpenTelemetry traces on (`OTEL_EXPORTER_OTLP_ENDPOINT` set, a
 * span per request exported to a receiver in a third process), beside the
 * service with them off.
 */
import { execFileSync, spawn } from "node:child_process"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { ConfigProvider, Context, Effect, Layer } from "effect"
import { HttpServer } from "effect/http"
import { newTestCacheWithPods } from "../layers/index.ts"
import { CacheStore } from "../src/cache/CacheStore.ts"
import { CacheReadiness } from "../src/cache/CacheReadiness.ts"
import { MetricValue } from "../src/store/MetricValue.ts"
import { serveApi } from "../src/service/ServiceServer.ts"
import { layerTracing, tracingConfig } from "../src/service/ServiceTracing.ts"
import { printComparison, printFigure } from "./report.ts"

const POD_COUNT = 100
const MODEL = "llama-3-8b"
const DURATION_SECONDS = 10
const CONNECTIONS = 16
const THREADS = 1
const METRIC_PERIOD_MS = 50

interface WrkResult {
  readonly requestsPerSecond: number
  readonly p99Ms: number
  readonly requests: number
}

/** A run of the service: wrk's figures and the CPU time this process spent per request. */
interface ServiceRun extends WrkResult {
  readonly cpuMicrosPerRequest: number
}

/** wrk from the system, installed with apt-get when missing and we are root. */
const ensureWrk = (): void => {
  const has = () => {
    try {
      execFileSync("wrk", ["--version"], { stdio: "ignore" })
      return true
    } catch (error) {
      // wrk --version exits 1 after printing its version.
      return typeof error === "object" && error !== null && "status" in error && error.status === 1
    }
  }
  if (has()) return
  if (process.getuid?.() === 0) {
    console.log("installing wrk with apt-get")
    execFileSync("bash", ["-c", "apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null"], {
      stdio: "inherit"
    })
    if (has()) return
  }
  throw new Error("the service bench needs wrk: run 'sudo apt-get install -y wrk' and try again")
}

const toMs = (value: string, unit: string): number =>
  unit === "us" ? Number(value) / 1000 : unit === "ms" ? Number(value) : unit === "s" ? Number(value) * 1000 : NaN

const runWrk = (url: string): Promise<WrkResult> =>
  new Promise((resolve, reject) => {
    const wrk = spawn("wrk", [`-t${THREADS}`, `-c${CONNECTIONS}`, `-d${DURATION_SECONDS}s`, "--latency", url])
    let output = ""
    wrk.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
    wrk.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
    wrk.on("error", reject)
    wrk.on("close", (code) => {
      const rate = /Requests\/sec:\s+([\d.]+)/.exec(output)
      const requests = /(\d+) requests in/.exec(output)
      const p99 = /^\s+99%\s+([\d.]+)(us|ms|s)\s*$/m.exec(output)
      const errors = /Non-2xx or 3xx responses: (\d+)/.exec(output)
      if (code !== 0 || rate === null || p99 === null || requests === null || errors !== null) {
        reject(new Error(`wrk failed (exit ${code}):\n${output}`))
        return
      }
      resolve({ requestsPerSecond: Number(rate[1]), p99Ms: toMs(p99[1]!, p99[2]!), requests: Number(requests[1]) })
    })
  })

const makePods = () =>
  Array.from({ length: POD_COUNT }, (_, i) => ({
    metadata: { name: `${MODEL}-${i}`, namespace: "default", uid: `uid-${i}` },
    status: { podIP: `10.0.${i >> 8}.${i & 255}`, conditions: [{ type: "Ready", status: "True" }] }
  }))

/** New values for every pod's key metrics, as one refresh cycle writes them. */
const moveMetrics = (context: Context.Context<CacheStore>, cycle: number): void => {
  const store = Context.get(context, CacheStore)
  let i = 0
  for (const entry of store.podEntries()) {
    const load = (cycle + i++) % 17
    store.setPodModelMetric(entry.key, MODEL, "num_requests_running", MetricValue.simple(load))
    store.setPodModelMetric(entry.key, MODEL, "num_requests_waiting", MetricValue.simple(load >> 2))
    store.setPodModelMetric(entry.key, MODEL, "gpu_cache_usage_perc", MetricValue.simple(load / 17))
  }
}

const listen = (server: Server): Promise<string> =>
  new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`))
  )

/** A bare node:http server answering every request with the same bytes. */
const baseline = async (body: Uint8Array): Promise<WrkResult> => {
  const server = createServer((_request, response) => {
    response.writeHead(200, { "content-type": "application/json", "content-length": body.byteLength })
    response.end(body)
  })
  const url = await listen(server)
  try {
    return await runWrk(`${url}/v1/models/${MODEL}/pods`)
  } finally {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
}

const service = Effect.gen(function* () {
  const cache = yield* Layer.build(newTestCacheWithPods(makePods(), MODEL))
  moveMetrics(cache, 0)
  const server = yield* Layer.build(
    serveApi({ host: "127.0.0.1", port: 0 }).pipe(
      Layer.provide(Layer.succeedContext(cache)),
      Layer.provide(Layer.succeed(CacheReadiness, { isReady: Effect.succeed(true), awaitReady: Effect.void }))
    )
  )
  const url = `${HttpServer.formatAddress(Context.get(server, HttpServer.HttpServer).address)}/v1/models/${MODEL}/pods`
  const body = yield* Effect.promise(() => fetch(url).then((response) => response.bytes()))
  let cycle = 0
  const timer = setInterval(() => moveMetrics(cache, ++cycle), METRIC_PERIOD_MS)
  yield* Effect.addFinalizer(() => Effect.sync(() => clearInterval(timer)))
  // CPU time per request: steadier than throughput on a machine shared with other work.
  const cpu = process.cpuUsage()
  const result = yield* Effect.promise(() => runWrk(url))
  const spent = process.cpuUsage(cpu)
  const ours: ServiceRun = { ...result, cpuMicrosPerRequest: (spent.user + spent.system) / result.requests }
  return { ours, body, cycles: cycle }
}).pipe(Effect.scoped)

/** The service under the tracing the environment `env` asks for, as the command sets it up. */
const serviceWithEnv = (env: Record<string, string>) =>
  Effect.gen(function* () {
    const settings = yield* tracingConfig
    return yield* service.pipe(Effect.provide(layerTracing(settings)))
  }).pipe(Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env))))

/** A receiver of OTLP exports in a process of its own: it reads each request whole and counts its bytes. */
const RECEIVER = `
const server = require("node:http").createServer((request, response) => {
  if (request.method === "GET") return response.end(JSON.stringify({ requests, bytes }))
  requests++
  request.on("data", (chunk) => (bytes += chunk.length))
  request.on("end", () => response.end())
})
let requests = 0
let bytes = 0
server.listen(0, "127.0.0.1", () => console.log(server.address().port))
`

const startReceiver = (): Promise<{ readonly url: string; readonly stop: () => void }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", RECEIVER], { stdio: ["ignore", "pipe", "inherit"] })
    child.once("error", reject)
    child.stdout.once("data", (chunk: Buffer) =>
      resolve({ url: `http://127.0.0.1:${chunk.toString().trim()}`, stop: () => child.kill() })
    )
  })

/** The better of two results: more requests, the lower p99. */
const best = (a: ServiceRun, b: ServiceRun): ServiceRun => ({
  requestsPerSecond: Math.max(a.requestsPerSecond, b.requestsPerSecond),
  p99Ms: Math.min(a.p99Ms, b.p99Ms),
  requests: Math.max(a.requests, b.requests),
  cpuMicrosPerRequest: Math.min(a.cpuMicrosPerRequest, b.cpuMicrosPerRequest)
})

/** A figure of a traced run beside the untraced one. */
const versus = (
  title: string,
  traced: ServiceRun,
  untraced: ServiceRun,
  figure: "requestsPerSecond" | "p99Ms" | "cpuMicrosPerRequest",
  unit: string
): void =>
  printComparison(
    title,
    { label: "traced", value: traced[figure] },
    { label: "untraced", value: untraced[figure] },
    unit
  )

/** Rounds of untraced and traced runs, alternated so that a noisy moment or a cold start weighs on both. */
const ROUNDS = 2

export const run = async (): Promise<void> => {
  ensureWrk()
  const receiver = await startReceiver()
  try {
    const traces = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }
    let untraced: { readonly ours: ServiceRun; readonly body: Uint8Array; readonly cycles: number } | undefined
    let traced: ServiceRun | undefined
    const runUntraced = async () => {
      const plain = await Effect.runPromise(serviceWithEnv({}))
      untraced = untraced === undefined ? plain : { ...plain, ours: best(untraced.ours, plain.ours) }
    }
    const runTraced = async () => {
      const withTraces = (await Effect.runPromise(serviceWithEnv(traces))).ours
      traced = traced === undefined ? withTraces : best(traced, withTraces)
    }
    // Each goes first in every other round: the first run of the process also warms it up.
    for (let round = 0; round < ROUNDS; round++) {
      for (const runOne of round % 2 === 0 ? [runUntraced, runTraced] : [runTraced, runUntraced]) await runOne()
    }
    const { body, cycles, ours } = untraced!
    const bare = await baseline(body)
    const exported = (await fetch(receiver.url).then((response) => response.json())) as {
      readonly requests: number
      readonly bytes: number
    }
    const everySpan = (await Effect.runPromise(serviceWithEnv({ ...traces, OTEL_TRACES_SAMPLER: "always_on" }))).ours
    console.log(
      `GET /v1/models/{model}/pods, ${POD_COUNT} pods (${body.byteLength} bytes), ` +
        `metrics moving every ${METRIC_PERIOD_MS} ms ` +
        `(${cycles} changes), wrk ${THREADS} threads ${CONNECTIONS} connections ${DURATION_SECONDS} s`
    )
    printComparison(
      "requests/s",
      { label: "service", value: ours.requestsPerSecond },
      { label: "bare node:http", value: bare.requestsPerSecond },
      "req/s"
    )
    printComparison(
      "p99 latency",
      { label: "service", value: ours.p99Ms },
      { label: "bare node:http", value: bare.p99Ms },
      "ms"
    )
    console.log(`OpenTelemetry traces on (default sampling), best of ${ROUNDS} rounds alternated with traces off:`)
    versus("requests/s", traced!, ours, "requestsPerSecond", "req/s")
    versus("p99 latency", traced!, ours, "p99Ms", "ms")
    versus("CPU per request", traced!, ours, "cpuMicrosPerRequest", "µs")
    printFigure("exported while traced", exported.bytes / 1024, `KiB in ${exported.requests} OTLP requests`)
    console.log("Every request's span exported (OTEL_TRACES_SAMPLER=always_on):")
    versus("requests/s", everySpan, ours, "requestsPerSecond", "req/s")
    versus("CPU per request", everySpan, ours, "cpuMicrosPerRequest", "µs")
    printFigure("service requests/s", ours.requestsPerSecond, "req/s", ">= 5,000")
    printFigure("service p99 latency", ours.p99Ms, "ms", "< 20")
  } finally {
    receiver.stop()
  }
}
