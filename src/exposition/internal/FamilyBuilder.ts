/**
 * What the parser builds while it reads a page: one builder per family it
 * met, the role a sample plays in its family, and the page they make.
 */
import type { MetricFamily, MetricType, ParsedPage, Sample } from "../MetricFamily.ts"
import { suffixLength } from "../Lexing.ts"

export const TYPES: ReadonlyMap<string, MetricType> = new Map([
  ["counter", "counter"],
  ["gauge", "gauge"],
  ["histogram", "histogram"],
  ["summary", "summary"],
  ["untyped", "untyped"]
])

/** What a sample is to its family; decides which label it must carry. */
export type Role = 0 | 1 | 2 | 3 | 4
export const Role = {
  Plain: 0,
  Bucket: 1,
  SumOrCount: 2,
  Quantile: 3,
  /** A sample of a histogram family named like the family itself: not allowed. */
  BareHistogram: 4
} as const

export class FamilyBuilder {
  readonly name: string
  readonly wanted: boolean
  /** Whether the name does not end like a histogram's or summary's sample. */
  readonly plainName: boolean
  type: MetricType = "untyped"
  typed = false
  help: string | undefined = undefined
  readonly samples: Array<Sample> = []
  /** Why the family cannot be trusted, from its first line that spoils it (see `ParsedPage.malformedFamilies`). */
  malformed: string | undefined = undefined

  constructor(name: string, wanted: boolean) {
    this.name = name
    this.wanted = wanted
    this.plainName = suffixLength(name) === 0
  }
}

/** The page the builders make: families with samples, malformed ones apart. */
export const pageOf = (builders: ReadonlyMap<string, FamilyBuilder>, skippedLines: number): ParsedPage => {
  const families = new Map<string, MetricFamily>()
  let malformedFamilies: Map<string, string> | undefined
  for (const family of builders.values()) {
    if (family.malformed !== undefined) {
      malformedFamilies ??= new Map()
      malformedFamilies.set(family.name, family.malformed)
      continue
    }
    if (family.samples.length === 0) continue
    families.set(family.name, { name: family.name, type: family.type, help: family.help, samples: family.samples })
  }
  return { families, malformedFamilies: malformedFamilies ?? NO_MALFORMED, skippedLines }
}

const NO_MALFORMED: ReadonlyMap<string, string> = new Map()
