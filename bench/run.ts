/**
 * `npm run bench [name...]`: runs the benchmarks (all, or the named ones) one
 * after another, each in a process of its own that loads only that benchmark,
 * so that one's heap, JIT state and modules do not weigh on the next.
 */
import { spawnSync } from "node:child_process"

interface Benchmark {
  readonly run: () => void | Promise<void>
}

const BENCHMARKS = [
  "discovery",
  "exposition",
  "freshness",
  "lifecycle",
  "refresh",
  "replicas",
  "service",
  "soak",
  "trace"
] as const

/** Set in the child that runs one benchmark. */
const ONE = "AIBRIX_BENCH_ONE"

const only = process.env[ONE]
if (only !== undefined) {
  const benchmark: Benchmark = await import(`./${only}.ts`)
  await benchmark.run()
} else {
  const selected = process.argv.slice(2)
  const unknown = selected.filter((name) => !BENCHMARKS.some((known) => known === name))
  if (unknown.length > 0) {
    console.error(`unknown benchmark ${unknown.join(", ")}; known: ${BENCHMARKS.join(", ")}`)
    process.exit(2)
  }
  console.log(`node ${process.version}`)
  let failed = false
  for (const name of BENCHMARKS) {
    if (selected.length > 0 && !selected.includes(name)) continue
    console.log(`\n## ${name}`)
    // --expose-gc: the soak measures the heap after a full collection.
    const child = spawnSync(process.execPath, ["--expose-gc", new URL(import.meta.url).pathname], {
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
