/** The npm package the exposition benchmark compares against; it ships no types. */
declare module "parse-prometheus-text-format" {
  const parsePrometheusTextFormat: (text: string) => ReadonlyArray<unknown>
  export default parsePrometheusTextFormat
}
