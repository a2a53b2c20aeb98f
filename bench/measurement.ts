/** What each workload prints: one JSON line, with its baseline and ratio among the extra fields. */
export interface Measurement {
  readonly workload: string
  readonly n: number
  readonly backend: string
  readonly seconds: number
  readonly indices_per_s: number
  readonly [extra: string]: string | number
}
