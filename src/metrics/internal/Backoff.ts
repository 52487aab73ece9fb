/**
 * How long a pod whose scrapes fail waits before its next one: the interval
 * after the first failure, twice as long after each further one in a row, up
 * to the cap; "equal jitter" (the upper half of each delay drawn at random)
 * keeps pods that failed together from retrying together. The first good
 * scrape resets it.
 */

/** The delay in whole milliseconds after `failures` failed scrapes in a row (1 or more); `random` is drawn from [0, 1). */
export const backoffDelay = (failures: number, intervalMs: number, capMs: number, random: number): number => {
  const ceiling = Math.min(capMs, intervalMs * 2 ** Math.min(failures - 1, 30))
  return Math.round(ceiling / 2 + (ceiling / 2) * random)
}
