/**
 * Writes metric families in the Prometheus text exposition format 0.0.4, for
 * the service's own `/metrics`.
 */

export type Labels = Readonly<Record<string, string>>

export interface Sample {
  readonly labels?: Labels
  readonly value: number
}

export interface HistogramSample {
  readonly labels?: Labels
  /** Upper bound -> cumulative count, in ascending order of bound; `+Inf` is added when missing. */
  readonly buckets: ReadonlyArray<readonly [bound: number, cumulative: number]>
  readonly sum: number
  readonly count: number
}

/** Collects families in the order written; `toString()` renders the page. */
export class ExpositionWriter {
  readonly #lines: Array<string> = []

  counter(name: string, help: string, samples: ReadonlyArray<Sample>): this {
    return this.#family(name, help, "counter", samples)
  }

  gauge(name: string, help: string, samples: ReadonlyArray<Sample>): this {
    return this.#family(name, help, "gauge", samples)
  }

  histogram(name: string, help: string, samples: ReadonlyArray<HistogramSample>): this {
    this.#header(name, help, "histogram")
    for (const sample of samples) {
      let infinite = false
      for (const [bound, cumulative] of sample.buckets) {
        if (bound === Infinity) infinite = true
        this.#lines.push(
          `${name}_bucket${labelSet({ ...sample.labels, le: formatNumber(bound) })} ${formatNumber(cumulative)}`
        )
      }
      if (!infinite) {
        this.#lines.push(`${name}_bucket${labelSet({ ...sample.labels, le: "+Inf" })} ${formatNumber(sample.count)}`)
      }
      this.#lines.push(`${name}_sum${labelSet(sample.labels)} ${formatNumber(sample.sum)}`)
      this.#lines.push(`${name}_count${labelSet(sample.labels)} ${formatNumber(sample.count)}`)
    }
    return this
  }

  toString(): string {
    return this.#lines.length === 0 ? "" : `${this.#lines.join("\n")}\n`
  }

  #family(name: string, help: string, type: string, samples: ReadonlyArray<Sample>): this {
    this.#header(name, help, type)
    for (const sample of samples) this.#lines.push(`${name}${labelSet(sample.labels)} ${formatNumber(sample.value)}`)
    return this
  }

  #header(name: string, help: string, type: string): void {
    if (!METRIC_NAME.test(name)) throw new Error(`invalid metric name ${JSON.stringify(name)}`)
    this.#lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`)
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** A number as the format writes it: `+Inf`, `-Inf`, `NaN`, or the shortest decimal. */
export const formatNumber = (value: number): string =>
  value === Infinity ? "+Inf" : value === -Infinity ? "-Inf" : Number.isNaN(value) ? "NaN" : String(value)

const escapeHelp = (help: string): string => help.replaceAll("\\", "\\\\").replaceAll("\n", "\\n")

const escapeLabelValue = (value: string): string =>
  value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")

const labelSet = (labels: Labels | undefined): string => {
  if (labels === undefined) return ""
  const pairs: Array<string> = []
  for (const [name, value] of Object.entries(labels)) {
    if (!LABEL_NAME.test(name)) throw new Error(`invalid label name ${JSON.stringify(name)}`)
    pairs.push(`${name}="${escapeLabelValue(value)}"`)
  }
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`
}
