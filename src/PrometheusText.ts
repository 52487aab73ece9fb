/**
 * The Prometheus text exposition format, version 0.0.4: a parser written for
 * speed and a renderer.
 *
 * The parser walks the page once with `charCodeAt` and `indexOf`: no regular
 * expressions and no array of lines. Lines of a page repeat each other (the
 * samples of a name in a row, the label names of a family), so a name is
 * first compared with the one read before, four bytes at a time when the page
 * is ASCII, and read afresh only when it differs. A line of a family the
 * caller did not ask for costs the reading of its metric name and the search
 * for its end. Malformed input yields an `ExpositionParseError` with the line
 * number, or is skipped and counted; the parser never throws.
 */
import { Result, Schema } from "effect"

export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped"

export interface Sample {
  /** The full sample name, e.g. `vllm:e2e_request_latency_seconds_bucket`. */
  readonly name: string
  /** `{}` when the sample has none. */
  readonly labels: Readonly<Record<string, string>>
  /** May be `NaN`, `Infinity` or `-Infinity`. */
  readonly value: number
  /** Milliseconds since the epoch, when the line gives one. */
  readonly timestamp: number | undefined
}

export interface MetricFamily {
  /** For the `_bucket`, `_sum` and `_count` samples of a histogram or summary, the name without the suffix. */
  readonly name: string
  /** `untyped` when there is no TYPE line. */
  readonly type: MetricType
  readonly help: string | undefined
  readonly samples: ReadonlyArray<Sample>
}

export interface ParsedPage {
  /** The families with at least one sample, by family name. */
  readonly families: ReadonlyMap<string, MetricFamily>
  /** Malformed lines skipped (only with `malformed: "skip"`). */
  readonly skippedLines: number
}

export interface ParseOptions {
  /** Parse only these families; the lines of others are skipped without being checked. */
  readonly families?: ReadonlySet<string>
  /** What a malformed line does: fail the parse (the default) or get skipped and counted. */
  readonly malformed?: "fail" | "skip"
}

export class ExpositionParseError extends Schema.TaggedError<ExpositionParseError>()("ExpositionParseError", {
  line: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    return `line ${this.line}: ${this.reason}`
  }
}

const RETURN = 13
const SPACE = 32
const TAB = 9
const HASH = 35
const QUOTE = 34
const BACKSLASH = 92
const COMMA = 44
const EQUALS = 61
const OPEN_BRACE = 123
const CLOSE_BRACE = 125
const DOT = 46
const PLUS = 43
const MINUS = 45
const ZERO = 48
const NINE = 57
const LOWER_E = 101
const UPPER_E = 69
const LOWER_N = 110
const UNDERSCORE = 95

const NAME_START = 1
const NAME_PART = 2
const LABEL_START = 4
const LABEL_PART = 8

/** Character classes of ASCII codes: metric names allow `:`, label names do not. */
const CHAR_CLASS: Uint8Array = (() => {
  const table = new Uint8Array(128)
  const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
  for (let i = 0; i < letters.length; i++) {
    table[letters.charCodeAt(i)] = NAME_START | NAME_PART | LABEL_START | LABEL_PART
  }
  for (let code = ZERO; code <= NINE; code++) table[code] = NAME_PART | LABEL_PART
  table[":".charCodeAt(0)] = NAME_START | NAME_PART
  return table
})()

const isClass = (code: number, klass: number): boolean => code < 128 && (CHAR_CLASS[code]! & klass) !== 0

/** Whether `name` is a valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
export const isMetricName = (name: string): boolean => {
  if (name.length === 0 || !isClass(name.charCodeAt(0), NAME_START)) return false
  for (let i = 1; i < name.length; i++) if (!isClass(name.charCodeAt(i), NAME_PART)) return false
  return true
}

const isBlank = (code: number): boolean => code === SPACE || code === TAB

const isDigit = (code: number): boolean => code >= ZERO && code <= NINE

/** Exact powers of ten: a product or quotient of one with an integer below 2^53 is correctly rounded. */
const POWERS_OF_TEN: ReadonlyArray<number> = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`))

const MAX_FAST_DIGITS = 15

const SPECIAL_VALUES: ReadonlyMap<string, number> = new Map([
  ["nan", NaN],
  ["inf", Infinity],
  ["+inf", Infinity],
  ["-inf", -Infinity],
  ["infinity", Infinity],
  ["+infinity", Infinity],
  ["-infinity", -Infinity]
])

/**
 * A sample value of `text[start, end)` as Go's `strconv.ParseFloat` reads it
 * (decimal forms, `NaN`, `Inf` in any case), or `undefined` when it is not one.
 */
const numberAt = (text: string, start: number, end: number): number | undefined => {
  let i = start
  let code = text.charCodeAt(i)
  const negative = code === MINUS
  if (negative || code === PLUS) code = text.charCodeAt(++i)
  let mantissa = 0
  let digits = 0
  let exponent = 0
  while (i < end && isDigit(code)) {
    mantissa = mantissa * 10 + (code - ZERO)
    digits++
    code = text.charCodeAt(++i)
  }
  if (code === DOT && i < end) {
    code = text.charCodeAt(++i)
    while (i < end && isDigit(code)) {
      mantissa = mantissa * 10 + (code - ZERO)
      digits++
      exponent--
      code = text.charCodeAt(++i)
    }
  }
  if (digits === 0 || digits > MAX_FAST_DIGITS) return slowNumberAt(text, start, end)
  if (i < end && (code === LOWER_E || code === UPPER_E)) {
    code = text.charCodeAt(++i)
    const negativeExponent = code === MINUS
    if (negativeExponent || code === PLUS) code = text.charCodeAt(++i)
    let written = 0
    let exponentDigits = 0
    while (i < end && isDigit(code) && exponentDigits < 4) {
      written = written * 10 + (code - ZERO)
      exponentDigits++
      code = text.charCodeAt(++i)
    }
    if (exponentDigits === 0 || exponentDigits === 4) return slowNumberAt(text, start, end)
    exponent += negativeExponent ? -written : written
  }
  if (i !== end) return slowNumberAt(text, start, end)
  let value: number
  if (exponent === 0) value = mantissa
  else if (exponent > 0 && exponent <= 22) value = mantissa * POWERS_OF_TEN[exponent]!
  else if (exponent < 0 && exponent >= -22) value = mantissa / POWERS_OF_TEN[-exponent]!
  else return slowNumberAt(text, start, end)
  return negative ? -value : value
}

const slowNumberAt = (text: string, start: number, end: number): number | undefined => {
  const first = text.charCodeAt(start)
  if (end - start === 4 && (first === PLUS || first === MINUS) && isWord(text, start + 1, "Inf")) {
    return first === PLUS ? Infinity : -Infinity
  }
  if (end - start === 3 && isWord(text, start, "NaN")) return NaN
  const token = text.slice(start, end)
  for (let i = 0; i < token.length; i++) {
    const code = token.charCodeAt(i)
    if (!(isDigit(code) || code === DOT || code === PLUS || code === MINUS || code === LOWER_E || code === UPPER_E)) {
      return SPECIAL_VALUES.get(token.toLowerCase())
    }
  }
  // Only a decimal is left, which Number reads as ParseFloat does; NaN means malformed.
  const value = Number(token)
  return Number.isNaN(value) ? undefined : value
}

/** A sample value written as the format writes it (`1.5`, `NaN`, `+Inf`, `-1e-7`), or `undefined`. */
export const parseSampleValue = (text: string): number | undefined =>
  text.length === 0 ? undefined : numberAt(text, 0, text.length)

const TYPES: ReadonlyMap<string, MetricType> = new Map([
  ["counter", "counter"],
  ["gauge", "gauge"],
  ["histogram", "histogram"],
  ["summary", "summary"],
  ["untyped", "untyped"]
])

/** What a sample is to its family; decides which label it must carry. */
type Role = 0 | 1 | 2 | 3 | 4
const Role = {
  Plain: 0,
  Bucket: 1,
  SumOrCount: 2,
  Quantile: 3,
  /** A sample of a histogram family named like the family itself: not allowed. */
  BareHistogram: 4
} as const

class FamilyBuilder {
  readonly name: string
  readonly wanted: boolean
  /** Whether the name does not end like a histogram's or summary's sample. */
  readonly plainName: boolean
  type: MetricType = "untyped"
  typed = false
  help: string | undefined = undefined
  readonly samples: Array<Sample> = []

  constructor(name: string, wanted: boolean) {
    this.name = name
    this.wanted = wanted
    this.plainName = suffixLength(name) === 0
  }
}

/** Encodes a page into a buffer of its length: it fills exactly when the page is all ASCII. */
const ASCII_ENCODER = new TextEncoder()

const EMPTY_LABELS: Readonly<Record<string, string>> = Object.freeze({})

/** The length of the `_bucket`, `_sum` or `_count` that ends `name`, or 0. */
export const suffixLength = (name: string): number =>
  name.endsWith("_bucket") ? 7 : name.endsWith("_count") ? 6 : name.endsWith("_sum") ? 4 : 0

/**
 * The length of `_bucket`, `_sum` or `_count` when `text` has one of them
 * (after the `_` at `start - 1`) ending a name before `end`, else 0.
 */
const suffixAt = (text: string, start: number, end: number): number => {
  const word = text.charCodeAt(start) === 98 ? "bucket" : text.charCodeAt(start) === 115 ? "sum" : "count"
  const after = start + word.length
  if (after > end || !isWord(text, start, word)) return 0
  return after === end || !isClass(text.charCodeAt(after), NAME_PART) ? word.length + 1 : 0
}

/** Whether `text` has the ASCII `word` at `start`. */
const isWord = (text: string, start: number, word: string): boolean => {
  for (let i = 0; i < word.length; i++) {
    if (text.charCodeAt(start + i) !== word.charCodeAt(i)) return false
  }
  return true
}

/** Returned by a line parser at `# EOF`: the page ends there. */
const END_OF_PAGE = 0

/** Every method parses within the current line, `[cursor, end)`, and returns a failure reason or `undefined`. */
class PageParser {
  readonly text: string
  readonly wanted: ReadonlySet<string> | undefined
  readonly families = new Map<string, FamilyBuilder>()
  /** End of the current line, without its line break. */
  end = 0
  /** Position of the next backslash at or after the cursor, or the page length. */
  backslash = -1
  /** The sample name of the last sample line, where it was, and what it resolved to; reused by the lines that repeat it. */
  lastName = ""
  lastStart = 0
  lastFamily: FamilyBuilder | undefined = undefined
  lastRole: Role = Role.Plain
  /**
   * The family of the last HELP or TYPE line, and where its name was: the
   * lines that follow mostly name it again, which a comparison then tells.
   */
  descriptor: FamilyBuilder | undefined = undefined
  descriptorStart = 0
  /** The label names read at each place of a label set, see `sample`, and where in the text. */
  readonly labelNames: Array<string> = []
  readonly labelNameStarts: Array<number> = []
  /** Out-parameters of `escapedLabelValue`: why it failed, or where its value ends. */
  reason = ""
  escapedEnd = 0
  /** Families without TYPE named like a histogram's or summary's samples: a later TYPE line must check them. */
  untypedWithSuffix = 0
  skippedLines = 0

  /**
   * The page's bytes when it is all ASCII, so that the byte at an index is the
   * character there: names are then compared four characters at a time.
   */
  readonly ascii: DataView | undefined

  constructor(text: string, wanted: ReadonlySet<string> | undefined) {
    this.text = text
    this.wanted = wanted
    const bytes = Buffer.allocUnsafe(text.length)
    const { read, written } = ASCII_ENCODER.encodeInto(text, bytes)
    this.ascii = read === text.length && written === text.length
      ? new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
      : undefined
  }

  /** Whether the `length` characters at `a` and at `b` are the same; compared from the end, where names differ. */
  sameText(a: number, b: number, length: number): boolean {
    const ascii = this.ascii
    let i = length
    if (ascii !== undefined) {
      while (i >= 4) {
        i -= 4
        if (ascii.getUint32(a + i) !== ascii.getUint32(b + i)) return false
      }
      while (i > 0) {
        i--
        if (ascii.getUint8(a + i) !== ascii.getUint8(b + i)) return false
      }
      return true
    }
    const text = this.text
    while (i > 0) {
      i--
      if (text.charCodeAt(a + i) !== text.charCodeAt(b + i)) return false
    }
    return true
  }

  /** Parses the page; the first malformed line ends it unless `skip`, which counts it in `skippedLines`. */
  run(skip: boolean): ExpositionParseError | undefined {
    const text = this.text
    const length = text.length
    let start = 0
    let line = 0
    while (start < length) {
      line++
      let next = text.indexOf("\n", start)
      if (next === -1) next = length
      const end = next > start && text.charCodeAt(next - 1) === RETURN ? next - 1 : next
      this.end = end
      let cursor = start
      while (cursor < end && isBlank(text.charCodeAt(cursor))) cursor++
      const reason = cursor === end
        ? undefined
        : text.charCodeAt(cursor) === HASH
        ? this.comment(cursor + 1)
        : this.sample(cursor)
      if (reason !== undefined) {
        if (reason === END_OF_PAGE) return undefined
        if (!skip) return new ExpositionParseError({ line, reason })
        this.skippedLines++
      }
      start = next + 1
    }
    return undefined
  }

  backslashFrom(cursor: number): number {
    if (this.backslash < cursor) {
      const found = this.text.indexOf("\\", cursor)
      this.backslash = found === -1 ? this.text.length : found
    }
    return this.backslash
  }

  skipBlanks(cursor: number): number {
    const text = this.text
    const end = this.end
    while (cursor < end && isBlank(text.charCodeAt(cursor))) cursor++
    return cursor
  }

  /** The end of the metric name starting at `cursor` (`cursor` itself when there is none). */
  metricNameEnd(cursor: number): number {
    const text = this.text
    const end = this.end
    if (cursor >= end || !isClass(text.charCodeAt(cursor), NAME_START)) return cursor
    cursor++
    while (cursor < end && isClass(text.charCodeAt(cursor), NAME_PART)) cursor++
    return cursor
  }

  comment(cursor: number): string | typeof END_OF_PAGE | undefined {
    const text = this.text
    const end = this.end
    cursor = this.skipBlanks(cursor)
    let wordEnd = cursor
    while (wordEnd < end && !isBlank(text.charCodeAt(wordEnd))) wordEnd++
    const length = wordEnd - cursor
    if (length === 4 && isWord(text, cursor, "HELP")) return this.help(wordEnd)
    if (length === 4 && isWord(text, cursor, "TYPE")) return this.type(wordEnd)
    if (length === 3 && isWord(text, cursor, "EOF") && this.skipBlanks(wordEnd) === end) return END_OF_PAGE
    return undefined
  }

  help(cursor: number): string | undefined {
    const text = this.text
    const end = this.end
    const nameStart = this.skipBlanks(cursor)
    let nameEnd = this.descriptorNameEnd(nameStart)
    let family: FamilyBuilder | undefined
    let name: string
    if (nameEnd !== -1 && (nameEnd === end || isBlank(text.charCodeAt(nameEnd)))) {
      family = this.descriptor!
      name = family.name
    } else {
      nameEnd = this.metricNameEnd(nameStart)
      if (nameEnd === nameStart || (nameEnd < end && !isBlank(text.charCodeAt(nameEnd)))) {
        return "HELP line without a valid metric name"
      }
      name = text.slice(nameStart, nameEnd)
      family = this.families.get(name)
    }
    const wanted = family !== undefined ? family.wanted : this.wanted === undefined || this.wanted.has(name)
    if (!wanted) return undefined
    const textStart = this.skipBlanks(nameEnd)
    let help: string
    if (this.backslashFrom(textStart) < end) {
      const unescaped = this.unescapeHelp(textStart)
      if (unescaped === undefined) return "invalid escape sequence in HELP text (only \\\\ and \\n are allowed)"
      help = unescaped
    } else {
      help = text.slice(textStart, end)
    }
    family ??= this.#addFamily(name, true)
    if (family.help !== undefined) return `second HELP line for ${name}`
    family.help = help
    this.descriptor = family
    this.descriptorStart = nameStart
    return undefined
  }

  unescapeHelp(cursor: number): string | undefined {
    const text = this.text
    const end = this.end
    let out = ""
    let runStart = cursor
    let backslash = this.backslashFrom(cursor)
    while (backslash < end) {
      const escaped = text.charCodeAt(backslash + 1)
      if (backslash + 1 >= end || (escaped !== BACKSLASH && escaped !== LOWER_N)) return undefined
      out += text.slice(runStart, backslash) + (escaped === BACKSLASH ? "\\" : "\n")
      runStart = backslash + 2
      backslash = this.backslashFrom(runStart)
    }
    return out + text.slice(runStart, end)
  }

  type(cursor: number): string | undefined {
    const text = this.text
    const end = this.end
    const nameStart = this.skipBlanks(cursor)
    let nameEnd = this.descriptorNameEnd(nameStart)
    const described = nameEnd !== -1 && nameEnd < end && isBlank(text.charCodeAt(nameEnd))
    if (!described) nameEnd = this.metricNameEnd(nameStart)
    if (nameEnd === nameStart || nameEnd === end || !isBlank(text.charCodeAt(nameEnd))) {
      return "TYPE line without a valid metric name and type"
    }
    const name = described ? this.descriptor!.name : text.slice(nameStart, nameEnd)
    let family = described ? this.descriptor : this.families.get(name)
    const wanted = family !== undefined ? family.wanted : this.wanted === undefined || this.wanted.has(name)
    const typeStart = this.skipBlanks(nameEnd)
    let typeEnd = typeStart
    while (typeEnd < end && !isBlank(text.charCodeAt(typeEnd))) typeEnd++
    const typeWord = text.slice(typeStart, typeEnd)
    const type = TYPES.get(typeWord) ?? TYPES.get(typeWord.toLowerCase())
    // A family not asked for is not checked: its TYPE line only tells which
    // sample names are its own, so that they are skipped too.
    if (type === undefined) return wanted ? `unknown metric type "${typeWord}"` : undefined
    if (this.skipBlanks(typeEnd) !== end) return wanted ? "unexpected text after the metric type" : undefined
    if (!wanted) {
      if (family === undefined || (!family.typed && family.samples.length === 0)) {
        family ??= this.#addFamily(name, false)
        family.type = type
        family.typed = true
      }
      this.#describe(family, nameStart)
      return undefined
    }
    if (family !== undefined && family.typed) return `second TYPE line for ${name}`
    if (family !== undefined && family.samples.length > 0) return `TYPE line for ${name} after its samples`
    if ((type === "histogram" || type === "summary") && this.untypedWithSuffix > 0) {
      const suffixes = type === "histogram" ? ["_bucket", "_sum", "_count"] : ["_sum", "_count"]
      for (const suffix of suffixes) {
        const samples = this.families.get(name + suffix)?.samples.length ?? 0
        if (samples > 0) return `TYPE line for ${name} after samples of ${name}${suffix}`
      }
    }
    family ??= this.#addFamily(name, true)
    family.type = type
    family.typed = true
    this.#describe(family, nameStart)
    return undefined
  }

  #addFamily(name: string, wanted: boolean): FamilyBuilder {
    const family = new FamilyBuilder(name, wanted)
    this.families.set(name, family)
    return family
  }

  /** Makes `family` the one of the last TYPE line, whose name is at `nameStart`. */
  #describe(family: FamilyBuilder, nameStart: number): void {
    this.lastName = ""
    this.descriptor = family
    this.descriptorStart = nameStart
  }

  /** The end of the last HELP or TYPE line's family name when the text at `start` repeats it, else -1. */
  descriptorNameEnd(start: number): number {
    const family = this.descriptor
    if (family === undefined) return -1
    const length = family.name.length
    if (start + length > this.end || !this.sameText(start, this.descriptorStart, length)) return -1
    return start + length
  }

  /**
   * Resolves a sample name that begins with the last HELP or TYPE line's
   * family name, ending at `baseEnd`, when that settles it: the name itself,
   * or a histogram's or summary's sample of it. Returns the end of the sample
   * name, or -1 to leave it to `resolve`.
   */
  resolveDescribed(start: number, baseEnd: number): number {
    const family = this.descriptor!
    const text = this.text
    const end = this.end
    let role: Role
    let nameEnd = baseEnd
    if (baseEnd === end || !isClass(text.charCodeAt(baseEnd), NAME_PART)) {
      if (!family.plainName) return -1
      role = family.type === "histogram" ? Role.BareHistogram : family.type === "summary" ? Role.Quantile : Role.Plain
    } else {
      const suffix = text.charCodeAt(baseEnd) === UNDERSCORE ? suffixAt(text, baseEnd + 1, end) : 0
      if (suffix === 0) return -1
      if (family.type === "histogram") role = suffix === 7 ? Role.Bucket : Role.SumOrCount
      else if (family.type === "summary" && suffix !== 7) role = Role.SumOrCount
      else return -1
      nameEnd = baseEnd + suffix
    }
    this.lastName = text.slice(start, nameEnd)
    this.lastStart = start
    this.lastFamily = family.wanted ? family : undefined
    this.lastRole = role
    return nameEnd
  }

  /** The family of a sample name: the base family for a typed histogram or summary suffix, else its own. */
  resolve(name: string): void {
    let base: FamilyBuilder | undefined
    let role: Role = Role.Plain
    const suffix = suffixLength(name)
    if (suffix > 0) {
      base = this.families.get(name.slice(0, -suffix))
      if (base !== undefined && base.type === "histogram") role = suffix === 7 ? Role.Bucket : Role.SumOrCount
      else if (base !== undefined && base.type === "summary" && suffix !== 7) role = Role.SumOrCount
      else base = undefined
    }
    if (base === undefined) {
      base = this.families.get(name)
      if (base === undefined && (this.wanted === undefined || this.wanted.has(name))) {
        base = new FamilyBuilder(name, true)
        this.families.set(name, base)
        if (suffix > 0) this.untypedWithSuffix++
      }
      if (base !== undefined) {
        role = base.type === "histogram" ? Role.BareHistogram : base.type === "summary" ? Role.Quantile : Role.Plain
      }
    }
    this.lastName = name
    this.lastFamily = base !== undefined && base.wanted ? base : undefined
    this.lastRole = role
  }

  /**
   * A sample line, in one method because it runs for nearly every line of a
   * page: the common case (the name of the line before, labels without blanks
   * or escapes, a plain decimal value) runs straight through without a call.
   *
   * A name like the line before's is found by comparing the text with it, from
   * its end, where names differ; that comparison also stands for checking its
   * characters. Label names are likewise compared with the names read at the
   * same places of the line before (`labelNames`).
   */
  sample(start: number): string | undefined {
    const text = this.text
    const end = this.end
    let cursor = start
    let code: number
    const lastLength = this.lastName.length
    let repeated = lastLength > 0 && start + lastLength <= end
    if (repeated) {
      cursor = start + lastLength
      repeated = this.sameText(start, this.lastStart, lastLength) && !isClass(text.charCodeAt(cursor), NAME_PART)
    }
    if (!repeated) {
      const baseEnd = this.descriptorNameEnd(start)
      cursor = baseEnd === -1 ? -1 : this.resolveDescribed(start, baseEnd)
      if (cursor === -1) {
        cursor = this.metricNameEnd(start)
        if (cursor === start) return "invalid metric name"
        this.resolve(text.slice(start, cursor))
        this.lastStart = start
      }
    }
    const family = this.lastFamily
    if (family === undefined) return undefined
    const role = this.lastRole
    if (role === Role.BareHistogram) {
      return `sample ${this.lastName} of histogram ${family.name} lacks a _bucket, _sum or _count suffix`
    }
    const nameEnd = cursor
    code = text.charCodeAt(cursor)
    if (isBlank(code)) {
      cursor = this.skipBlanks(cursor)
      code = text.charCodeAt(cursor)
    }
    const required = role === Role.Bucket ? "le" : role === Role.Quantile ? "quantile" : undefined
    let sawRequired = false
    let labels = EMPTY_LABELS
    if (code === OPEN_BRACE && cursor < end) {
      const names = this.labelNames
      const starts = this.labelNameStarts
      const set: Record<string, string> = {}
      cursor++
      for (let index = 0;; index++) {
        code = text.charCodeAt(cursor)
        if (isBlank(code)) {
          cursor = this.skipBlanks(cursor)
          code = text.charCodeAt(cursor)
        }
        if (cursor >= end) return "unterminated label set"
        if (code === CLOSE_BRACE) break
        const nameStart = cursor
        let name = names[index]
        if (name !== undefined) {
          cursor = nameStart + name.length
          if (
            cursor > end || !this.sameText(nameStart, starts[index]!, name.length) ||
            isClass(text.charCodeAt(cursor), LABEL_PART)
          ) {
            name = undefined
          }
        }
        if (name === undefined) {
          if (!isClass(code, LABEL_START)) return "invalid label name"
          cursor = nameStart + 1
          while (cursor < end && isClass(text.charCodeAt(cursor), LABEL_PART)) cursor++
          name = text.slice(nameStart, cursor)
          names[index] = name
          starts[index] = nameStart
        }
        code = text.charCodeAt(cursor)
        if (isBlank(code)) {
          cursor = this.skipBlanks(cursor)
          code = text.charCodeAt(cursor)
        }
        if (code !== EQUALS || cursor >= end) return `expected "=" after label name ${name}`
        code = text.charCodeAt(++cursor)
        if (isBlank(code)) {
          cursor = this.skipBlanks(cursor)
          code = text.charCodeAt(cursor)
        }
        if (code !== QUOTE || cursor >= end) return `expected a quoted value for label ${name}`
        const valueStart = cursor + 1
        const quote = text.indexOf("\"", valueStart)
        if (quote === -1 || quote >= end) return "unterminated label value"
        let value: string
        const plain = this.backslashFrom(valueStart) > quote
        if (plain) {
          value = text.slice(valueStart, quote)
          cursor = quote + 1
        } else {
          const unescaped = this.escapedLabelValue(valueStart)
          if (unescaped === undefined) return this.reason
          value = unescaped
          cursor = this.escapedEnd
        }
        for (let i = 0; i < index; i++) {
          if (names[i] === name) return `duplicate label ${name}`
        }
        if (name === required) {
          const bound = plain ? (quote > valueStart ? numberAt(text, valueStart, quote) : undefined) : parseSampleValue(value)
          if (bound === undefined) return `invalid ${name} label value "${value}"`
          sawRequired = true
        } else if (name === "__name__") {
          return "label name __name__ is reserved"
        }
        if (name === "__proto__") {
          Object.defineProperty(set, name, { value, enumerable: true, writable: true, configurable: true })
        } else {
          set[name] = value
        }
        code = text.charCodeAt(cursor)
        if (isBlank(code)) {
          cursor = this.skipBlanks(cursor)
          code = text.charCodeAt(cursor)
        }
        if (cursor >= end) return "unterminated label set"
        if (code === COMMA) cursor++
        else if (code !== CLOSE_BRACE) return `expected "," or "}" after the value of label ${name}`
      }
      labels = set
      code = text.charCodeAt(++cursor)
      if (isBlank(code)) {
        cursor = this.skipBlanks(cursor)
        code = text.charCodeAt(cursor)
      }
    } else if (cursor === nameEnd && cursor < end) {
      return "invalid character in metric name"
    }
    if (cursor >= end) return "missing sample value"
    // The value: a plain decimal is read here in one pass; anything else by `numberAt`.
    const valueStart = cursor
    const negative = code === MINUS
    if (negative || code === PLUS) code = text.charCodeAt(++cursor)
    let mantissa = 0
    let digits = 0
    let exponent = 0
    while (isDigit(code) && cursor < end) {
      mantissa = mantissa * 10 + (code - ZERO)
      digits++
      code = text.charCodeAt(++cursor)
    }
    if (code === DOT && cursor < end) {
      code = text.charCodeAt(++cursor)
      while (isDigit(code) && cursor < end) {
        mantissa = mantissa * 10 + (code - ZERO)
        digits++
        exponent--
        code = text.charCodeAt(++cursor)
      }
    }
    let value: number | undefined
    if (digits > 0 && digits <= MAX_FAST_DIGITS && exponent >= -22 && (cursor >= end || isBlank(code))) {
      value = exponent === 0 ? mantissa : mantissa / POWERS_OF_TEN[-exponent]!
      if (negative) value = -value
    } else {
      while (cursor < end && !isBlank(text.charCodeAt(cursor))) cursor++
      value = numberAt(text, valueStart, cursor)
      if (value === undefined) return `invalid sample value "${text.slice(valueStart, cursor)}"`
    }
    let timestamp: number | undefined = undefined
    if (cursor < end) {
      cursor = this.skipBlanks(cursor)
      if (cursor < end) {
        let timestampEnd = cursor
        while (timestampEnd < end && !isBlank(text.charCodeAt(timestampEnd))) timestampEnd++
        timestamp = this.integerAt(cursor, timestampEnd)
        if (timestamp === undefined) return `invalid timestamp "${text.slice(cursor, timestampEnd)}"`
        if (this.skipBlanks(timestampEnd) !== end) return "unexpected text after the timestamp"
      }
    }
    if (required !== undefined && !sawRequired) {
      return role === Role.Bucket
        ? `histogram bucket ${this.lastName} lacks the le label`
        : `summary sample ${this.lastName} lacks the quantile label`
    }
    family.samples.push({ name: this.lastName, labels, value, timestamp })
    return undefined
  }

  /** A signed decimal integer of `[start, end)`, or `undefined`. */
  integerAt(start: number, end: number): number | undefined {
    const text = this.text
    let i = start
    let code = text.charCodeAt(i)
    const negative = code === MINUS
    if (negative || code === PLUS) i++
    if (i === end) return undefined
    let value = 0
    for (; i < end; i++) {
      code = text.charCodeAt(i)
      if (!isDigit(code)) return undefined
      value = value * 10 + (code - ZERO)
    }
    return negative ? -value : value
  }

  /** A label value with escapes, from after its opening quote; `escapedEnd` is set past its closing quote. */
  escapedLabelValue(cursor: number): string | undefined {
    const text = this.text
    const end = this.end
    let out = ""
    let runStart = cursor
    for (let i = cursor; i < end; i++) {
      const code = text.charCodeAt(i)
      if (code === QUOTE) {
        this.escapedEnd = i + 1
        return out + text.slice(runStart, i)
      }
      if (code === BACKSLASH) {
        const escaped = i + 1 < end ? text.charCodeAt(i + 1) : -1
        if (escaped !== BACKSLASH && escaped !== QUOTE && escaped !== LOWER_N) {
          this.reason = ("invalid escape sequence in label value (only \\\\, \\\" and \\n are allowed)")
          return undefined
        }
        out += text.slice(runStart, i) + (escaped === LOWER_N ? "\n" : escaped === QUOTE ? "\"" : "\\")
        i++
        runStart = i + 1
      }
    }
    this.reason = "unterminated label value"
    return undefined
  }
}

const toPage = (parser: PageParser): ParsedPage => {
  const families = new Map<string, MetricFamily>()
  for (const family of parser.families.values()) {
    if (family.samples.length === 0) continue
    families.set(family.name, { name: family.name, type: family.type, help: family.help, samples: family.samples })
  }
  return { families, skippedLines: parser.skippedLines }
}

/**
 * Parses a page of the text exposition format. HELP and TYPE lines may come in
 * any order before a family's samples; a family without TYPE is `untyped`.
 * Families without samples are left out.
 */
export const parse = (text: string, options?: ParseOptions): Result.Result<ParsedPage, ExpositionParseError> => {
  const parser = new PageParser(text, options?.families)
  const failure = parser.run(options?.malformed === "skip")
  return failure === undefined ? Result.succeed(toPage(parser)) : Result.fail(failure)
}

/** One series of a histogram family: its samples that share every label but `le`. */
export interface HistogramSeries {
  /** The series' labels, without `le`. */
  readonly labels: Readonly<Record<string, string>>
  /** Cumulative counts by upper bound, in ascending order of bound; `+Inf` is `Infinity`. */
  readonly buckets: ReadonlyMap<number, number>
  /** `NaN` when the page has no `_sum` sample for the series. */
  readonly sum: number
  /** The `_count` sample, else the `+Inf` bucket, else `NaN`. */
  readonly count: number
}

class SeriesBuilder {
  /** The labels of the series' last sample, `le` included: the next sample is likely of the same series. */
  last: Readonly<Record<string, string>>
  readonly bounds: Array<number> = []
  readonly counts: Array<number> = []
  sum = NaN
  count: number | undefined = undefined

  constructor(labels: Readonly<Record<string, string>>) {
    this.last = labels
  }

  build(): HistogramSeries {
    const bounds = this.bounds
    let ascending = true
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i - 1]! < bounds[i]!)) ascending = false
    }
    const order = bounds.map((_, i) => i)
    if (!ascending) order.sort((a, b) => bounds[a]! - bounds[b]!)
    const buckets = new Map<number, number>()
    for (const i of order) buckets.set(bounds[i]!, this.counts[i]!)
    const count = this.count ?? buckets.get(Infinity) ?? NaN
    return { labels: withoutLe(this.last), buckets, sum: this.sum, count }
  }
}

/**
 * Whether two label sets are the same but for `le`. (Label sets are plain
 * objects: `for in` sees their own names, and a name that `b` lacks reads as
 * undefined or as an inherited non-string.)
 */
const sameSeries = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean => {
  let names = 0
  for (const name in a) {
    if (name === "le") continue
    if (a[name] !== b[name]) return false
    names++
  }
  for (const name in b) {
    if (name !== "le") names--
  }
  return names === 0
}

/** A key naming a label set without `le`; independent of the order labels were written in. */
const seriesKey = (labels: Readonly<Record<string, string>>): string => {
  let key = ""
  for (const name of Object.keys(labels).sort()) {
    if (name === "le") continue
    const value = labels[name]!
    key += `${name}=${value.length}:${value}`
  }
  return key
}

const withoutLe = (labels: Readonly<Record<string, string>>): Readonly<Record<string, string>> => {
  if (!Object.hasOwn(labels, "le")) return labels
  const rest: Record<string, string> = {}
  for (const name of Object.keys(labels)) {
    if (name !== "le") Object.defineProperty(rest, name, { value: labels[name], enumerable: true, writable: true })
  }
  return rest
}

type SampleKind = 0 | 1 | 2 | 3
const SampleKind = { Other: 0, Bucket: 1, Sum: 2, Count: 3 } as const

/**
 * The series of a histogram family, in order of first appearance: for each
 * label set (without `le`), its cumulative buckets, sum and count. Buckets
 * whose `le` is not a number are left out.
 */
export const histogramSeries = (family: MetricFamily): ReadonlyArray<HistogramSeries> => {
  const bucketName = `${family.name}_bucket`
  const sumName = `${family.name}_sum`
  const countName = `${family.name}_count`
  const series: Array<SeriesBuilder> = []
  const byKey = new Map<string, SeriesBuilder>()
  let current: SeriesBuilder | undefined
  // Samples in a row mostly share their name string: its kind is then known.
  let lastName: string | undefined
  let kind: SampleKind = SampleKind.Other
  for (const sample of family.samples) {
    if (current === undefined || (current.last !== sample.labels && !sameSeries(current.last, sample.labels))) {
      const key = seriesKey(sample.labels)
      current = byKey.get(key)
      if (current === undefined) {
        current = new SeriesBuilder(sample.labels)
        byKey.set(key, current)
        series.push(current)
      }
    }
    current.last = sample.labels
    if (sample.name !== lastName) {
      lastName = sample.name
      kind = lastName === bucketName
        ? SampleKind.Bucket
        : lastName === sumName
        ? SampleKind.Sum
        : lastName === countName
        ? SampleKind.Count
        : SampleKind.Other
    }
    if (kind === SampleKind.Bucket) {
      const le = sample.labels["le"]
      const bound = le === undefined ? undefined : parseSampleValue(le)
      if (bound === undefined) continue
      current.bounds.push(bound)
      current.counts.push(sample.value)
    } else if (kind === SampleKind.Sum) {
      current.sum = sample.value
    } else if (kind === SampleKind.Count) {
      current.count = sample.value
    }
  }
  return series.map((builder) => builder.build())
}

/** A sample value as the format writes it: `NaN`, `+Inf`, `-Inf`, `-0`, or the shortest decimal. */
export const formatSampleValue = (value: number): string => {
  if (value === Infinity) return "+Inf"
  if (value === -Infinity) return "-Inf"
  if (Object.is(value, -0)) return "-0"
  return String(value)
}

const escapeLabelValue = (value: string): string =>
  value.replaceAll("\\", "\\\\").replaceAll("\"", "\\\"").replaceAll("\n", "\\n")

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
