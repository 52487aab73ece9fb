/**
 * `npm run bench [name...]`: runs the benchmarks (all, or the named ones) one
 * after another in this process.
 */
import * as exposition from "./exposition.ts"
import * as lifecycle from "./lifecycle.ts"
import * as refresh from "./refresh.ts"

interface Benchmark {
  readonly run: () => void | Promise<void>
}

const benchmarks: Record<string, Benchmark> = {
  exposition,
  lifecycle,
  refresh
}

const selected = process.argv.slice(2)
const unknown = selected.filter((name) => !(name in benchmarks))
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(", ")}; known: ${Object.keys(benchmarks).join(", ")}`)
  process.exit(2)
}
console.log(`node ${process.version}`)
for (const [name, benchmark] of Object.entries(benchmarks)) {
  if (selected.length > 0 && !selected.includes(name)) continue
  console.log(`\n## ${name}`)
  await benchmark.run()
}
