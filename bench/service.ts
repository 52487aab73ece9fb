/**
 * The service's hot endpoint, `GET /v1/models/{model}/pods`, for a model with
 * 100 pods whose metrics change every 50 ms (as the refresh changes them),
 * under load from `wrk` in a second process for 10 s; beside a bare
 * `node:http` server answering the same bytes, measured in the same run.
 */
import { execFileSync, spawn } from "node:child_process"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { Context, Effect, Layer } from "effect"
import { HttpServer } from "effect/http"
import { newTestCacheWithPods } from "../layers/index.ts"
import { CacheStore } from "../src/cache/CacheStore.ts"
import { CacheReadiness } from "../src/cache/CacheReadiness.ts"
import { MetricValue } from "../src/store/MetricValue.ts"
import { serveApi } from "../src/service/ServiceServer.ts"
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
      const p99 = /^\s+99%\s+([\d.]+)(us|ms|s)\s*$/m.exec(output)
      const errors = /Non-2xx or 3xx responses: (\d+)/.exec(output)
      if (code !== 0 || rate === null || p99 === null || errors !== null) {
        reject(new Error(`wrk failed (exit ${code}):\n${output}`))
        return
      }
      resolve({ requestsPerSecond: Number(rate[1]), p99Ms: toMs(p99[1]!, p99[2]!) })
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
  const ours = yield* Effect.promise(() => runWrk(url))
  return { ours, body, cycles: cycle }
}).pipe(Effect.scoped)

export const run = async (): Promise<void> => {
  ensureWrk()
  const { body, cycles, ours } = await Effect.runPromise(service)
  const bare = await baseline(body)
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
    {
      label: "bare node:http",
      value: bare.p99Ms
    },
    "ms"
  )
  printFigure("service requests/s", ours.requestsPerSecond, "req/s", ">= 5,000")
  printFigure("service p99 latency", ours.p99Ms, "ms", "< 20")
}
