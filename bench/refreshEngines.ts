/**
 * The engines of the refresh and freshness benchmarks, run as a child process
 * so their CPU is not the cache's:
 *
 *     node bench/refreshEngines.ts N [--sim] [--busy] [--hung] [--slow] [--failing]
 *
 * starts N good engines on 127.0.0.1 serving the real vLLM V1 page with moving
 * values (`--sim`: simulators serving two models each instead), and prints
 * their ports as one JSON line, `{"good":[...],"hung":p,"slow":p,"failing":p}`.
 * Requests finish on each engine about once a second (staggered), or, with
 * `--busy`, on every engine every 50 ms, so that every scrape finds every
 * request histogram changed; every 50 ms every engine's process CPU time moves
 * too, so no page is served twice alike. The bad engines each have an address
 * of their own: on 127.0.0.2 one that accepts connections and never answers,
 * on 127.0.0.3 one that answers after 3 s, on 127.0.0.4 one that answers 500.
 * Each line "counts" on stdin is answered with the requests each engine has
 * received so far, `{"good":[...],"hung":n,"slow":n,"failing":n}`; the
 * process stops when its stdin closes.
 */
import { createServer as createHttpServer, type Server } from "node:http"
import { type AddressInfo, createServer as createTcpServer, type Socket } from "node:net"
import { createInterface } from "node:readline"
import { EngineSimulator } from "../src/demo/EngineSimulator.ts"
import { RealPageEngine, serveRealPage } from "./realPageEngine.ts"

export const BENCH_MODELS = ["llama-3-8b", "lora-a"] as const

/** How long the slow engine takes to answer. */
export const SLOW_MS = 3000

/** What the traffic loop drives, whichever engine serves the page. */
interface BenchEngine {
  readonly port: number
  readonly served: () => number
  spendCpu(seconds: number): void
  completeRequests(count: number, index: number): void
  stop(): Promise<void>
}

const simulated = async (): Promise<BenchEngine> => {
  const engine = await EngineSimulator.start({ models: BENCH_MODELS })
  engine.metrics.setLora({ maxLora: 4, running: ["lora-a"], waiting: [] })
  engine.metrics.completeRequests("llama-3-8b", 20)
  engine.metrics.completeRequests("lora-a", 5)
  return {
    port: engine.port,
    served: () => engine.scrapes,
    spendCpu: (seconds) => engine.metrics.spendCpu(seconds),
    completeRequests: (count, index) => {
      engine.metrics.completeRequests("llama-3-8b", count)
      engine.metrics.setGauge("llama-3-8b", "num_requests_running", index % 7)
      engine.metrics.setGauge("llama-3-8b", "gpu_cache_usage_perc", (index % 10) / 10)
    },
    stop: () => engine.stop()
  }
}

const closing = (server: Server): Promise<void> =>
  new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })

const real = async (): Promise<BenchEngine> => {
  const engine = new RealPageEngine()
  const { port, server } = await serveRealPage(engine)
  return {
    port,
    served: () => engine.served,
    spendCpu: (seconds) => engine.spendCpu(seconds),
    completeRequests: (count) => engine.completeRequests(count),
    stop: () => closing(server)
  }
}

const listening = (server: Server | ReturnType<typeof createTcpServer>, host: string): Promise<number> =>
  new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as AddressInfo).port)))

const args = process.argv.slice(2)
const count = Number(args.find((arg) => /^\d+$/.test(arg)) ?? "1")
const flag = (name: string) => args.includes(`--${name}`)
const busy = flag("busy")

const engines = await Promise.all(Array.from({ length: count }, flag("sim") ? simulated : real))

let hungRequests = 0
const hungSockets = new Set<Socket>()
const hung = createTcpServer((socket) => {
  hungSockets.add(socket)
  socket.on("data", () => void hungRequests++)
  socket.on("close", () => hungSockets.delete(socket))
})

let slowRequests = 0
const slowPage = new RealPageEngine()
const timers = new Set<ReturnType<typeof setTimeout>>()
const slow = createHttpServer((_, response) => {
  slowRequests++
  const timer = setTimeout(() => {
    timers.delete(timer)
    const page = slowPage.page()
    response.writeHead(200, { "content-type": "text/plain; version=0.0.4", "content-length": page.length })
    response.end(page)
  }, SLOW_MS)
  timers.add(timer)
})
slow.keepAliveTimeout = 60_000

let failingRequests = 0
const failing = createHttpServer((_, response) => {
  failingRequests++
  response.writeHead(500, { "content-type": "text/plain" }).end("engine error\n")
})
failing.keepAliveTimeout = 60_000

const ports = {
  good: engines.map((engine) => engine.port),
  ...(flag("hung") ? { hung: await listening(hung, "127.0.0.2") } : {}),
  ...(flag("slow") ? { slow: await listening(slow, "127.0.0.3") } : {}),
  ...(flag("failing") ? { failing: await listening(failing, "127.0.0.4") } : {})
}
process.stdout.write(`${JSON.stringify(ports)}\n`)

let next = 0
const TICK_MS = 50
const perTick = busy ? count : Math.max(1, Math.ceil(count / (1000 / TICK_MS)))
const traffic = setInterval(() => {
  // Every engine process works: its CPU time moves between any two scrapes.
  for (const engine of engines) engine.spendCpu(0.01)
  for (let i = 0; i < perTick; i++) {
    const engine = engines[next++ % count]!
    engine.completeRequests(2, next)
  }
}, TICK_MS)

const input = createInterface({ input: process.stdin })
input.on("line", (line) => {
  if (line.trim() !== "counts") return
  const counts = {
    good: engines.map((engine) => engine.served()),
    hung: hungRequests,
    slow: slowRequests,
    failing: failingRequests
  }
  process.stdout.write(`${JSON.stringify(counts)}\n`)
})

let stopping = false
const stop = (): void => {
  if (stopping) return
  stopping = true
  clearInterval(traffic)
  for (const timer of timers) clearTimeout(timer)
  for (const socket of hungSockets) socket.destroy()
  const servers = [slow, failing].filter((server) => server.listening)
  void Promise.all([
    ...engines.map((engine) => engine.stop()),
    ...servers.map(closing),
    ...(hung.listening ? [new Promise<void>((resolve) => hung.close(() => resolve()))] : [])
  ]).then(() => process.exit(0))
}
input.on("close", stop)
process.on("SIGTERM", stop)
