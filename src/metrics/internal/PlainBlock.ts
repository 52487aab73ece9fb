/**
 * A family's block read straight into its values, line by line, with no
 * sample or label objects: the page reader's way for the blocks of the
 * families it reads (a histogram's moves whenever a request ends: its model's
 * buckets, `_sum` and `_count`; a gauge's or counter's with the load). What a
 * line says before its value (name and labels: its series) is kept from one
 * page to the next, so that a line whose series is as on the page before
 * costs one comparison and the reading of its value.
 *
 * It takes only a block written as engines write one: `# HELP <family> ...`
 * and `# TYPE <family> <type>` first (histogram, or gauge or counter), then
 * sample lines `<family>_bucket{<labels>} <value>` (and `_sum`, `_count`), or
 * `<family>{<labels>} <value>`, labels as `name="value"` joined by commas, one
 * space before the value, no timestamp, no backslash or carriage return
 * anywhere, no bound or value out of float range or NaN, and no model's
 * series read twice (nor, for a gauge or counter, a model named twice). On
 * anything else it gives up (undefined) and the block goes to the parser,
 * which says what the block gives or why it gives nothing; a property test
 * holds what it gives to the whole page's parse.
 */
import {
  CLOSE_BRACE,
  COMMA,
  EQUALS,
  HASH,
  isClass,
  isInfinityAt,
  LABEL_PART,
  LABEL_START,
  numberAt,
  OPEN_BRACE,
  QUOTE,
  SPACE
} from "../../exposition/Lexing.ts"
import {
  addBucket,
  type FamilyRead,
  type HistogramParts,
  histogramsOf,
  newParts,
  UNDEFINED_MODEL
} from "../EnginePage.ts"
import { MetricValue } from "../../store/MetricValue.ts"
import type { SampleMerge } from "../MetricCatalogue.ts"
import { detached } from "./Detached.ts"
import { suffixLength } from "../../exposition/Lexing.ts"

/**
 * Whether `word` is written at `start`. A slice compared whole is one native
 * comparison; `startsWith` at a position is many times slower.
 */
const isAt = (text: string, start: number, word: string): boolean => text.slice(start, start + word.length) === word

/** Which sample of a series a line is: a histogram's, or a gauge's or counter's value. */
const BUCKET = 0
const SUM = 1
const COUNT = 2
const VALUE = 3

/** How the block's family is read: as a histogram, or as one value per model. */
export type PlainReading = "histogram" | "simple"

/** What a sample line says before its value: its text (name, labels and the space), and what that means. */
interface SeriesHead {
  readonly head: string
  readonly suffix: number
  /** A bucket's bound. */
  readonly bound: number
  readonly model: string
  /** Its label names, in the order written. */
  readonly names: string
}

/** What a block's lines said before their values, to read the next page's block by. */
export interface BlockLayout {
  /** The block's HELP and TYPE lines, line breaks included. */
  readonly comments: string
  readonly heads: ReadonlyArray<SeriesHead>
}

/** A block read: its values, and its layout for the next page. */
export interface PlainBlockRead {
  readonly read: FamilyRead
  readonly layout: BlockLayout
}

/** A value as the parser reads it, or undefined when the parser would refuse it, spoil its family, or it is NaN. */
const valueAt = (text: string, start: number, end: number): number | undefined => {
  if (start >= end) return undefined
  const value = numberAt(text, start, end)
  if (value === undefined || Number.isNaN(value)) return undefined
  if (!Number.isFinite(value) && !isInfinityAt(text, start, end)) return undefined
  return value
}

/** The TYPE lines' endings the readings take: the type, after the family's name and a space. */
const TYPE_ENDINGS: Readonly<Record<PlainReading, ReadonlyArray<string>>> = {
  histogram: [" histogram"],
  simple: [" gauge", " counter"]
}

/** The end of the block's HELP and TYPE lines when they are its first lines, written plainly; -1 otherwise. */
const commentsEnd = (text: string, family: string, reading: PlainReading): number => {
  let start = 0
  let helped = false
  let described = false
  while (text.charCodeAt(start) === HASH) {
    const end = text.indexOf("\n", start)
    if (end === -1) return -1
    const nameEnd = start + 7 + family.length
    if (!helped && isAt(text, start, "# HELP ") && isAt(text, start + 7, family)) {
      if (nameEnd !== end && text.charCodeAt(nameEnd) !== SPACE) return -1
      helped = true
    } else if (!described && isAt(text, start, "# TYPE ") && isAt(text, start + 7, family)) {
      const typed = TYPE_ENDINGS[reading].some(
        (ending) => end - nameEnd === ending.length && isAt(text, nameEnd, ending)
      )
      if (!typed) return -1
      described = true
    } else {
      return -1
    }
    start = end + 1
  }
  return described ? start : -1
}

/** Reads a line's name and labels anew; undefined when the line is not written the plain way. */
const headAt = (
  text: string,
  start: number,
  end: number,
  family: string,
  reading: PlainReading,
  modelLabels: ReadonlyArray<string>,
  baseModel: string
): SeriesHead | undefined => {
  if (!isAt(text, start, family)) return undefined
  let cursor = start + family.length
  let suffix: number
  if (reading === "simple") {
    const code = text.charCodeAt(cursor)
    if (code !== OPEN_BRACE && code !== SPACE) return undefined
    suffix = VALUE
  } else if (isAt(text, cursor, "_bucket")) {
    suffix = BUCKET
    cursor += 7
  } else if (isAt(text, cursor, "_sum")) {
    suffix = SUM
    cursor += 4
  } else if (isAt(text, cursor, "_count")) {
    suffix = COUNT
    cursor += 6
  } else {
    return undefined
  }
  let bound = Number.NaN
  const models: Array<string | undefined> = []
  const names: Array<string> = []
  if (text.charCodeAt(cursor) === OPEN_BRACE) {
    cursor++
    while (text.charCodeAt(cursor) !== CLOSE_BRACE) {
      const nameStart = cursor
      if (cursor >= end || !isClass(text.charCodeAt(cursor), LABEL_START)) return undefined
      cursor++
      while (cursor < end && isClass(text.charCodeAt(cursor), LABEL_PART)) cursor++
      const name = text.slice(nameStart, cursor)
      if (name === "__name__" || names.includes(name)) return undefined
      names.push(name)
      if (text.charCodeAt(cursor) !== EQUALS || text.charCodeAt(cursor + 1) !== QUOTE) return undefined
      const valueStart = cursor + 2
      const quote = text.indexOf('"', valueStart)
      if (quote === -1 || quote >= end) return undefined
      if (name === "le" && suffix === BUCKET) {
        const value = valueAt(text, valueStart, quote)
        if (value === undefined) return undefined
        bound = value
      } else {
        const at = modelLabels.indexOf(name)
        if (at !== -1) models[at] = detached(text.slice(valueStart, quote))
      }
      cursor = quote + 1
      const code = text.charCodeAt(cursor)
      if (code === COMMA) cursor++
      else if (code !== CLOSE_BRACE) return undefined
    }
    cursor++
  }
  if (suffix === BUCKET && Number.isNaN(bound)) return undefined
  if (text.charCodeAt(cursor) !== SPACE || cursor + 1 >= end) return undefined
  let model = baseModel
  for (let i = 0; i < modelLabels.length; i++) {
    const named = models[i]
    if (named !== undefined && named !== "" && named !== UNDEFINED_MODEL) {
      model = named
      break
    }
  }
  return { head: detached(text.slice(start, cursor + 1)), suffix, bound, model, names: names.join(",") }
}

/**
 * The block's values by model, as `readFamily` would give them from the
 * parsed block, and its layout; undefined when the block is not written the
 * plain way. `before` is the layout of the family's block on the page before.
 * `modelLabels` name the model of a series, in order of preference; a series
 * that names none belongs to `baseModel`. A gauge's or counter's series of
 * one model (one per engine of a data-parallel deployment, or per finish
 * reason) merge as `merge` says; without it they are left to the parser.
 */
export const readPlainBlock = (
  text: string,
  family: string,
  reading: PlainReading,
  modelLabels: ReadonlyArray<string>,
  baseModel: string,
  before: BlockLayout | undefined,
  merge?: SampleMerge
): PlainBlockRead | undefined => {
  if (text.indexOf("\\") !== -1 || text.indexOf("\r") !== -1) return undefined
  // A gauge or counter named like a histogram's sample is left to the parser's filing.
  if (reading === "simple" && suffixLength(family) > 0) return undefined
  const samplesStart =
    before !== undefined && isAt(text, 0, before.comments) ? before.comments.length : commentsEnd(text, family, reading)
  if (samplesStart === -1) return undefined
  const known = before?.heads ?? []
  /** The lines' series; the page before's very array while every line is as there. */
  let heads: Array<SeriesHead> | undefined
  let line = 0
  const byModel = new Map<string, HistogramParts>()
  const simple = reading === "simple" ? new Map<string, number>() : undefined
  let parts: HistogramParts | undefined
  let lastModel = ""
  const length = text.length
  let start = samplesStart
  while (start < length) {
    // The series as on the page before, at the same line; else read anew.
    const same = known[line]
    let series: SeriesHead | undefined
    let end: number
    if (same !== undefined && text.slice(start, start + same.head.length) === same.head) {
      series = same
      heads?.push(same)
      // Only the value is left to look through for the line's end.
      end = text.indexOf("\n", start + same.head.length)
      if (end === -1) end = length
    } else {
      end = text.indexOf("\n", start)
      if (end === -1) end = length
      series = headAt(text, start, end, family, reading, modelLabels, baseModel)
      if (series === undefined) return undefined
      heads ??= known.slice(0, line)
      heads.push(series)
    }
    line++
    const value = valueAt(text, start + series.head.length, end)
    if (value === undefined) return undefined
    if (simple !== undefined) {
      const previous = simple.get(series.model)
      if (previous !== undefined) {
        // A model named twice: series of its own each, or one series twice (the parser's to say).
        if (merge === undefined || !isNewSeries(heads ?? known, line - 1, series)) return undefined
        simple.set(series.model, merge === "sum" ? previous + value : Math.max(previous, value))
      } else {
        simple.set(series.model, value)
      }
      start = end + 1
      continue
    }
    if (parts === undefined || series.model !== lastModel) {
      lastModel = series.model
      parts = byModel.get(lastModel)
      if (parts === undefined) {
        parts = newParts()
        byModel.set(lastModel, parts)
      }
    }
    // A series read twice, or one model's series of several engines: the parser's reading decides.
    switch (series.suffix) {
      case BUCKET:
        if (addBucket(parts, series.bound, value)) return undefined
        break
      case SUM:
        if (parts.sums++ > 0) return undefined
        parts.sum += value
        break
      case COUNT:
        if (parts.counts++ > 0) return undefined
        parts.count += value
        break
    }
    start = end + 1
  }
  if (byModel.size === 0 && (simple === undefined || simple.size === 0)) return undefined
  const layout =
    heads === undefined && line === known.length && before !== undefined
      ? before
      : { comments: detached(text.slice(0, samplesStart)), heads: heads ?? known.slice(0, line) }
  return { read: simple === undefined ? histogramsOf(byModel) : valuesOf(simple), layout }
}

/**
 * Whether the series of the line after the first `count` is none of the
 * earlier ones of its model: its text differs from theirs, its label names
 * written in the same order (else the parser, which orders them, decides).
 */
const isNewSeries = (earlier: ReadonlyArray<SeriesHead>, count: number, series: SeriesHead): boolean => {
  for (let i = 0; i < count; i++) {
    const other = earlier[i]!
    if (other.model === series.model && (other.head === series.head || other.names !== series.names)) return false
  }
  return true
}

const valuesOf = (merged: ReadonlyMap<string, number>): FamilyRead => {
  const values = new Map<string, MetricValue>()
  for (const [model, value] of merged) values.set(model, MetricValue.simple(value))
  return { _tag: "Values", values }
}
