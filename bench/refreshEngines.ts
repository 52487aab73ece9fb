/**
 * The engines of the refresh benchmark, run as a child process so their CPU
 * is not the cache's: `node bench/refreshEngines.ts N [busy|real]` starts N
 * engines, prints their ports as one JSON line, and keeps requests finishing
 * until its stdin closes: on each engine once a second (staggered), or, when
 * busy, on every engine every 50 ms, so that every scrape finds every request
 * histogram changed. Every 50 ms every engine's process CPU time moves too, so
 * no page is served twice alike. The engines are simulators serving two models
 * each, or, with `real`, servers of the real vLLM V1 page with moving values.
 */
import { EngineSimulator } from "../src/demo/EngineSimulator.ts"
import { RealPageEngine, serveRealPage } from "./realPageEngine.ts"

export const BENCH_MODELS = ["llama-3-8b", "lora-a"] as const

/** What the traffic loop drives, whichever engine serves the page. */
interface BenchEngine {
  readonly port: number
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
    spendCpu: (seconds) => engine.metrics.spendCpu(seconds),
    completeRequests: (count, index) => {
      engine.metrics.completeRequests("llama-3-8b", count)
      engine.metrics.setGauge("llama-3-8b", "num_requests_running", index % 7)
      engine.metrics.setGauge("llama-3-8b", "gpu_cache_usage_perc", (index % 10) / 10)
    },
    stop: () => engine.stop()
  }
}

const real = async (): Promise<BenchEngine> => {
  const engine = new RealPageEngine()
  const { port, server } = await serveRealPage(engine)
  return {
    port,
    spendCpu: (seconds) => engine.spendCpu(seconds),
    completeRequests: (count) => engine.completeRequests(count),
    stop: () =>
      new Promise((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
  }
}

const count = Number(process.argv[2] ?? "1")
const busy = process.argv[3] === "busy"
const start = process.argv[3] === "real" ? real : simulated
const engines = await Promise.all(Array.from({ length: count }, start))
process.stdout.write(`${JSON.stringify(engines.map((engine) => engine.port))}\n`)

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

const stop = (): void => {
  clearInterval(traffic)
  void Promise.all(engines.map((engine) => engine.stop())).then(() => process.exit(0))
}
process.stdin.on("end", stop)
process.stdin.on("close", stop)
process.stdin.resume()
process.on("SIGTERM", stop)
