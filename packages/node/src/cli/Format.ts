/**
 * Pure text formatting shared by the commands: aligned tables, key/value
 * blocks, durations, sizes, and JSON.
 */
import { TextTable } from "@curator/core"

/** An aligned table with a header and a rule; `right` lists the columns aligned to the right (core's one renderer). */
export const table = TextTable.render

/** `key  value` lines with the keys aligned. */
export const keyValues = (entries: ReadonlyArray<readonly [string, string]>): string => {
  const width = entries.reduce((max, [key]) => Math.max(max, key.length), 0)
  return entries.map(([key, value]) => `${key.padEnd(width)}  ${value}`).join("\n")
}

/** A duration in seconds, short: `850 ms`, `12.3 s`, `4m05s`, `2h03m`. */
export const duration = (seconds: number): string => {
  if (!Number.isFinite(seconds) || seconds < 0) return "-"
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`
  if (seconds < 60) return `${seconds.toFixed(1)} s`
  const total = Math.round(seconds)
  if (total < 3600) return `${Math.floor(total / 60)}m${String(total % 60).padStart(2, "0")}s`
  return `${Math.floor(total / 3600)}h${String(Math.floor((total % 3600) / 60)).padStart(2, "0")}m`
}

/** A size in bytes, in binary units: `812 B`, `4.0 KiB`, `1.2 MiB`. */
export const bytes = (size: number): string => {
  if (size < 1024) return `${size} B`
  const units = ["KiB", "MiB", "GiB", "TiB"]
  let value = size / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(1)} ${units[unit]}`
}

/** A JSON document for stdout: indented, one trailing newline added by the caller's `Console.log`. */
export const json = (value: unknown): string => JSON.stringify(value, null, 2)

/** The first 8 characters of an id (worker ids, invocation ids), as shown in listings. */
export const shortId = (id: string | null | undefined): string => (id === null || id === undefined ? "" : id.slice(0, 8))

/** An ISO timestamp shortened for a listing: `2026-11-28 16:41:38`. */
export const timestamp = (iso: string | null | undefined): string =>
  iso === null || iso === undefined ? "" : iso.slice(0, 19).replace("T", " ")
