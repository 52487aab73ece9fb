/**
 * The engines of the refresh benchmark, run as a child process so their CPU
 * is not the cache's: `node bench/refreshEngines.ts N [busy]` starts N
 * simulated engines serving two models each, prints their ports as one JSON
 * line, and keeps requests finishing until its stdin closes: on each engine
 * once a second (staggered), or, when busy, on every engine every 50 ms, so
 * that every scrape finds every request histogram changed. Every 50 ms every
 * engine's process CPU time moves too, so no page is served twice alike.
 */
import { EngineSimulator } from "../src/demo/EngineSimulator.ts"

export const BENCH_MODELS = ["llama-3-8b", "lora-a"] as const

const count = Number(process.argv[2] ?? "1")
const busy = process.argv[3] === "busy"
const engines = await Promise.all(Array.from({ length: count }, () => EngineSimulator.start({ models: BENCH_MODELS })))
for (const engine of engines) {
  engine.metrics.setLora({ maxLora: 4, running: ["lora-a"], waiting: [] })
  engine.metrics.completeRequests("llama-3-8b", 20)
  engine.metrics.completeRequests("lora-a", 5)
}
process.stdout.write(`${JSON.stringify(engines.map((engine) => engine.port))}\n`)

let next = 0
const TICK_MS = 50
const perTick = busy ? count : Math.max(1, Math.ceil(count / (1000 / TICK_MS)))
const traffic = setInterval(() => {
  // Every engine process works: its CPU time moves between any two scrapes.
  for (const engine of engines) engine.metrics.spendCpu(0.01)
  for (let i = 0; i < perTick; i++) {
    const engine = engines[next++ % count]!
    engine.metrics.completeRequests("llama-3-8b", 2)
    engine.metrics.setGauge("llama-3-8b", "num_requests_running", next % 7)
    engine.metrics.setGauge("llama-3-8b", "gpu_cache_usage_perc", (next % 10) / 10)
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
