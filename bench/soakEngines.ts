/**
 * The engines of the soak benchmark, in a child process so that neither their
 * CPU nor their heap is the cache's: `node bench/soakEngines.ts N` starts N
 * simulated engines and prints their ports as one JSON line; each line
 * `rotate` on stdin stops the oldest engine and starts a new one (an engine
 * that goes and one that comes), then prints the ports again. It stops when
 * its stdin closes.
 */
import { EngineSimulator } from "../src/demo/EngineSimulator.ts"
import { createInterface } from "node:readline"

const MODELS = ["model-0", "model-1"] as const

const start = async (): Promise<EngineSimulator> => {
  const engine = await EngineSimulator.start({ models: MODELS })
  engine.metrics.completeRequests("model-0", 20)
  return engine
}

const engines = await Promise.all(Array.from({ length: Number(process.argv[2] ?? "1") }, start))
const report = (): void => {
  process.stdout.write(`${JSON.stringify(engines.map((engine) => engine.port))}\n`)
}
report()

const rotate = async (): Promise<void> => {
  await engines.shift()?.stop()
  engines.push(await start())
  report()
}

let pending = Promise.resolve()
createInterface({ input: process.stdin }).on("line", (line) => {
  if (line === "rotate") pending = pending.then(rotate)
})
process.stdin.on("close", () => {
  void pending.then(() => Promise.all(engines.map((engine) => engine.stop()))).then(() => process.exit(0))
})
