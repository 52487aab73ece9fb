/**
 * Reads the pages of one engine, scrape after scrape, into the store's values,
 * parsing only the families whose text changed since the previous page.
 *
 * An engine writes its families one after another, each as a block: its HELP
 * and TYPE lines, then its samples. Between two scrapes 50 ms apart most
 * blocks are unchanged (a histogram moves only when a request finishes), so a
 * block whose text equals the previous page's keeps the values it gave then,
 * at the cost of one string comparison. Blocks are found from the comment
 * lines alone; a block that changed is checked to hold its family's samples
 * only (a wanted family's block is parsed for every family, another's has its
 * sample names compared) before it is used. The result is the same as parsing
 * the whole page (`metricsOfPage` over `parse`, a property test holds the two
 * together); a page not laid out in such blocks (a sample before any HELP or
 * TYPE line, a sample of another family in a block, a family in two blocks)
 * is parsed whole.
 */
import { Result } from "effect"
import type { EngineMetrics } from "../store/FleetStore.ts"
import { metricsOfPage, type PageMetrics } from "./EnginePage.ts"
import type { EngineMetric } from "./MetricCatalogue.ts"
import type { MetricValue } from "../store/MetricValue.ts"
import type { ExpositionParseError } from "../exposition/MetricFamily.ts"
import { parse } from "../exposition/Parser.ts"
import { type FamilyBlock, indentedCommentsInert, pageBlocks, samplesBelong } from "./internal/PageLayout.ts"

/** The engine metrics to read from pages, and the families they come from. */
export interface PageSelection {
  readonly metrics: ReadonlyArray<EngineMetric>
  readonly families: ReadonlySet<string>
}

/** What one family's block gave: its text, to compare with the next page's, and its values when wanted. */
interface ReadBlock {
  readonly family: string
  readonly text: string
  /** The selection asks for the family. */
  readonly wanted: boolean
  readonly metrics: EngineMetrics | undefined
  /** The block had no sample the parser would keep: the family counts as missing. */
  readonly empty: boolean
}

/** Adds `from`'s values into `into` (the families' metrics never share a name). */
const mergeInto = (
  into: { readonly pod: Map<string, MetricValue>; readonly models: Map<string, Map<string, MetricValue>> },
  from: EngineMetrics
): void => {
  for (const [metric, value] of from.pod) into.pod.set(metric, value)
  for (const [model, values] of from.models) {
    let stored = into.models.get(model)
    if (stored === undefined) {
      stored = new Map()
      into.models.set(model, stored)
    }
    for (const [metric, value] of values) stored.set(metric, value)
  }
}

/** A page read block by block: its blocks in order, and whether a wanted family read otherwise than before. */
interface BlockRead {
  readonly blocks: ReadonlyArray<ReadBlock>
  readonly wantedChanged: boolean
}

/** The reader of one engine's pages; it keeps what it needs of the previous page. */
export class EnginePageReader {
  #selection: PageSelection | undefined
  /** The blocks of the last page read by blocks, in page order; empty after one read whole. */
  #blocks: ReadonlyArray<ReadBlock> = []
  #metricsByFamily = new Map<string, ReadonlyArray<EngineMetric>>()
  /** The last page read well, and what it gave. */
  #last: { readonly text: string; readonly metrics: PageMetrics } | undefined

  /** Whether the last page read was read block by block (else whole). */
  get readByBlocks(): boolean {
    return this.#blocks.length > 0
  }

  /** The page's values for the selection, or the first malformed line of a family it needs. */
  read(text: string, selection: PageSelection): Result.Result<PageMetrics, ExpositionParseError> {
    if (selection !== this.#selection) this.#select(selection)
    // An idle engine serves the same page again: one comparison.
    if (this.#last !== undefined && this.#last.text === text) {
      this.#last = { text, metrics: this.#last.metrics }
      return Result.succeed(this.#last.metrics)
    }
    const read = this.#readBlocks(text, selection)
    const last = this.#last
    const result =
      read === undefined
        ? Result.map(parse(text, { families: selection.families, malformed: "fail" }), (page) =>
            metricsOfPage(page, selection.metrics)
          )
        : // Every family asked for reads as on the last page: so do its values.
          Result.succeed(!read.wantedChanged && last !== undefined ? last.metrics : this.#assemble(read.blocks))
    this.#blocks = read?.blocks ?? []
    this.#last = Result.isSuccess(result) ? { text, metrics: result.success } : undefined
    return result
  }

  /** The page read block by block; undefined when it must be parsed whole. */
  #readBlocks(text: string, selection: PageSelection): BlockRead | undefined {
    const before = this.#blocks
    const blocks = pageBlocks(text, before)
    if (blocks === undefined) return undefined
    let byFamily: ReadonlyMap<string, ReadBlock> | undefined
    const previousOf = (index: number, family: string): ReadBlock | undefined => {
      // Pages keep their families in order: the block at the same place mostly is the one.
      const same = before[index]
      if (same !== undefined && same.family === family) return same
      byFamily ??= new Map(before.map((block) => [block.family, block]))
      return byFamily.get(family)
    }
    const read: Array<ReadBlock> = []
    let wanted = 0
    let wantedChanged = false
    for (let index = 0; index < blocks.length; index++) {
      const block = blocks[index]!
      const blockText = text.slice(block.start, block.end)
      const previous = previousOf(index, block.family)
      const isWanted = previous?.wanted ?? selection.families.has(block.family)
      if (isWanted) wanted++
      if (previous !== undefined && previous.text === blockText) {
        // Keep the new page's text: the old page can then be collected.
        read.push({ ...previous, text: blockText })
        continue
      }
      wantedChanged ||= isWanted
      const changed = isWanted ? this.#readWanted(text, block, blockText) : this.#readOther(text, block, blockText)
      if (changed === undefined) return undefined
      read.push(changed)
    }
    // A wanted family the page before had and this one lacks changes what it gives.
    const wantedBefore = before.reduce((count, block) => (block.wanted ? count + 1 : count), 0)
    return { blocks: read, wantedChanged: wantedChanged || wanted !== wantedBefore || before.length === 0 }
  }

  /** A changed block of a family not asked for: only checked to hold that family's samples alone. */
  #readOther(text: string, block: FamilyBlock, blockText: string): ReadBlock | undefined {
    if (!samplesBelong(text, block)) return undefined
    return { family: block.family, text: blockText, wanted: false, metrics: undefined, empty: true }
  }

  /**
   * A changed block of a family asked for, parsed for every family, so that a
   * sample of another one shows as a family of its own. A malformed line, or
   * an indented comment that describes a family, is left to the whole page's
   * parse, which says whether it is one that counts.
   */
  #readWanted(text: string, block: FamilyBlock, blockText: string): ReadBlock | undefined {
    const family = block.family
    if (!indentedCommentsInert(text, block)) return undefined
    const parsed = parse(blockText, { malformed: "fail" })
    if (Result.isFailure(parsed)) return undefined
    const families = parsed.success.families
    if (families.size > 1 || (families.size === 1 && !families.has(family))) return undefined
    const { metrics, missingFamilies } = metricsOfPage(parsed.success, this.#metricsByFamily.get(family)!)
    return { family, text: blockText, wanted: true, metrics, empty: missingFamilies.length > 0 }
  }

  #select(selection: PageSelection): void {
    this.#selection = selection
    this.#blocks = []
    this.#last = undefined
    const byFamily = new Map<string, Array<EngineMetric>>()
    for (const metric of selection.metrics) {
      const metrics = byFamily.get(metric.family)
      if (metrics === undefined) byFamily.set(metric.family, [metric])
      else metrics.push(metric)
    }
    this.#metricsByFamily = byFamily
  }

  #assemble(blocks: ReadonlyArray<ReadBlock>): PageMetrics {
    const metrics = { pod: new Map<string, MetricValue>(), models: new Map<string, Map<string, MetricValue>>() }
    const present = new Set<string>()
    for (const block of blocks) {
      if (block.metrics === undefined) continue
      mergeInto(metrics, block.metrics)
      if (!block.empty) present.add(block.family)
    }
    const missingFamilies = [...this.#metricsByFamily.keys()].filter((family) => !present.has(family))
    return { metrics, missingFamilies }
  }
}
