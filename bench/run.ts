/**
 * `npm run bench [name...]`: runs the benchmarks (all, or the named ones) one
 * after another, each in a process of its own, so that one's heap and JIT
 * state do not weigh on the next.
 */
import { spawnSync } from "node:child_process"
import * as discovery from "./discovery.ts"
import * as exposition from "./exposition.ts"
import * as lifecycle from "./lifecycle.ts"
import * as refresh from "./refresh.ts"
import * as service from "./service.ts"
import * as trace from "./trace.ts"

interface Benchmark {
  readonly run: () => void | Promise<void>
}

const benchmarks: Record<string, Benchmark> = {
  discovery,
  exposition,
  lifecycle,
  refresh,
  service,
  trace
}

/** Set in the child that runs one benchmark. */
const ONE = "AIBRIX_BENCH_ONE"

const selected = process.argv.slice(2)
const unknown = selected.filter((name) => !(name in benchmarks))
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(", ")}; known: ${Object.keys(benchmarks).join(", ")}`)
  process.exit(2)
}

const only = process.env[ONE]
if (only !== undefined) {
  await benchmarks[only]!.run()
} else {
  console.log(`node ${process.version}`)
  let failed = false
  for (const name of Object.keys(benchmarks)) {
    if (selected.length > 0 && !selected.includes(name)) continue
    console.log(`\n## ${name}`)
    const child = spawnSync(process.execPath, [new URL(import.meta.url).pathname], {
      stdio: "inherit",
      env: { ...process.env, [ONE]: name }
    })
    if (child.status !== 0) {
      console.log(`benchmark ${name} failed (exit ${child.status ?? child.signal})`)
      failed = true
    }
  }
  if (failed) process.exit(1)
}
