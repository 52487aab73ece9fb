/**
 * Writes families as a text exposition page, the way engines write theirs:
 * the simulated engines of the demo serve what this renders.
 */
import type { MetricFamily } from "./MetricFamily.ts"

/** A sample value as the format writes it: `NaN`, `+Inf`, `-Inf`, `-0`, or the shortest decimal. */
export const formatSampleValue = (value: number): string => {
  if (value === Infinity) return "+Inf"
  if (value === -Infinity) return "-Inf"
  if (Object.is(value, -0)) return "-0"
  return String(value)
}

const escapeLabelValue = (value: string): string =>
  value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")

const escapeHelp = (help: string): string => help.replaceAll("\\", "\\\\").replaceAll("\n", "\\n")

export interface RenderOptions {
  /** How values are written; `formatSampleValue` unless given. */
  readonly formatValue?: (value: number) => string
}

/** Writes families as a page: per family its HELP (when given), its TYPE (unless untyped), and its samples. */
export const render = (families: Iterable<MetricFamily>, options?: RenderOptions): string => {
  const formatValue = options?.formatValue ?? formatSampleValue
  let page = ""
  for (const family of families) {
    if (family.help !== undefined) page += `# HELP ${family.name} ${escapeHelp(family.help)}\n`
    if (family.type !== "untyped") page += `# TYPE ${family.name} ${family.type}\n`
    for (const sample of family.samples) {
      page += sample.name
      let separator = "{"
      for (const name of Object.keys(sample.labels)) {
        page += `${separator}${name}="${escapeLabelValue(sample.labels[name]!)}"`
        separator = ","
      }
      if (separator === ",") page += "}"
      page += ` ${formatValue(sample.value)}`
      if (sample.timestamp !== undefined) page += ` ${sample.timestamp}`
      page += "\n"
    }
  }
  return page
}
