/**
 * The parser of the Prometheus text exposition format, version 0.0.4, written
 * for speed.
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
import { Result } from "effect"
import {
  BACKSLASH,
  POWERS_OF_TEN,
  CLOSE_BRACE,
  COMMA,
  CommentKind,
  CommentLine,
  DOT,
  EQUALS,
  HASH,
  LABEL_PART,
  LABEL_START,
  LOWER_N,
  MAX_FAST_DIGITS,
  MINUS,
  NAME_PART,
  NAME_START,
  OPEN_BRACE,
  PLUS,
  QUOTE,
  RETURN,
  UNDERSCORE,
  ZERO,
  isBlank,
  isClass,
  isDigit,
  isInfinityAt,
  numberAt,
  parseSampleValue,
  suffixAt,
  suffixLength
} from "./Lexing.ts"
import { FamilyBuilder, Role, TYPES, pageOf } from "./internal/FamilyBuilder.ts"
import { ExpositionParseError, type ParsedPage, type ParseOptions } from "./MetricFamily.ts"

/** Encodes a page into a buffer of its length: it fills exactly when the page is all ASCII. */
const ASCII_ENCODER = new TextEncoder()

const EMPTY_LABELS: Readonly<Record<string, string>> = Object.freeze({})

/** Returned by a line parser at `# EOF`: the page ends there. */
const END_OF_PAGE = 0

/** Every method parses within the current line, `[cursor, end)`, and returns a failure reason or `undefined`. */
class PageParser {
  readonly text: string
  readonly wanted: ReadonlySet<string> | undefined
  /** The text was decoded from bytes that were not all UTF-8: a label value holding U+FFFD spoils its family. */
  readonly invalidUtf8: boolean
  readonly families = new Map<string, FamilyBuilder>()
  /** End of the current line, without its line break. */
  end = 0
  /** Position of the next backslash at or after the cursor, or the page length. */
  backslash = -1
  /**
   * The sample name of the last sample line, where it was, and what it resolved
   * to; reused by the lines that repeat it.
   */
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
  /** The comment line being read. */
  readonly commentLine = new CommentLine()
  /** Families without TYPE named like a histogram's or summary's samples: a later TYPE line must check them. */
  untypedWithSuffix = 0
  skippedLines = 0

  /**
   * The page's bytes when it is all ASCII, so that the byte at an index is the
   * character there: names are then compared four characters at a time.
   */
  readonly ascii: DataView | undefined

  constructor(text: string, wanted: ReadonlySet<string> | undefined, invalidUtf8: boolean) {
    this.text = text
    this.wanted = wanted
    this.invalidUtf8 = invalidUtf8
    const bytes = Buffer.allocUnsafe(text.length)
    const { read, written } = ASCII_ENCODER.encodeInto(text, bytes)
    this.ascii =
      read === text.length && written === text.length
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
      const reason =
        cursor === end ? undefined : text.charCodeAt(cursor) === HASH ? this.comment(cursor + 1) : this.sample(cursor)
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
    const line = this.commentLine
    switch (line.read(this.text, cursor, this.end)) {
      case CommentKind.Help:
        return this.help(line)
      case CommentKind.Type:
        return this.type(line)
      case CommentKind.EndOfPage:
        return END_OF_PAGE
      default:
        return undefined
    }
  }

  /** The family a HELP or TYPE line names when it is the last one's (its name compared, not sliced), else undefined. */
  describedBy(line: CommentLine): FamilyBuilder | undefined {
    const family = this.descriptor
    if (family === undefined || line.nameEnd - line.nameStart !== family.name.length) return undefined
    return this.sameText(line.nameStart, this.descriptorStart, family.name.length) ? family : undefined
  }

  help(line: CommentLine): string | undefined {
    const text = this.text
    const end = this.end
    if (!line.namesFamily(text, end)) return "HELP line without a valid metric name"
    const { nameStart, nameEnd } = line
    let family = this.describedBy(line)
    const name = family?.name ?? text.slice(nameStart, nameEnd)
    family ??= this.families.get(name)
    const wanted = family !== undefined ? family.wanted : this.wanted === undefined || this.wanted.has(name)
    if (!wanted) return undefined
    const textStart = line.wordStart
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

  type(line: CommentLine): string | undefined {
    const text = this.text
    const end = this.end
    if (!line.namesFamily(text, end)) return "TYPE line without a valid metric name and type"
    const nameStart = line.nameStart
    let family = this.describedBy(line)
    const name = family?.name ?? text.slice(nameStart, line.nameEnd)
    family ??= this.families.get(name)
    const wanted = family !== undefined ? family.wanted : this.wanted === undefined || this.wanted.has(name)
    const typeWord = text.slice(line.wordStart, line.wordEnd)
    const type = TYPES.get(typeWord) ?? TYPES.get(typeWord.toLowerCase())
    // A family not asked for is not checked: its TYPE line only tells which
    // sample names are its own, so that they are skipped too.
    if (type === undefined) return wanted ? `unknown metric type "${typeWord}"` : undefined
    if (!line.blankAfterWord) return wanted ? "unexpected text after the metric type" : undefined
    if (!wanted) {
      if (family === undefined || (!family.typed && family.samples.length === 0)) {
        family ??= this.#addFamily(name, false)
        family.type = type
        family.typed = true
      }
      this.#describe(family, nameStart)
      return undefined
    }
    if (family?.typed) return `second TYPE line for ${name}`
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
    this.lastFamily = base?.wanted ? base : undefined
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
    /** Why this line spoils its family, though it parses. */
    let spoiled: string | undefined
    let labels = EMPTY_LABELS
    if (code === OPEN_BRACE && cursor < end) {
      const names = this.labelNames
      const starts = this.labelNameStarts
      const set: Record<string, string> = {}
      cursor++
      for (let index = 0; ; index++) {
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
            cursor > end ||
            !this.sameText(nameStart, starts[index]!, name.length) ||
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
        const quote = text.indexOf('"', valueStart)
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
        if (this.invalidUtf8 && value.indexOf("\uFFFD") !== -1) spoiled ??= `label ${name} is not UTF-8`
        if (name === required) {
          const bound = plain
            ? quote > valueStart
              ? numberAt(text, valueStart, quote)
              : undefined
            : parseSampleValue(value)
          if (bound === undefined) return `invalid ${name} label value "${value}"`
          if (!Number.isFinite(bound) && !Number.isNaN(bound) && !isInfinityAt(value, 0, value.length)) {
            spoiled ??= `${name} label value "${value}" is out of float range`
          }
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
      if (!Number.isFinite(value) && !Number.isNaN(value) && !isInfinityAt(text, valueStart, cursor)) {
        spoiled ??= `sample value "${text.slice(valueStart, cursor)}" is out of float range`
      }
    }
    let timestamp: number | undefined
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
    // A line that spoils its family is left out, and so is the family (see `ParsedPage.malformedFamilies`).
    if (spoiled !== undefined) family.malformed ??= spoiled
    else family.samples.push({ name: this.lastName, labels, value, timestamp })
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
          this.reason = 'invalid escape sequence in label value (only \\\\, \\" and \\n are allowed)'
          return undefined
        }
        out += text.slice(runStart, i) + (escaped === LOWER_N ? "\n" : escaped === QUOTE ? '"' : "\\")
        i++
        runStart = i + 1
      }
    }
    this.reason = "unterminated label value"
    return undefined
  }
}

/**
 * Parses a page of the text exposition format. HELP and TYPE lines may come in
 * any order before a family's samples; a family without TYPE is `untyped`.
 * Families without samples are left out.
 */
export const parse = (text: string, options?: ParseOptions): Result.Result<ParsedPage, ExpositionParseError> => {
  const parser = new PageParser(text, options?.families, options?.invalidUtf8 === true)
  const failure = parser.run(options?.malformed === "skip")
  return failure === undefined ? Result.succeed(pageOf(parser.families, parser.skippedLines)) : Result.fail(failure)
}
