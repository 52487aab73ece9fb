/**
 * Reads the pages of one engine, scrape after scrape, into the store's values,
 * parsing only the families whose text changed since the previous page (a
 * histogram's, gauge's or counter's block written the plain way is read
 * without the parser: `internal/PlainBlock.ts`).
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
 * is parsed whole, and so is one whose bytes were not all UTF-8.
 */
import { Result } from "effect"
import type { ExpositionParseError } from "../exposition/MetricFamily.ts"
import { parse } from "../exposition/Parser.ts"
import {
  assemble,
  type FamilyRead,
  metricsOfPage,
  type PageMetrics,
  type PageSelection,
  readFamily
} from "./EnginePage.ts"
import { detached } from "./internal/Detached.ts"
import { type FamilyBlock, indentedCommentsInert, pageBlocks, samplesBelong } from "./internal/PageLayout.ts"
import { type BlockLayout, readPlainBlock } from "./internal/PlainBlock.ts"

/** What one family's block gave: its text, to compare with the next page's, and its values when wanted. */
interface ReadBlock {
  readonly family: string
  readonly text: string
  /** The selection asks for the family. */
  readonly wanted: boolean
  /** What the family gave; undefined when not wanted, or when the block had no sample the parser keeps. */
  readonly read: FamilyRead | undefined
  /** A block read without the parser: what its lines said before their values. */
  readonly layout?: BlockLayout | undefined
}

/** A page read block by block: its blocks in order, and whether a wanted family read otherwise than before. */
interface BlockRead {
  readonly blocks: ReadonlyArray<ReadBlock>
  readonly wantedChanged: boolean
}

/** What a page is read for: the selection, and the model of samples that name none. */
interface ReadContext {
  readonly selection: PageSelection
  readonly baseModel: string
}

/** The reader of one engine's pages; it keeps what it needs of the previous page. */
export class EnginePageReader {
  #context: ReadContext | undefined
  /** The blocks of the last page read by blocks, in page order; empty after one read whole. */
  #blocks: ReadonlyArray<ReadBlock> = []
  /** The last page read well, and what it gave. */
  #last: { readonly text: string; readonly metrics: PageMetrics } | undefined

  /** Whether the last page read was read block by block (else whole). */
  get readByBlocks(): boolean {
    return this.#blocks.length > 0
  }

  /**
   * The page's values for the selection, or the first malformed line of a
   * family it needs. Samples that name no model belong to `baseModel`.
   * `invalidUtf8` says the text was decoded from bytes that were not all UTF-8.
   */
  read(
    text: string,
    selection: PageSelection,
    baseModel: string,
    invalidUtf8 = false
  ): Result.Result<PageMetrics, ExpositionParseError> {
    const context = this.#contextFor(selection, baseModel)
    // An idle engine serves the same page again: one comparison.
    if (this.#last !== undefined && this.#last.text === text && !invalidUtf8) {
      this.#last = { text, metrics: this.#last.metrics }
      return Result.succeed(this.#last.metrics)
    }
    const read = invalidUtf8 ? undefined : this.#readBlocks(text, context)
    const last = this.#last
    const result =
      read === undefined
        ? Result.map(parse(text, { families: selection.families, malformed: "fail", invalidUtf8 }), (page) =>
            metricsOfPage(page, selection, baseModel)
          )
        : // Every family asked for reads as on the last page: so do its values.
          Result.succeed(
            !read.wantedChanged && last !== undefined ? last.metrics : this.#assemble(read.blocks, selection)
          )
    this.#blocks = read?.blocks ?? []
    this.#last = Result.isSuccess(result) && !invalidUtf8 ? { text, metrics: result.success } : undefined
    return result
  }

  /** The context of this read; a new one forgets what earlier pages gave. */
  #contextFor(selection: PageSelection, baseModel: string): ReadContext {
    const context = this.#context
    if (context !== undefined && context.selection === selection && context.baseModel === baseModel) return context
    this.#context = { selection, baseModel }
    this.#blocks = []
    this.#last = undefined
    return this.#context
  }

  /** The page read block by block; undefined when it must be parsed whole. */
  #readBlocks(text: string, context: ReadContext): BlockRead | undefined {
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
      const isWanted = previous?.wanted ?? context.selection.families.has(block.family)
      if (isWanted) wanted++
      if (previous !== undefined && previous.text === blockText) {
        // Keep the new page's text: the old page can then be collected.
        read.push({
          family: previous.family,
          text: blockText,
          wanted: previous.wanted,
          read: previous.read,
          layout: previous.layout
        })
        continue
      }
      wantedChanged ||= isWanted
      // The name outlives this page: a slice of it would keep the page alive.
      const family = previous?.family ?? detached(block.family)
      const changed = isWanted
        ? this.#readWanted(text, block, blockText, family, context, previous?.layout)
        : this.#readOther(text, block, family, blockText)
      if (changed === undefined) return undefined
      read.push(changed)
    }
    // A wanted family the page before had and this one lacks changes what it gives.
    const wantedBefore = before.reduce((count, block) => (block.wanted ? count + 1 : count), 0)
    return { blocks: read, wantedChanged: wantedChanged || wanted !== wantedBefore || before.length === 0 }
  }

  /** A changed block of a family not asked for: only checked to hold that family's samples alone. */
  #readOther(text: string, block: FamilyBlock, family: string, blockText: string): ReadBlock | undefined {
    if (!samplesBelong(text, block)) return undefined
    return { family, text: blockText, wanted: false, read: undefined }
  }

  /**
   * A changed block of a family asked for, parsed for every family, so that a
   * sample of another one shows as a family of its own. A malformed line, or
   * an indented comment that describes a family, is left to the whole page's
   * parse, which says whether it is one that counts.
   */
  #readWanted(
    text: string,
    block: FamilyBlock,
    blockText: string,
    family: string,
    context: ReadContext,
    layout: BlockLayout | undefined
  ): ReadBlock | undefined {
    const { selection, baseModel } = context
    const reading = selection.readings.get(family)!
    if (reading.kind !== "label") {
      // Histograms, gauges and counters, read without the parser when written the plain way.
      const read = readPlainBlock(blockText, family, reading.kind, selection.profile.modelLabels, baseModel, layout)
      if (read !== undefined) return { family, text: blockText, wanted: true, read: read.read, layout: read.layout }
    }
    if (!indentedCommentsInert(text, block)) return undefined
    const parsed = parse(blockText, { malformed: "fail" })
    if (Result.isFailure(parsed)) return undefined
    const { families, malformedFamilies } = parsed.success
    const others =
      families.size + malformedFamilies.size - (families.has(family) || malformedFamilies.has(family) ? 1 : 0)
    if (others > 0) return undefined
    const reason = malformedFamilies.get(family)
    const parsedFamily = families.get(family)
    const read: FamilyRead | undefined =
      reason !== undefined
        ? { _tag: "Malformed", reason: detached(reason) }
        : parsedFamily === undefined
          ? undefined
          : readFamily(parsedFamily, reading, selection.profile, baseModel)
    return { family, text: blockText, wanted: true, read }
  }

  #assemble(blocks: ReadonlyArray<ReadBlock>, selection: PageSelection): PageMetrics {
    const reads = new Map<string, FamilyRead>()
    for (const block of blocks) if (block.read !== undefined) reads.set(block.family, block.read)
    return assemble(selection, reads)
  }
}
