/**
 * How benchmarks measure and print: each figure beside its baseline, measured
 * in the same process, and their ratio, because these machines are noisy.
 */

/** Runs `body` (which does `ops` operations) for at least `minMs`, best of `rounds`; returns ops/s. */
export const opsPerSecond = (body: () => void, ops: number, rounds = 5, minMs = 200): number => {
  let best = 0
  for (let round = 0; round < rounds; round++) {
    let done = 0
    const start = performance.now()
    let elapsed = 0
    while (elapsed < minMs) {
      body()
      done += ops
      elapsed = performance.now() - start
    }
    best = Math.max(best, (done / elapsed) * 1000)
  }
  return best
}

export const formatNumber = (value: number): string =>
  value >= 100 ? Math.round(value).toLocaleString("en-US") : value.toPrecision(3)

/** One line: the figure, its baseline, and the ratio between them. */
export const printComparison = (
  title: string,
  ours: { readonly label: string; readonly value: number },
  baseline: { readonly label: string; readonly value: number },
  unit: string
): void => {
  const ratio = ours.value / baseline.value
  console.log(
    `${title}: ${ours.label} ${formatNumber(ours.value)} ${unit}, ${baseline.label} ${formatNumber(
      baseline.value
    )} ${unit}, ratio ${ratio.toFixed(2)}`
  )
}

export const printFigure = (title: string, value: number, unit: string, target?: string): void => {
  console.log(`${title}: ${formatNumber(value)} ${unit}${target === undefined ? "" : ` (target ${target})`}`)
}
