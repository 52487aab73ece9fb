/**
 * Reads the pages of one engine, scrape after scrape, into the store's values,
 * parsing only the families whose bytes changed since the previous page (a
 * histogram's, gauge's or counter's block written the plain way is read
 * without the parser: `internal/PlainBlock.ts`).
 *
 * An engine writes its families one after another, each as a block: its HELP
 * and TYPE lines, then its samples. Between two scrapes 50 ms apart most
 * blocks are unchanged (a histogram moves only when a request finishes), so a
 * block whose bytes equal the previous page's keeps the values it gave then,
 * at the cost of one native comparison. The page stays bytes: only a block
 * that changed is decoded, and the reader keeps the last page's bytes (off the
 * JavaScript heap) with where its blocks lie, not its text, so a page dies
 * young.
 *
 * When the page holds the families of the page before, in the same order, each
 * block is found by its first line as there; a block that changed is checked
 * to be one block of its family (its comment lines alone) and to hold its
 * family's samples only (a wanted family's block is parsed for every family,
 * another's has its sample names compared) before it is used. Otherwise the
 * page's blocks are found from its comment lines. The result is the same as
 * parsing the whole page (`metricsOfPage` over `parse`, a property test holds
 * the two together); a page not laid out in such blocks (a sample before any
 * HELP or TYPE line, a sample of another family in a block, a family in two
 * blocks) is parsed whole, and so is one that is not ASCII.
 */
import { isAscii, isUtf8 } from "node:buffer"
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

/** What one family's block gave, and how to find it on the next page. Where it lies is kept beside it. */
interface ReadBlock {
  readonly family: string
  /** Its length in bytes. */
  readonly length: number
  /**
   * Its first line, line break included, after the line break that ends the
   * line before: what it is found by on the next page, at a line's start.
   */
  readonly head: Buffer
  /** The selection asks for the family. */
  readonly wanted: boolean
  /** What the family gave; undefined when not wanted, or when the block had no sample the parser keeps. */
  readonly read: FamilyRead | undefined
  /** A block read without the parser: what its lines said before their values. */
  readonly layout?: BlockLayout | undefined
}

/** A page read block by block: its blocks in order, where each starts, and whether a wanted family read otherwise. */
interface BlockRead {
  readonly blocks: ReadonlyArray<ReadBlock>
  /** Each block's first byte; one more entry, the end of the last. */
  readonly starts: ReadonlyArray<number>
  readonly wantedChanged: boolean
}

/** What a page is read for: the selection, and the model of samples that name none. */
interface ReadContext {
  readonly selection: PageSelection
  readonly baseModel: string
}

/** Whether `a` from `aStart` holds the `length` bytes of `b` from `bStart`. */
const same = (a: Buffer, aStart: number, b: Buffer, bStart: number, length: number): boolean =>
  aStart + length <= a.length && a.compare(b, bStart, bStart + length, aStart, aStart + length) === 0

/** The reader of one engine's pages; it keeps what it needs of the previous page. */
export class EnginePageReader {
  #context: ReadContext | undefined
  /** The last page read by blocks, and its blocks; undefined after one read whole. */
  #page: { readonly bytes: Buffer; readonly read: BlockRead } | undefined
  /** The last page read well, and what it gave. */
  #last: { readonly bytes: Buffer; readonly metrics: PageMetrics } | undefined
  /** Each family's first line as last read, and its bytes after a line break: what its block is found by. */
  readonly #heads = new Map<string, { readonly line: string; readonly bytes: Buffer }>()

  /** Whether the last page read was read block by block (else whole). */
  get readByBlocks(): boolean {
    return this.#page !== undefined
  }

  /**
   * The page's values for the selection, or the first malformed line of a
   * family it needs, from its bytes as fetched. Samples that name no model
   * belong to `baseModel`.
   */
  read(bytes: Buffer, selection: PageSelection, baseModel: string): Result.Result<PageMetrics, ExpositionParseError> {
    const context = this.#contextFor(selection, baseModel)
    const last = this.#last
    // An idle engine serves the same page again: one comparison.
    if (last?.bytes.equals(bytes)) return Result.succeed(last.metrics)
    if (!isAscii(bytes)) return this.#readWhole(bytes, bytes.toString("utf8"), !isUtf8(bytes))
    const read = this.#readChanges(bytes, context) ?? this.#readLayout(bytes, context)
    if (read === undefined) return this.#readWhole(bytes, bytes.toString("latin1"), false)
    // Every family asked for reads as on the last page: so do its values.
    const metrics = !read.wantedChanged && last !== undefined ? last.metrics : this.#assemble(read.blocks, selection)
    this.#page = { bytes, read }
    this.#last = { bytes, metrics }
    return Result.succeed(metrics)
  }

  /** The context of this read; a new one forgets what earlier pages gave. */
  #contextFor(selection: PageSelection, baseModel: string): ReadContext {
    const context = this.#context
    if (context !== undefined && context.selection === selection && context.baseModel === baseModel) return context
    this.#context = { selection, baseModel }
    this.#page = undefined
    this.#last = undefined
    return this.#context
  }

  /** The page parsed whole; its bytes kept to know it again unless they were not all UTF-8. */
  #readWhole(bytes: Buffer, text: string, invalidUtf8: boolean): Result.Result<PageMetrics, ExpositionParseError> {
    const { selection, baseModel } = this.#context!
    const result = Result.map(parse(text, { families: selection.families, malformed: "fail", invalidUtf8 }), (page) =>
      metricsOfPage(page, selection, baseModel)
    )
    this.#page = undefined
    this.#last = Result.isSuccess(result) && !invalidUtf8 ? { bytes, metrics: result.success } : undefined
    return result
  }

  /**
   * The page read over the last one's blocks, when it holds the same families
   * in the same order with the same lines around them; undefined otherwise.
   */
  #readChanges(bytes: Buffer, context: ReadContext): BlockRead | undefined {
    if (this.#page === undefined) return undefined
    const last = this.#page.bytes
    const { blocks: before, starts: lastStarts } = this.#page.read
    const count = before.length
    const first = lastStarts[0]!
    const tail = last.length - lastStarts[count]!
    const pageEnd = bytes.length - tail
    // The lines before the first block and after the last (a `# EOF`), as on the page before.
    if (pageEnd < first || !same(bytes, 0, last, 0, first) || !same(bytes, pageEnd, last, last.length - tail, tail)) {
      return undefined
    }
    const starts: Array<number> = new Array(count + 1)
    let blocks: Array<ReadBlock> | undefined
    let wantedChanged = false
    let at = first
    for (let index = 0; index < count; index++) {
      starts[index] = at
      const previous = before[index]!
      const next = before[index + 1]
      // Unchanged: the same bytes, then the next block's first line (or the page's end).
      const unchangedEnd = at + previous.length
      const unchanged =
        same(bytes, at, last, lastStarts[index]!, previous.length) &&
        (next === undefined ? unchangedEnd === pageEnd : same(bytes, unchangedEnd - 1, next.head, 0, next.head.length))
      if (unchanged) {
        blocks?.push(previous)
        at = unchangedEnd
        continue
      }
      const end = next === undefined ? pageEnd : nextBlockAt(bytes, at, pageEnd, next)
      if (end === -1) return undefined
      const changed = this.#readChanged(bytes, at, end, previous, context)
      if (changed === undefined) return undefined
      blocks ??= before.slice(0, index)
      blocks.push(changed)
      wantedChanged ||= previous.wanted
      at = end
    }
    if (at !== pageEnd) return undefined
    starts[count] = at
    return { blocks: blocks ?? before, starts, wantedChanged }
  }

  /** A changed block where the page before had `previous`: one block of the same family, read; else undefined. */
  #readChanged(
    bytes: Buffer,
    start: number,
    end: number,
    previous: ReadBlock,
    context: ReadContext
  ): ReadBlock | undefined {
    const text = bytes.toString("latin1", start, end)
    // A block read the plain way holds only its HELP and TYPE lines and its samples: one block of its family.
    const plain = previous.wanted ? this.#readPlain(text, previous.family, context, previous.layout) : undefined
    if (plain !== undefined) return plain
    const found = pageBlocks(text)
    const block = found?.length === 1 ? found[0]! : undefined
    if (block === undefined || block.family !== previous.family || block.start !== 0 || block.end !== text.length) {
      return undefined
    }
    return previous.wanted
      ? this.#readParsed(text, block, text, previous.family, context)
      : this.#readOther(text, block, previous.family, text)
  }

  /** The page's blocks found from its comment lines, those unchanged since the page before kept; undefined if none. */
  #readLayout(bytes: Buffer, context: ReadContext): BlockRead | undefined {
    const text = bytes.toString("latin1")
    const lastPage = this.#page
    const before = lastPage?.read.blocks ?? []
    const found = pageBlocks(text, before)
    if (found === undefined) return undefined
    let byFamily: ReadonlyMap<string, number> | undefined
    const previousOf = (index: number, family: string): number | undefined => {
      // Pages keep their families in order: the block at the same place mostly is the one.
      if (before[index]?.family === family) return index
      byFamily ??= new Map(before.map((block, at) => [block.family, at]))
      return byFamily.get(family)
    }
    const blocks: Array<ReadBlock> = []
    const starts: Array<number> = new Array(found.length + 1)
    let wanted = 0
    let wantedChanged = false
    for (let index = 0; index < found.length; index++) {
      const block = found[index]!
      starts[index] = block.start
      const at = previousOf(index, block.family)
      const previous = at === undefined ? undefined : before[at]
      const isWanted = previous?.wanted ?? context.selection.families.has(block.family)
      if (isWanted) wanted++
      const length = block.end - block.start
      if (
        previous !== undefined &&
        previous.length === length &&
        same(bytes, block.start, lastPage!.bytes, lastPage!.read.starts[at!]!, length)
      ) {
        blocks.push(previous)
        continue
      }
      wantedChanged ||= isWanted
      const blockText = text.slice(block.start, block.end)
      // The name outlives this page: a slice of it would keep the page alive.
      const family = previous?.family ?? detached(block.family)
      const changed = isWanted
        ? (this.#readPlain(blockText, family, context, previous?.layout) ??
          this.#readParsed(text, block, blockText, family, context))
        : this.#readOther(text, block, family, blockText)
      if (changed === undefined) return undefined
      blocks.push(changed)
    }
    starts[found.length] = found.length === 0 ? 0 : found[found.length - 1]!.end
    // A wanted family the page before had and this one lacks changes what it gives.
    const wantedBefore = before.reduce((count, block) => (block.wanted ? count + 1 : count), 0)
    return {
      blocks,
      starts,
      wantedChanged: wantedChanged || wanted !== wantedBefore || before.length === 0
    }
  }

  /** A changed block of a family not asked for: only checked to hold that family's samples alone. */
  #readOther(text: string, block: FamilyBlock, family: string, blockText: string): ReadBlock | undefined {
    if (!samplesBelong(text, block)) return undefined
    return { family, ...this.#sizeOf(family, blockText), wanted: false, read: undefined }
  }

  /** A changed block of a histogram, gauge or counter asked for, read without the parser when written the plain way. */
  #readPlain(
    blockText: string,
    family: string,
    context: ReadContext,
    layout: BlockLayout | undefined
  ): ReadBlock | undefined {
    const { selection, baseModel } = context
    const reading = selection.readings.get(family)!
    if (reading.kind === "label") return undefined
    const merge = reading.kind === "simple" ? reading.merge : undefined
    const { modelLabels } = selection.profile
    const read = readPlainBlock(blockText, family, reading.kind, modelLabels, baseModel, layout, merge)
    return read === undefined
      ? undefined
      : { family, ...this.#sizeOf(family, blockText), wanted: true, read: read.read, layout: read.layout }
  }

  /**
   * A changed block of a family asked for, parsed for every family, so that a
   * sample of another one shows as a family of its own. A malformed line, or
   * an indented comment that describes a family, is left to the whole page's
   * parse, which says whether it is one that counts.
   */
  #readParsed(
    text: string,
    block: FamilyBlock,
    blockText: string,
    family: string,
    context: ReadContext
  ): ReadBlock | undefined {
    const { selection, baseModel } = context
    const reading = selection.readings.get(family)!
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
    return { family, ...this.#sizeOf(family, blockText), wanted: true, read }
  }

  /** A block's length and first line, in bytes (the page is ASCII: one byte a character); the line's bytes kept per family. */
  #sizeOf(family: string, blockText: string): { readonly length: number; readonly head: Buffer } {
    const newline = blockText.indexOf("\n")
    const line = newline === -1 ? blockText : blockText.slice(0, newline + 1)
    let head = this.#heads.get(family)
    if (head === undefined || head.line !== line) {
      head = { line: detached(line), bytes: Buffer.from(`\n${line}`, "latin1") }
      this.#heads.set(family, head)
    }
    return { length: blockText.length, head: head.bytes }
  }

  #assemble(blocks: ReadonlyArray<ReadBlock>, selection: PageSelection): PageMetrics {
    const reads = new Map<string, FamilyRead>()
    for (const block of blocks) if (block.read !== undefined) reads.set(block.family, block.read)
    return assemble(selection, reads)
  }
}

/** Where the block `next` starts on this page, after `start`: at its first line as on the last page; -1 if absent. */
const nextBlockAt = (bytes: Buffer, start: number, pageEnd: number, next: ReadBlock): number => {
  const found = bytes.indexOf(next.head, start)
  return found === -1 || found + 1 > pageEnd ? -1 : found + 1
}
