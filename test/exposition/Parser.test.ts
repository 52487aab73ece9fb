import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { parseSampleValue } from "../../src/exposition/Lexing.ts"
import type { ExpositionParseError, MetricFamily, ParsedPage, ParseOptions } from "../../src/exposition/MetricFamily.ts"
import { parse } from "../../src/exposition/Parser.ts"
import { formatSampleValue, render } from "../../src/exposition/Render.ts"
import { histogramSeries } from "../support/histogramSeries.ts"

const parsed = (text: string, options?: ParseOptions): ParsedPage => {
  const result = parse(text, options)
  if (Result.isFailure(result)) assert.fail(`unexpected failure: ${result.failure.message}`)
  return result.success
}

const failure = (text: string, options?: ParseOptions): ExpositionParseError => {
  const result = parse(text, options)
  if (Result.isSuccess(result)) assert.fail(`expected a failure for ${JSON.stringify(text)}`)
  return result.failure
}

const family = (page: ParsedPage, name: string): MetricFamily => {
  const found = page.families.get(name)
  if (found === undefined) assert.fail(`no family ${name}; have ${[...page.families.keys()].join(", ")}`)
  return found
}

const values = (found: MetricFamily): ReadonlyArray<number> => found.samples.map((sample) => sample.value)

describe("PrometheusText.parse", () => {
  it("reads counters and gauges with HELP and TYPE in either order", () => {
    const page = parsed(
      [
        "# HELP requests_total Requests served.",
        "# TYPE requests_total counter",
        'requests_total{code="200"} 1027',
        'requests_total{code="500"} 3',
        "# TYPE temperature gauge",
        "# HELP temperature Degrees.",
        "temperature 21.5",
        ""
      ].join("\n")
    )
    const requests = family(page, "requests_total")
    assert.strictEqual(requests.type, "counter")
    assert.strictEqual(requests.help, "Requests served.")
    assert.deepStrictEqual(requests.samples, [
      { name: "requests_total", labels: { code: "200" }, value: 1027, timestamp: undefined },
      { name: "requests_total", labels: { code: "500" }, value: 3, timestamp: undefined }
    ])
    const temperature = family(page, "temperature")
    assert.strictEqual(temperature.type, "gauge")
    assert.strictEqual(temperature.help, "Degrees.")
    assert.deepStrictEqual(values(temperature), [21.5])
    assert.strictEqual(page.skippedLines, 0)
  })

  it("makes a family without TYPE untyped, with or without HELP", () => {
    const page = parsed('# HELP a Just help.\na 1\nb{x="y"} 2\n')
    assert.strictEqual(family(page, "a").type, "untyped")
    assert.strictEqual(family(page, "a").help, "Just help.")
    assert.strictEqual(family(page, "b").type, "untyped")
    assert.strictEqual(family(page, "b").help, undefined)
  })

  it("groups histogram samples under the family name and keeps the suffixed sample names", () => {
    const page = parsed(
      [
        "# HELP vllm:e2e_request_latency_seconds Latency.",
        "# TYPE vllm:e2e_request_latency_seconds histogram",
        'vllm:e2e_request_latency_seconds_bucket{le="0.5",model_name="m1"} 2.0',
        'vllm:e2e_request_latency_seconds_bucket{le="1.0",model_name="m1"} 5.0',
        'vllm:e2e_request_latency_seconds_bucket{le="+Inf",model_name="m1"} 7.0',
        'vllm:e2e_request_latency_seconds_count{model_name="m1"} 7.0',
        'vllm:e2e_request_latency_seconds_sum{model_name="m1"} 6.25',
        'vllm:e2e_request_latency_seconds_bucket{model_name="m2",le="1.0"} 1.0',
        'vllm:e2e_request_latency_seconds_bucket{model_name="m2",le="0.5"} 0.0',
        'vllm:e2e_request_latency_seconds_bucket{model_name="m2",le="+Inf"} 3.0',
        'vllm:e2e_request_latency_seconds_sum{model_name="m2"} 9.5'
      ].join("\n")
    )
    assert.deepStrictEqual([...page.families.keys()], ["vllm:e2e_request_latency_seconds"])
    const latency = family(page, "vllm:e2e_request_latency_seconds")
    assert.strictEqual(latency.type, "histogram")
    assert.strictEqual(latency.samples.length, 9)
    assert.strictEqual(latency.samples[3]!.name, "vllm:e2e_request_latency_seconds_count")
    const [m1, m2] = histogramSeries(latency)
    assert.deepStrictEqual(m1!.labels, { model_name: "m1" })
    assert.deepStrictEqual(
      [...m1!.buckets],
      [
        [0.5, 2],
        [1, 5],
        [Infinity, 7]
      ]
    )
    assert.strictEqual(m1!.sum, 6.25)
    assert.strictEqual(m1!.count, 7)
    assert.deepStrictEqual(m2!.labels, { model_name: "m2" })
    // Buckets come back in ascending order of bound; without _count the +Inf bucket counts.
    assert.deepStrictEqual(
      [...m2!.buckets],
      [
        [0.5, 0],
        [1, 1],
        [Infinity, 3]
      ]
    )
    assert.strictEqual(m2!.count, 3)
  })

  it("reads summaries: quantiles, _sum and _count", () => {
    const page = parsed(
      [
        "# TYPE rpc_duration_seconds summary",
        'rpc_duration_seconds{quantile="0.5"} 4773',
        'rpc_duration_seconds{quantile="0.99"} 76656',
        "rpc_duration_seconds_sum 1.7560473e+07",
        "rpc_duration_seconds_count 2693"
      ].join("\n")
    )
    const rpc = family(page, "rpc_duration_seconds")
    assert.strictEqual(rpc.type, "summary")
    assert.deepStrictEqual(values(rpc), [4773, 76656, 17560473, 2693])
    assert.deepStrictEqual(
      rpc.samples.map((sample) => sample.name),
      ["rpc_duration_seconds", "rpc_duration_seconds", "rpc_duration_seconds_sum", "rpc_duration_seconds_count"]
    )
  })

  it("keeps suffixed names as their own families when no TYPE line makes them part of one", () => {
    const page = parsed('# TYPE g gauge\ng_bucket{le="1"} 1\ng_sum 2\nu_count 3\n')
    assert.deepStrictEqual([...page.families.keys()], ["g_bucket", "g_sum", "u_count"])
    assert.strictEqual(family(page, "g_sum").type, "untyped")
  })

  it("resolves names that begin like the family of the line before by the same rules", () => {
    const page = parsed(
      [
        "# TYPE rpc summary",
        "# HELP rpc_sum Not the summary's own family.",
        "rpc_sum 5",
        "# HELP foo Untyped.",
        'foo_bucket{le="1"} 1',
        "foo 2",
        "# TYPE h histogram",
        "h_bucketx 3",
        "h_sum 4",
        "h_count 1",
        "h_countdown 7"
      ].join("\n")
    )
    assert.deepStrictEqual([...page.families.keys()], ["rpc", "foo", "foo_bucket", "h", "h_bucketx", "h_countdown"])
    assert.deepStrictEqual(
      family(page, "rpc").samples.map((sample) => sample.name),
      ["rpc_sum"]
    )
    assert.deepStrictEqual(values(family(page, "h")), [4, 1])
    assert.strictEqual(family(page, "foo").help, "Untyped.")
  })

  it("unescapes label values and HELP text", () => {
    const page = parsed(
      [
        "# HELP files Paths like C:\\\\DIR\\\\ and\\nnewlines.",
        'files{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9',
        'files{path="",error="plain"} 0'
      ].join("\n")
    )
    const files = family(page, "files")
    assert.strictEqual(files.help, "Paths like C:\\DIR\\ and\nnewlines.")
    assert.deepStrictEqual(files.samples[0]!.labels, {
      path: "C:\\DIR\\FILE.TXT",
      error: 'Cannot find file:\n"FILE.TXT"'
    })
    assert.strictEqual(files.samples[0]!.value, 1458255915)
    assert.deepStrictEqual(files.samples[1]!.labels, { path: "", error: "plain" })
  })

  it("accepts empty label sets, trailing commas and blanks around labels", () => {
    const page = parsed(
      ["a{} 1", 'b{x="1",} 2', 'c { x = "1" , y="2" , } 3', 'd{x="1"}4', "  e 5", "\tf\t6\t"].join("\n")
    )
    assert.deepStrictEqual(family(page, "a").samples[0]!.labels, {})
    assert.deepStrictEqual(family(page, "b").samples[0]!.labels, { x: "1" })
    assert.deepStrictEqual(family(page, "c").samples[0]!.labels, { x: "1", y: "2" })
    assert.deepStrictEqual(values(family(page, "d")), [4])
    assert.deepStrictEqual(values(family(page, "e")), [5])
    assert.deepStrictEqual(values(family(page, "f")), [6])
  })

  it("reads NaN, +Inf, -Inf, exponents, signs and timestamps", () => {
    const page = parsed(
      [
        'v{k="nan"} NaN',
        'v{k="inf"} +Inf',
        'v{k="-inf"} -Inf',
        'v{k="exp"} 1.5e3',
        'v{k="EXP"} -2.5E-3',
        'v{k="plus"} +7',
        'v{k="frac"} .25',
        'v{k="big"} 1e300',
        'v{k="long"} 3.14159265358979323846',
        'v{k="ts"} 1027 1395066363000',
        'v{k="neg-ts"} 4 -3982045'
      ].join("\n")
    )
    const samples = family(page, "v").samples
    assert.isTrue(Number.isNaN(samples[0]!.value))
    assert.deepStrictEqual(
      samples.slice(1).map((sample) => sample.value),
      [Infinity, -Infinity, 1500, -0.0025, 7, 0.25, 1e300, Math.PI, 1027, 4]
    )
    assert.strictEqual(samples[0]!.timestamp, undefined)
    assert.strictEqual(samples[9]!.timestamp, 1395066363000)
    assert.strictEqual(samples[10]!.timestamp, -3982045)
  })

  it("ignores blank lines and other comments, reads \\r\\n line ends, stops at # EOF", () => {
    const page = parsed(
      '\r\n# a comment\r\n#\r\n   \r\n# TYPE x counter\r\nx{a="1"} 1\r\n\r\n# EOF\r\nnot a valid line\r\n'
    )
    assert.deepStrictEqual([...page.families.keys()], ["x"])
    assert.deepStrictEqual(family(page, "x").samples, [
      { name: "x", labels: { a: "1" }, value: 1, timestamp: undefined }
    ])
  })

  it("reads a page without a final newline and an empty page", () => {
    assert.deepStrictEqual(values(family(parsed("a 1\nb 2"), "b")), [2])
    assert.strictEqual(parsed("").families.size, 0)
    assert.strictEqual(parsed("\n\n# only comments\n").families.size, 0)
  })

  it("reads metric names with colons and label values with any characters", () => {
    const page = parsed('vllm:num_requests_running{model_name="org/model:v1 {x}=,"} 3\n:odd:name: 1\n')
    assert.deepStrictEqual(family(page, "vllm:num_requests_running").samples[0]!.labels, {
      model_name: "org/model:v1 {x}=,"
    })
    assert.deepStrictEqual(values(family(page, ":odd:name:")), [1])
  })

  it("appends samples of a family that come back after another family", () => {
    const page = parsed('a{x="1"} 1\nb 2\na{x="2"} 3\n')
    assert.deepStrictEqual(values(family(page, "a")), [1, 3])
  })

  it("leaves out families that have HELP or TYPE but no samples", () => {
    const page = parsed("# HELP a help\n# TYPE a gauge\n# TYPE b counter\nc 1\n")
    assert.deepStrictEqual([...page.families.keys()], ["c"])
  })

  it("keeps label names that are names of object properties", () => {
    const page = parsed('a{constructor="1",__proto__="2",toString="3"} 1\n')
    const labels = family(page, "a").samples[0]!.labels
    assert.deepStrictEqual(Object.keys(labels), ["constructor", "__proto__", "toString"])
    // biome-ignore lint/suspicious/noProto: a label named __proto__ must be kept as data
    assert.strictEqual(labels["__proto__"], "2")
    assert.strictEqual(Object.getPrototypeOf(labels), Object.prototype)
  })
})

describe("PrometheusText.parse on malformed lines", () => {
  const cases: ReadonlyArray<readonly [string, string, string]> = [
    ["a metric name starting with a digit", "1abc 3", "invalid metric name"],
    ["a character not allowed in a metric name", "foo-bar 1", "invalid character in metric name"],
    ["a missing value", "foo", "missing sample value"],
    ["a missing value after labels", 'foo{a="b"}', "missing sample value"],
    ["a value that is not a number", "foo abc", 'invalid sample value "abc"'],
    ["a value with trailing junk", "foo 1.5x", 'invalid sample value "1.5x"'],
    ["a hexadecimal value", "foo 0x10", 'invalid sample value "0x10"'],
    ["an unterminated label set", 'foo{a="b" 1', 'expected "," or "}" after the value of label a'],
    ["a label set cut at the line end", 'foo{a="b",', "unterminated label set"],
    ["an unterminated label value", 'foo{a="b} 1', "unterminated label value"],
    ["a label without =", 'foo{a "b"} 1', 'expected "=" after label name a'],
    ["an unquoted label value", "foo{a=b} 1", "expected a quoted value for label a"],
    ["an invalid label name", 'foo{1a="b"} 1', "invalid label name"],
    ["a lone comma in a label set", "foo{,} 1", "invalid label name"],
    ["labels without a comma between them", 'foo{a="1" b="2"} 1', 'expected "," or "}" after the value of label a'],
    [
      "an invalid escape in a label value",
      'foo{a="\\x"} 1',
      'invalid escape sequence in label value (only \\\\, \\" and \\n are allowed)'
    ],
    ["a duplicate label", 'foo{a="1",a="2"} 1', "duplicate label a"],
    ["the reserved label __name__", 'foo{__name__="x"} 1', "label name __name__ is reserved"],
    ["a timestamp that is not an integer", "foo 1 1.5", 'invalid timestamp "1.5"'],
    ["text after the timestamp", "foo 1 2 3", "unexpected text after the timestamp"],
    ["an unknown metric type", "# TYPE foo blah", 'unknown metric type "blah"'],
    ["a TYPE line without a type", "# TYPE foo", "TYPE line without a valid metric name and type"],
    ["a TYPE line with trailing text", "# TYPE foo gauge extra", "unexpected text after the metric type"],
    ["a HELP line without a metric name", "# HELP", "HELP line without a valid metric name"],
    ["a HELP line with an invalid metric name", "# HELP 9x help", "HELP line without a valid metric name"],
    [
      "an invalid escape in HELP text",
      "# HELP foo bad \\t escape",
      "invalid escape sequence in HELP text (only \\\\ and \\n are allowed)"
    ],
    ["a second HELP line", "# HELP ok twice", "second HELP line for ok"],
    ["a second TYPE line", "# TYPE ok counter", "second TYPE line for ok"],
    ["a TYPE line after the family's samples", "# TYPE early gauge", "TYPE line for early after its samples"]
  ]
  const prefix = "# HELP ok fine\n# TYPE ok gauge\nok 1\nearly 2\n"
  for (const [what, line, reason] of cases) {
    it(`fails on ${what}, with the line number and reason`, () => {
      const error = failure(`${prefix}${line}\nok 3\n`)
      assert.strictEqual(error._tag, "ExpositionParseError")
      assert.strictEqual(error.line, 5)
      assert.strictEqual(error.reason, reason)
      assert.strictEqual(error.message, `line 5: ${reason}`)
      const crlf = failure(`${prefix}${line}\nok 3\n`.replaceAll("\n", "\r\n"))
      assert.strictEqual(crlf.line, 5)
      assert.strictEqual(crlf.reason, reason)
    })
  }

  it("fails on histogram and summary samples that lack their label", () => {
    const histogram = '# TYPE h histogram\nh_bucket{le="1"} 1\n'
    assert.strictEqual(
      failure(`${histogram}h_bucket{x="1"} 1\n`).reason,
      "histogram bucket h_bucket lacks the le label"
    )
    assert.strictEqual(failure(`${histogram}h_bucket{le="one"} 1\n`).reason, 'invalid le label value "one"')
    assert.strictEqual(
      failure(`${histogram}h 1\n`).reason,
      "sample h of histogram h lacks a _bucket, _sum or _count suffix"
    )
    assert.strictEqual(failure(`${histogram}h_bucket{le="2"} 2\nh 1\n`).line, 4)
    const summary = '# TYPE s summary\ns{quantile="0.5"} 1\n'
    assert.strictEqual(failure(`${summary}s 1\n`).reason, "summary sample s lacks the quantile label")
    assert.strictEqual(failure(`${summary}s{quantile="half"} 1\n`).reason, 'invalid quantile label value "half"')
  })

  it("fails on a TYPE line that comes after samples of its suffixed names", () => {
    const error = failure('h_bucket{le="1"} 1\n# TYPE h histogram\n')
    assert.strictEqual(error.line, 2)
    assert.strictEqual(error.reason, "TYPE line for h after samples of h_bucket")
  })

  it("fails on a page cut inside a label name that the line before had", () => {
    // The page is all ASCII, or not: names are compared as bytes, or as characters.
    for (const tail of ["", "é"]) {
      const page = `a{model_name="x${tail}"} 1\na{model_na`
      const error = failure(page)
      assert.strictEqual(error.line, 2)
      assert.strictEqual(error.reason, 'expected "=" after label name model_na')
      const cutName = failure(`vllm:requests_total{a="x${tail}"} 1\nvllm:requests_to`)
      assert.strictEqual(cutName.reason, "missing sample value")
    }
  })

  it("fails on a label value broken by a raw newline", () => {
    const error = failure('ok 1\nfoo{a="one\ntwo"} 1\n')
    assert.strictEqual(error.line, 2)
    assert.strictEqual(error.reason, "unterminated label value")
  })

  it("skips and counts malformed lines with malformed: skip, keeping the rest", () => {
    const page = parsed(
      [
        "# TYPE a gauge",
        'a{x="1"} 1',
        'a{x="2" 2',
        "garbage line here",
        "# TYPE a counter",
        'a{x="3"} 3',
        "b NaN extra",
        "b 4"
      ].join("\n"),
      { malformed: "skip" }
    )
    assert.strictEqual(page.skippedLines, 4)
    const a = family(page, "a")
    assert.strictEqual(a.type, "gauge")
    assert.deepStrictEqual(values(a), [1, 3])
    assert.deepStrictEqual(values(family(page, "b")), [4])
  })
})

describe("PrometheusText.parse with a families filter", () => {
  const page = [
    "# HELP process_cpu_seconds_total CPU.",
    "# TYPE process_cpu_seconds_total counter",
    "process_cpu_seconds_total 12.5",
    "# TYPE vllm:num_requests_running gauge",
    'vllm:num_requests_running{model_name="m1"} 3',
    "# TYPE vllm:time_to_first_token_seconds histogram",
    'vllm:time_to_first_token_seconds_bucket{le="0.1",model_name="m1"} 1',
    'vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="m1"} 2',
    'vllm:time_to_first_token_seconds_sum{model_name="m1"} 0.3',
    'vllm:time_to_first_token_seconds_count{model_name="m1"} 2',
    'python_info{implementation="CPython"} 1'
  ].join("\n")

  it("returns only the families asked for, histograms by their family name", () => {
    const filtered = parsed(page, {
      families: new Set(["vllm:num_requests_running", "vllm:time_to_first_token_seconds", "absent"])
    })
    assert.deepStrictEqual(
      [...filtered.families.keys()],
      ["vllm:num_requests_running", "vllm:time_to_first_token_seconds"]
    )
    const full = parsed(page)
    assert.deepStrictEqual(
      filtered.families.get("vllm:time_to_first_token_seconds"),
      full.families.get("vllm:time_to_first_token_seconds")
    )
    assert.strictEqual(full.families.size, 4)
  })

  it("does not check the lines of families it skips", () => {
    const broken = `${page}\npython_info{implementation="CPython 1\nprocess_cpu_seconds_total one\n`
    assert.strictEqual(failure(broken).line, 12)
    const filtered = parsed(broken, { families: new Set(["vllm:num_requests_running"]) })
    assert.deepStrictEqual(values(family(filtered, "vllm:num_requests_running")), [3])
  })

  it("does not check the HELP and TYPE lines of families it skips", () => {
    const broken = [
      "# TYPE python_info bogus",
      "# TYPE process_cpu_seconds_total counter",
      "# TYPE process_cpu_seconds_total gauge",
      "# HELP process_cpu_seconds_total one",
      "# HELP process_cpu_seconds_total two \\q",
      "# TYPE process_max_fds gauge extra",
      page
    ].join("\n")
    assert.match(failure(broken).reason, /unknown metric type "bogus"/)
    const filtered = parsed(broken, { families: new Set(["vllm:num_requests_running"]) })
    assert.deepStrictEqual(values(family(filtered, "vllm:num_requests_running")), [3])
  })

  it("skips the suffixed samples of a histogram it does not keep, even with a family of that name kept", () => {
    const text = '# TYPE h histogram\nh_bucket{le="1"} 1\nh_count 1\n'
    const filtered = parsed(text, { families: new Set(["h_bucket", "h_count"]) })
    assert.strictEqual(filtered.families.size, 0)
  })

  it("still checks the lines of the families it keeps", () => {
    const error = failure(`${page}\nvllm:num_requests_running{model_name="m2"} many\n`, {
      families: new Set(["vllm:num_requests_running"])
    })
    assert.strictEqual(error.line, 12)
  })
})

describe("PrometheusText values", () => {
  it("parseSampleValue reads what formatSampleValue writes", () => {
    for (const value of [
      0,
      -0,
      1,
      -1,
      0.1,
      1e21,
      1e-7,
      5e-324,
      Number.MAX_VALUE,
      123456789012345680,
      Infinity,
      -Infinity
    ]) {
      assert.isTrue(Object.is(parseSampleValue(formatSampleValue(value)), value), `value ${value}`)
    }
    assert.isTrue(Number.isNaN(parseSampleValue(formatSampleValue(NaN))))
    assert.strictEqual(parseSampleValue(""), undefined)
    assert.strictEqual(parseSampleValue("1e"), undefined)
    assert.strictEqual(parseSampleValue("Infinity"), Infinity)
  })

  it("histogramSeries groups by the labels but le, whatever their order and wherever the samples are", () => {
    const sample = (name: string, labels: Record<string, string>, value: number) => ({
      name,
      labels,
      value,
      timestamp: undefined
    })
    const series = histogramSeries({
      name: "h",
      type: "histogram",
      help: undefined,
      samples: [
        sample("h_bucket", { a: "1", b: "2", le: "1" }, 1),
        sample("h_bucket", { le: "0.5", b: "3", a: "1" }, 4),
        sample("h_bucket", { le: "0.5", b: "2", a: "1" }, 0),
        sample("h_bucket", { b: "2", le: "+Inf", a: "1" }, 2),
        sample("h_bucket", { b: "2", le: "bad", a: "1" }, 9),
        sample("h_count", { b: "3", a: "1" }, 5),
        sample("h_sum", { a: "1", b: "2" }, 1.5),
        sample("h_created", { a: "1", b: "2" }, 1)
      ]
    })
    assert.strictEqual(series.length, 2)
    assert.deepStrictEqual(series[0]!.labels, { a: "1", b: "2" })
    assert.deepStrictEqual(
      [...series[0]!.buckets],
      [
        [0.5, 0],
        [1, 1],
        [Infinity, 2]
      ]
    )
    assert.strictEqual(series[0]!.sum, 1.5)
    assert.strictEqual(series[0]!.count, 2)
    assert.deepStrictEqual(series[1]!.labels, { b: "3", a: "1" })
    assert.deepStrictEqual([...series[1]!.buckets], [[0.5, 4]])
    assert.isTrue(Number.isNaN(series[1]!.sum))
    assert.strictEqual(series[1]!.count, 5)
  })

  it("render writes families that parse back", () => {
    const families: ReadonlyArray<MetricFamily> = [
      {
        name: "h",
        type: "histogram",
        help: "a \\ help\nline",
        samples: [
          { name: "h_bucket", labels: { le: "+Inf", q: 'a"b\\c\nd' }, value: 2, timestamp: undefined },
          { name: "h_sum", labels: { q: 'a"b\\c\nd' }, value: NaN, timestamp: 17 },
          { name: "h_count", labels: { q: 'a"b\\c\nd' }, value: 2, timestamp: undefined }
        ]
      },
      {
        name: "u",
        type: "untyped",
        help: undefined,
        samples: [{ name: "u", labels: {}, value: -Infinity, timestamp: undefined }]
      }
    ]
    const page = parsed(render(families))
    assert.deepStrictEqual([...page.families.values()], families)
  })
})
