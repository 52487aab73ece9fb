/**
 * Reads the pages of one engine, scrape after scrape, into the store's values,
 * parsing only the families whose text changed since the previous page.
 *
 * An engine writes its families one after another, each as a block: its HELP
 * and TYPE lines, then its samples. Between two scrapes 50 ms apart most
 * blocks are unchanged (a histogram moves only when a request finishes), so a
 * block whose text equals the previous page's keeps the values it gave then,
 * at the cost of one string comparison. Blocks are found from the comment
 * lines alone; a block that changed has each of its sample lines checked to
 * belong to its family before it is used. The result is the same as parsing
 * the whole page (`metricsOfPage` over `parse`, a property test holds the two
 * together); a page not laid out in such blocks (a sample before any HELP or
 * TYPE line, a sample of another family in a block, a family in two blocks)
 * is parsed whole.
 */
import { Result } from "effect"
import type { EngineMetrics } from "./FleetStore.ts"
import { metricsOfPage, type PageMetrics } from "./EnginePage.ts"
import type { EngineMetric } from "./MetricCatalogue.ts"
import type { MetricValue } from "./MetricValue.ts"
import { type ExpositionParseError, parse } from "./PrometheusText.ts"

/** The engine metrics to read from pages, and the families they come from. */
export interface PageSelection {
  readonly metrics: ReadonlyArray<EngineMetric>
  readonly families: ReadonlySet<string>
}

/** One family's lines on a page: from its first HELP or TYPE line to the next family's. */
export interface FamilyBlock {
  readonly family: string
  /** As its TYPE line says, lower case; `untyped` without one. */
  readonly type: string
  readonly start: number
  readonly end: number
}

const SPACE = 32
const TAB = 9
const HASH = 35
const NEWLINE = 10
const RETURN = 13
const OPEN_BRACE = 123
const UNDERSCORE = 95

const isBlank = (code: number): boolean => code === SPACE || code === TAB

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const BLANK_LINES = /^[ \t\r\n]*$/

/** The end of the line that starts at `start`, without its line break. */
const lineEnd = (text: string, start: number): number => {
  let next = text.indexOf("\n", start)
  if (next === -1) next = text.length
  return next > start && text.charCodeAt(next - 1) === RETURN ? next - 1 : next
}

const skipBlanks = (text: string, start: number, end: number): number => {
  let cursor = start
  while (cursor < end && isBlank(text.charCodeAt(cursor))) cursor++
  return cursor
}

/** The end of the word at `start` (the first blank or the line's end). */
const wordEnd = (text: string, start: number, end: number): number => {
  let cursor = start
  while (cursor < end && !isBlank(text.charCodeAt(cursor))) cursor++
  return cursor
}

/** Sample name endings the parser files under a typed histogram or summary family. */
const HISTOGRAM_SUFFIXES: ReadonlyArray<string> = ["_bucket", "_sum", "_count"]
const SUMMARY_SUFFIXES: ReadonlyArray<string> = ["_sum", "_count"]
const NO_SUFFIXES: ReadonlyArray<string> = []

/** A name a histogram or summary would fold into its base family. */
const baseOfSuffixed = (name: string): string | undefined => {
  for (const suffix of HISTOGRAM_SUFFIXES) if (name.endsWith(suffix)) return name.slice(0, -suffix.length)
  return undefined
}

/** What a comment line says: a HELP or TYPE line of a family, the page's end, or nothing the layout needs. */
type Comment =
  | { readonly _tag: "Describes"; readonly family: string; readonly type: string | undefined }
  | { readonly _tag: "End" }
  | { readonly _tag: "Other" }
  | { readonly _tag: "Malformed" }

const OTHER: Comment = { _tag: "Other" }
const END: Comment = { _tag: "End" }
const MALFORMED: Comment = { _tag: "Malformed" }

/**
 * The end of the name at `start`: the next space, else the line's end. A tab
 * (a blank to the parser too) stays in the name, which then fails the name
 * test: such a page is parsed whole.
 */
const nameEnd = (text: string, start: number, end: number): number => {
  const space = text.indexOf(" ", start)
  return space === -1 || space > end ? end : space
}

/** Reads the comment line `[start, end)`, whose first character is `#`. */
const readComment = (text: string, start: number, end: number): Comment => {
  const keywordStart = skipBlanks(text, start + 1, end)
  const keywordEnd = wordEnd(text, keywordStart, end)
  const keyword = text.slice(keywordStart, keywordEnd)
  if (keyword === "EOF") return skipBlanks(text, keywordEnd, end) === end ? END : OTHER
  if (keyword !== "HELP" && keyword !== "TYPE") return OTHER
  const nameStart = skipBlanks(text, keywordEnd, end)
  const family = text.slice(nameStart, nameEnd(text, nameStart, end))
  if (!METRIC_NAME.test(family)) return MALFORMED
  if (keyword === "HELP") return { _tag: "Describes", family, type: undefined }
  const typeStart = skipBlanks(text, nameStart + family.length, end)
  if (typeStart === end) return MALFORMED
  return { _tag: "Describes", family, type: text.slice(typeStart, wordEnd(text, typeStart, end)).toLowerCase() }
}

/** The start of the next line after `from` that begins with `#`, or -1. */
const nextCommentLine = (text: string, from: number): number => {
  // One character is searched for faster than two; a `#` inside a line is rare.
  for (let hash = text.indexOf("#", from); hash !== -1; hash = text.indexOf("#", hash + 1)) {
    if (hash > 0 && text.charCodeAt(hash - 1) === NEWLINE) return hash
  }
  return -1
}

/**
 * The page's family blocks, found from its comment lines (those that start
 * with `#`), or undefined when they do not lay the page out in blocks: text
 * before the first block, a family named twice, a family whose name another's
 * histogram would fold in, a HELP or TYPE line the parser refuses. Whether
 * each block's samples are its family's is not checked here.
 */
export const pageBlocks = (text: string): ReadonlyArray<FamilyBlock> | undefined => {
  const blocks: Array<FamilyBlock> = []
  const seen = new Set<string>()
  let family: string | undefined
  let type = "untyped"
  let blockStart = 0
  let pageEnd = text.length
  const close = (at: number) => {
    if (family !== undefined) blocks.push({ family, type, start: blockStart, end: at })
  }
  const first = text.charCodeAt(0) === HASH ? 0 : nextCommentLine(text, 0)
  // Before the first comment line, only blank lines: a sample there has no block.
  if (first === -1) return BLANK_LINES.test(text) ? [] : undefined
  if (!BLANK_LINES.test(text.slice(0, first))) return undefined
  let start = first
  while (true) {
    const end = lineEnd(text, start)
    const comment = readComment(text, start, end)
    if (comment._tag === "Malformed") return undefined
    if (comment._tag === "End") {
      pageEnd = start
      break
    }
    if (comment._tag === "Describes") {
      if (comment.family !== family) {
        if (seen.has(comment.family)) return undefined
        close(start)
        seen.add(comment.family)
        family = comment.family
        type = "untyped"
        blockStart = start
      }
      if (comment.type !== undefined) type = comment.type
    }
    const next = nextCommentLine(text, end)
    if (next === -1) break
    start = next
  }
  close(pageEnd)
  for (const name of seen) {
    const base = baseOfSuffixed(name)
    if (base !== undefined && seen.has(base)) return undefined
  }
  return blocks
}

/** Whether the sample name ends at `at`: a label set, a blank, or the line's end follow. */
const nameEndsAt = (text: string, at: number, end: number): boolean =>
  at === end || text.charCodeAt(at) === OPEN_BRACE || isBlank(text.charCodeAt(at))

/**
 * Whether the sample line at `start` belongs to the block's family as the
 * parser would file it: the family's own name (not for a histogram), or a
 * histogram's or summary's suffixed name.
 */
const belongsTo = (text: string, start: number, end: number, block: FamilyBlock): boolean => {
  const after = start + block.family.length
  // A slice compared whole is one native comparison, far faster than a loop over characters.
  if (after > end || text.slice(start, after) !== block.family) return false
  if (nameEndsAt(text, after, end)) return block.type !== "histogram"
  if (text.charCodeAt(after) !== UNDERSCORE) return false
  const suffixes = block.type === "histogram" ? HISTOGRAM_SUFFIXES : block.type === "summary" ? SUMMARY_SUFFIXES : NO_SUFFIXES
  for (const suffix of suffixes) {
    if (text.slice(after, after + suffix.length) === suffix && nameEndsAt(text, after + suffix.length, end)) return true
  }
  return false
}

/**
 * Whether every sample line of the block belongs to its family, and its
 * other lines are blank or comments that do not describe a family (those
 * begin blocks of their own when they start their line).
 */
export const samplesBelong = (text: string, block: FamilyBlock): boolean => {
  let start = block.start
  // The sample name of the line before, and its verdict: lines in a row mostly repeat it.
  let lastName = ""
  while (start < block.end) {
    const end = Math.min(lineEnd(text, start), block.end)
    const cursor = skipBlanks(text, start, end)
    if (cursor < end) {
      if (text.charCodeAt(cursor) === HASH) {
        if (cursor > start && readComment(text, cursor, end)._tag !== "Other") return false
      } else {
        const brace = text.indexOf("{", cursor)
        const nameEnd = brace !== -1 && brace < end ? brace : wordEnd(text, cursor, end)
        const name = text.slice(cursor, nameEnd)
        if (name !== lastName) {
          if (!belongsTo(text, cursor, end, block)) return false
          lastName = name
        }
      }
    }
    const next = text.indexOf("\n", end)
    if (next === -1) break
    start = next + 1
  }
  return true
}

/** What one family's block gave: its text, to compare with the next page's, and its values when wanted. */
interface ReadBlock {
  readonly text: string
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

/** The reader of one engine's pages; it keeps what it needs of the previous page. */
export class EnginePageReader {
  #selection: PageSelection | undefined
  #blocks = new Map<string, ReadBlock>()
  #metricsByFamily = new Map<string, ReadonlyArray<EngineMetric>>()
  #byBlocks = false
  /** How many blocks of wanted families the last page had. */
  #wantedBlocks = 0
  /** The last page read well, and what it gave. */
  #last: { readonly text: string; readonly metrics: PageMetrics } | undefined

  /** Whether the last page read was read block by block (else whole). */
  get readByBlocks(): boolean {
    return this.#byBlocks
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
    const wantedAsBefore = read !== undefined && this.#byBlocks && this.#last !== undefined &&
      !read.wantedChanged && read.wanted === this.#wantedBlocks
    this.#byBlocks = read !== undefined
    this.#blocks = read?.blocks ?? new Map()
    this.#wantedBlocks = read?.wanted ?? 0
    const result = read === undefined
      ? Result.map(
        parse(text, { families: selection.families, malformed: "fail" }),
        (page) => metricsOfPage(page, selection.metrics)
      )
      // Every family asked for reads as on the last page: so do its values.
      : Result.succeed(wantedAsBefore ? this.#last!.metrics : this.#assemble(read.blocks))
    this.#last = Result.isSuccess(result) ? { text, metrics: result.success } : undefined
    return result
  }

  /**
   * The page read block by block, with how many blocks of wanted families it
   * has and whether one of them changed; undefined when it must be parsed whole.
   */
  #readBlocks(
    text: string,
    selection: PageSelection
  ): { readonly blocks: Map<string, ReadBlock>; readonly wanted: number; readonly wantedChanged: boolean } | undefined {
    const blocks = pageBlocks(text)
    if (blocks === undefined) return undefined
    const read = new Map<string, ReadBlock>()
    let wanted = 0
    let wantedChanged = false
    for (const block of blocks) {
      const blockText = text.slice(block.start, block.end)
      const previous = this.#blocks.get(block.family)
      if (selection.families.has(block.family)) wanted++
      if (previous !== undefined && previous.text === blockText) {
        // Keep the new page's text: the old page can then be collected.
        read.set(block.family, { ...previous, text: blockText })
        continue
      }
      if (!selection.families.has(block.family)) {
        if (!samplesBelong(text, block)) return undefined
        read.set(block.family, { text: blockText, metrics: undefined, empty: true })
        continue
      }
      // Parsed for every family, so that a sample of another one shows as a
      // family of its own. A malformed line is left to the whole page's parse,
      // which says whether it is one that counts.
      const parsed = parse(blockText, { malformed: "fail" })
      if (Result.isFailure(parsed)) return undefined
      const families = parsed.success.families
      if (families.size > 1 || (families.size === 1 && !families.has(block.family))) return undefined
      const { metrics, missingFamilies } = metricsOfPage(parsed.success, this.#metricsByFamily.get(block.family)!)
      read.set(block.family, { text: blockText, metrics, empty: missingFamilies.length > 0 })
      wantedChanged = true
    }
    return { blocks: read, wanted, wantedChanged }
  }

  #select(selection: PageSelection): void {
    this.#selection = selection
    this.#blocks = new Map()
    this.#last = undefined
    const byFamily = new Map<string, Array<EngineMetric>>()
    for (const metric of selection.metrics) {
      const metrics = byFamily.get(metric.family)
      if (metrics === undefined) byFamily.set(metric.family, [metric])
      else metrics.push(metric)
    }
    this.#metricsByFamily = byFamily
  }

  #assemble(read: ReadonlyMap<string, ReadBlock>): PageMetrics {
    const metrics = { pod: new Map<string, MetricValue>(), models: new Map<string, Map<string, MetricValue>>() }
    const missingFamilies: Array<string> = []
    for (const family of this.#metricsByFamily.keys()) {
      const block = read.get(family)
      if (block?.metrics === undefined || block.empty) missingFamilies.push(family)
      if (block?.metrics !== undefined) mergeInto(metrics, block.metrics)
    }
    return { metrics, missingFamilies }
  }
}
